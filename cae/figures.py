"""Pictures of a trained CAE: reconstruction grids and error curves.

Two kinds, for two readers. Pixel grids (:func:`save_grid`, and :func:`save_reconstructions` without a
title) are written by torchvision as the images' own pixels enlarged, for files that are looked at
closely. Labelled figures (:func:`reconstruction_figure`, :func:`image_rows_figure`, :func:`curves_figure`)
are :class:`matplotlib.figure.Figure` objects that a notebook shows inline and a command saves
(``fig.savefig(path)``): a title that names the study, trial and split, a label beside each row of images
("input" and "output"; a colorizer's "gray", "predicted" and "truth") and each reconstruction's error
under it, so that the file says what it shows without its report. Images of one channel (gray) or three
(RGB), of any square size, are drawn alike: a gray one as gray RGB, each enlarged by :func:`grid_scale`
with nearest-neighbour. The figures are made by :func:`new_figure`, whose figures Jupyter shows without
``%matplotlib inline``.

Nothing here touches matplotlib's global state: no backend is chosen (a notebook keeps its inline
one, a training machine without a display saves through Agg without being told), the figures are
made without pyplot (none stays open in its registry) and seaborn's look is applied inside
:func:`themed` only, where ``sns.set_theme`` would change every later figure of the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from cae.metrics import psnr
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
    return (inputs, outputs) if task_of(model).reconstructs else (inputs, gray_as_rgb(inputs), outputs)


def grid_scale(size: int) -> int:
    """How many times a pixel grid enlarges images of ``size``×``size``: to about :data:`GRID_PIXELS`, never shrunk.

    >>> [grid_scale(size) for size in (8, 28, 32, 64, 96)]
    [16, 4, 4, 2, 1]
    """
    return max(1, GRID_PIXELS // size)


def save_reconstructions(model: nn.Module, images: torch.Tensor, path: Path, *, scale: int | None = None, title: str | None = None) -> Path:
    """Save uint8 ``images`` (top row) over the model's reconstructions (bottom row); a colorizer's gray input in between.

    Without ``title``, the pixel grid alone (:func:`save_grid`: the images' own pixels, enlarged ``scale``×
    with nearest-neighbour, by default :func:`grid_scale`). With one (the study, trial and split it shows,
    say), the labelled figure of :func:`reconstruction_figure`: that title, the rows' names and each
    reconstruction's MSE and PSNR under it.
    """
    rows = reconstruction_rows(model, images)
    if title is None:
        return save_grid(rows, path, scale=scale)
    reconstruction_figure(rows, title=title, scale=scale).savefig(path, dpi=DPI)
    return path


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


def image_errors(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The MSE of each image of ``predicted`` against ``truth`` (float N×C×H×W in [0, 1], C 1 or 3 each): N float64 values.

    A gray image beside an RGB one is compared as gray RGB (its value in every channel).

    >>> image_errors(torch.full((2, 1, 4, 4), 0.5), torch.zeros(2, 3, 4, 4)).tolist()
    [0.25, 0.25]
    """
    predicted, truth = _as_rgb([predicted.detach().cpu().double(), truth.detach().cpu().double()])
    return (predicted - truth).square().flatten(1).mean(1)


def error_note(mse: float) -> str:
    """An image's error as written under it: its MSE and PSNR.

    >>> error_note(0.01), error_note(2e-6)
    ('MSE 0.0100\\n20.0 dB', 'MSE 2.0e-06\\n57.0 dB')
    """
    written = f"{mse:.4f}" if mse >= 1e-4 else f"{mse:.1e}"  # four decimals would make a near-exact image's error 0
    return f"MSE {written}\n{psnr(mse):.1f} dB"


RECONSTRUCTION_LABELS = ("input", "output")  # the rows of a reconstruction's figure
COLORIZER_LABELS = ("gray", "predicted", "truth")  # and of a colorizer's: its input, its colours, the photograph


def labelled_rows(rows: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The rows of :func:`reconstruction_rows` by name, in the order they are drawn: ``input``, ``output``; for a
    colorizer ``gray`` (what it sees), ``predicted`` and ``truth``."""
    if len(rows) == 2:
        return dict(zip(RECONSTRUCTION_LABELS, rows, strict=True))
    if len(rows) == 3:
        truth, gray, predicted = rows
        return dict(zip(COLORIZER_LABELS, (gray, predicted, truth), strict=True))
    raise ValueError(f"rows: expected the 2 or 3 rows of reconstruction_rows, got {len(rows)}")


def reconstruction_figure(rows: Sequence[torch.Tensor], *, title: str = "", scale: int | None = None) -> Figure:
    """The rows of :func:`reconstruction_rows`, labelled, with each model image's MSE and PSNR against its true image under it.

    ``title`` names what is shown (study, trial, split); a line under it says what the numbers are.
    """
    named = labelled_rows(rows)
    made = "output" if "output" in named else "predicted"
    against = "its input" if made == "output" else "the truth"
    notes = {made: [error_note(e) for e in image_errors(rows[-1], rows[0]).tolist()]}
    said = f"under each {made} image: its MSE against {against} (pixels in [0, 1]) and PSNR"
    return image_rows_figure(named, title=f"{title}\n{said}" if title else said, notes=notes, scale=scale)


# The labelled figures' layout, in inches and points: set out from the text they hold, so that nothing is clipped
# and each image keeps about the size of the pixel grid (grid_scale), whatever its number and size.
LABEL_POINTS = 10
NOTE_POINTS = 7.5
TITLE_POINTS = 10.5
CHAR_WIDTH = 0.58  # an average character's width, in ems of its font: enough for DejaVu Sans, the default
LINE_HEIGHT = 1.3  # a line of text, in ems


def _text_inches(lines: Sequence[str], points: float) -> tuple[float, float]:
    """About how wide and tall ``lines`` of text are at ``points``, in inches."""
    return max((len(line) for line in lines), default=0) * CHAR_WIDTH * points / 72, len(lines) * LINE_HEIGHT * points / 72


def image_rows_figure(
    rows: Mapping[str, torch.Tensor],
    *,
    title: str = "",
    notes: Mapping[str, Sequence[str]] | None = None,
    scale: int | None = None,
) -> Figure:
    """One labelled row of images per entry of ``rows`` (float images in [0, 1], N×C×H×W with C 1 or 3, the same N each).

    ``notes`` holds, for the rows it names, one short text per image, written under it (its error, say). Each image
    is drawn about ``scale``× its pixels (by default :func:`grid_scale`), nearest-neighbour, so that small images
    (8×8 digits) show their pixels rather than a blur.
    """
    notes = notes or {}
    if unknown := set(notes) - set(rows):
        raise ValueError(f"notes: no row named {', '.join(sorted(unknown))}; the rows are {', '.join(rows)}")
    first = next(iter(rows.values()))
    height, width = first.shape[-2:]
    scale = grid_scale(max(height, width)) if scale is None else scale
    inch = scale / DPI  # one image pixel
    label_width = _text_inches([line for label in rows for line in label.splitlines()], LABEL_POINTS)[0] + 0.25
    title_width, title_height = _text_inches(title.splitlines(), TITLE_POINTS) if title else (0.0, 0.0)
    strips = {
        label: make_grid(images.detach().cpu().float().clamp(0, 1), nrow=len(images), padding=2, pad_value=1.0)
        for label, images in rows.items()
    }
    strip_width = max(strip.shape[-1] for strip in strips.values()) * inch
    below = {label: _text_inches(max((n.splitlines() for n in notes[label]), key=len), NOTE_POINTS)[1] + 0.08 for label in notes}
    gap, margin = 0.06, 0.12
    heights = [strip.shape[-2] * inch + below.get(label, 0.0) + gap for label, strip in strips.items()]
    fig_width = max(label_width + strip_width + margin, title_width + 2 * margin)
    fig_height = (title_height + 2 * margin if title else margin) + sum(heights) + margin
    fig = new_figure(figsize=(fig_width, fig_height))
    top = fig_height - (title_height + 2 * margin if title else margin)
    for (label, strip), row_height in zip(strips.items(), heights, strict=True):
        strip_height = strip.shape[-2] * inch
        box = (label_width, top - strip_height, strip.shape[-1] * inch, strip_height)
        ax = fig.add_axes((box[0] / fig_width, box[1] / fig_height, box[2] / fig_width, box[3] / fig_height))
        ax.imshow(strip.permute(1, 2, 0).numpy(), interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=LABEL_POINTS, labelpad=6)
        for i, note in enumerate(notes.get(label, ())):
            # under the i-th image: make_grid puts it at 2 + i·(width + 2) pixels, a pixel's centre on each integer
            centre = 2 + i * (width + 2) + (width - 1) / 2
            ax.text(centre, -0.04, note, transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=NOTE_POINTS, color="0.2")
        top -= row_height
    if title:
        fig.suptitle(title, x=0.5, y=1 - margin / fig_height, va="top", fontsize=TITLE_POINTS)
    return fig


def save_image_rows(
    rows: Mapping[str, torch.Tensor], path: Path, *, title: str = "", notes: Mapping[str, Sequence[str]] | None = None
) -> Path:
    """:func:`image_rows_figure`, saved as ``path``."""
    image_rows_figure(rows, title=title, notes=notes).savefig(path, dpi=DPI)
    return path


def curves_figure(train_mse: Sequence[float], val_mse: Sequence[float], *, title: str) -> Figure:
    """Training and validation MSE against epochs (the assignment's "evolution of the error")."""
    epochs = range(1, len(train_mse) + 1)
    table = pd.concat(
        [
            # the train error is the running mean over the epoch's batches, the weights still moving; validation's is measured after it
            pd.DataFrame({"epoch": epochs, "MSE": list(train_mse), "split": "train (mean over the epoch)"}),
            pd.DataFrame({"epoch": epochs, "MSE": list(val_mse), "split": "validation (after the epoch)"}),
        ]
    )
    with themed("whitegrid"):
        fig = new_figure(figsize=(6, 4))
        ax = fig.subplots()
        sns.lineplot(table, x="epoch", y="MSE", hue="split", marker="o", ax=ax)
        ax.set(title=title, xlabel="epoch", ylabel="MSE (pixels in [0, 1])")
        ax.xaxis.get_major_locator().set_params(integer=True)
        sns.move_legend(ax, "best", fontsize=9, title_fontsize=9)  # wherever it covers least of the curves
        fig.tight_layout()
    return fig


def save_curves(train_mse: Sequence[float], val_mse: Sequence[float], path: Path, *, title: str) -> Path:
    """:func:`curves_figure`, saved as ``path``."""
    curves_figure(train_mse, val_mse, title=title).savefig(path, dpi=DPI)
    return path
