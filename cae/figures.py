"""Pictures of a trained CAE: reconstruction grids and error curves.

Two kinds, for two readers. Pixel grids (:func:`save_grid`, :func:`save_reconstructions`) are written
by torchvision as the images' own pixels enlarged, for files that are looked at closely. Images of
one channel (gray) or three (RGB), of any square size, are drawn alike: a gray one as gray RGB. Labelled
figures (:func:`curves_figure`, :func:`image_rows_figure`) are :class:`matplotlib.figure.Figure`
objects that a notebook shows inline and a command saves (``fig.savefig(path)``); the ``save_*``
functions are those two steps. They are made by :func:`new_figure`, whose figures Jupyter shows
without ``%matplotlib inline``.

Nothing here touches matplotlib's global state: no backend is chosen (a notebook keeps its inline
one, a training machine without a display saves through Agg without being told), the figures are
made without pyplot (none stays open in its registry) and seaborn's look is applied inside
:func:`themed` only, where ``sns.set_theme`` would change every later figure of the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from io import BytesIO
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from cycler import cycler
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import make_grid, save_image

from cae.color import gray_as_rgb
from cae.tasks import task_of
from cae.training import reconstruct

DPI = 120
GRID_PIXELS = 128  # pixel grids enlarge each image to about this size: 8×8 digits 16×, 32×32 CIFAR-10 4×, 96×96 not at all


class ShownFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that a Jupyter notebook shows inline by itself, as PNG.

    Jupyter draws matplotlib's figures once its inline backend is active, which happens when pyplot
    makes a figure or ``%matplotlib inline`` runs; these figures are made without pyplot, so they
    say how they are drawn instead. Where the inline backend is active it draws them as any figure.
    """

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, "Figure", 1)  # to its reader, a Figure like any other

    def _repr_png_(self) -> bytes:
        buffer = BytesIO()
        self.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        return buffer.getvalue()


def new_figure(*, figsize: tuple[float, float]) -> Figure:
    """A figure outside pyplot's registry (nothing to close; no backend chosen), shown inline by Jupyter."""
    return ShownFigure(figsize=figsize)


def themed(style: str = "whitegrid") -> AbstractContextManager[None]:
    """Seaborn's theme (what ``sns.set_theme(style=style)`` sets) for the figures drawn inside the ``with`` block only.

    >>> with themed("whitegrid"):
    ...     fig = new_figure(figsize=(4, 3))
    ...     ax = fig.subplots()
    """
    rc = {**sns.plotting_context("notebook"), **sns.axes_style(style), "axes.prop_cycle": cycler(color=sns.color_palette("deep"))}
    return matplotlib.rc_context(rc)


def reconstruction_rows(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """uint8 ``images`` over the model's images of them (floats in [0, 1], the images' channels), with the
    gray input in between for a model that colours a gray channel (a colorizer)."""
    inputs = images.float() / 255
    outputs = reconstruct(model, images).cpu().float().contiguous()
    # decided by the task, not by channels: a gray reconstruction reads one channel too, and has no gray row to add
    return (inputs, outputs) if task_of(model).name == "reconstruction" else (inputs, gray_as_rgb(inputs), outputs)


def grid_scale(size: int) -> int:
    """How many times a pixel grid enlarges images of ``size``×``size``: to about :data:`GRID_PIXELS`, never shrunk.

    >>> [grid_scale(size) for size in (8, 28, 32, 64, 96)]
    [16, 4, 4, 2, 1]
    """
    return max(1, GRID_PIXELS // size)


def save_reconstructions(model: nn.Module, images: torch.Tensor, path: Path, *, scale: int | None = None) -> Path:
    """Save a grid of uint8 ``images`` (top row) over the model's reconstructions (bottom row).

    A colorizer's grid has its gray input in between. Pixels are enlarged ``scale``× with
    nearest-neighbour (by default :func:`grid_scale`) so that small images stay readable.
    """
    return save_grid(reconstruction_rows(model, images), path, scale=scale)


def _as_rgb(rows: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The rows with gray ones as gray RGB when some row is RGB (as they are, when all have the same channels)."""
    if len({row.shape[1] for row in rows}) == 1:
        return list(rows)
    return [row.expand(-1, 3, -1, -1) if row.shape[1] == 1 else row for row in rows]


def save_grid(rows: Sequence[torch.Tensor], path: Path, *, scale: int | None = None) -> Path:
    """Rows of float images in [0, 1] (N×C×H×W each, C 1 or 3, N the same) as one picture, enlarged ``scale``×
    with nearest-neighbour (by default :func:`grid_scale` of their size); gray rows are drawn as gray RGB."""
    grid = torch.cat(_as_rgb(rows))
    scale = grid_scale(grid.shape[-1]) if scale is None else scale
    if scale > 1:
        grid = F.interpolate(grid, scale_factor=scale, mode="nearest")
    save_image(make_grid(grid, nrow=len(rows[0]), padding=2, pad_value=1.0), path)  # one channel is repeated into three
    return path


def image_rows_figure(rows: dict[str, torch.Tensor], *, title: str = "") -> Figure:
    """One labelled row of images per entry of ``rows`` (float images in [0, 1], N×C×H×W with C 1 or 3, the same N each).

    Drawn nearest-neighbour, so that small images (8×8 digits) show their pixels rather than a blur.
    """
    fig = new_figure(figsize=(1.0 * max(len(r) for r in rows.values()), 1.15 * len(rows) + 0.4))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items(), strict=True):
        grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=len(images), padding=2, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_image_rows(rows: dict[str, torch.Tensor], path: Path, *, title: str = "") -> Path:
    """:func:`image_rows_figure`, saved as ``path``."""
    image_rows_figure(rows, title=title).savefig(path, dpi=DPI)
    return path


def curves_figure(train_mse: Sequence[float], val_mse: Sequence[float], *, title: str) -> Figure:
    """Training and validation MSE against epochs (the assignment's "evolution of the error")."""
    epochs = range(1, len(train_mse) + 1)
    table = pd.concat(
        [
            pd.DataFrame({"epoch": epochs, "MSE": list(train_mse), "split": "train"}),
            pd.DataFrame({"epoch": epochs, "MSE": list(val_mse), "split": "validation"}),
        ]
    )
    with themed("whitegrid"):
        fig = new_figure(figsize=(6, 4))
        ax = fig.subplots()
        sns.lineplot(table, x="epoch", y="MSE", hue="split", marker="o", ax=ax)
        ax.set(title=title, xlabel="epoch", ylabel="MSE (pixels in [0, 1])")
        ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
    return fig


def save_curves(train_mse: Sequence[float], val_mse: Sequence[float], path: Path, *, title: str) -> Path:
    """:func:`curves_figure`, saved as ``path``."""
    curves_figure(train_mse, val_mse, title=title).savefig(path, dpi=DPI)
    return path
