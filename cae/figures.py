"""Pictures of a trained CAE: reconstruction grids and error curves, written as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on the machines that train

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import make_grid, save_image

from cae.color import gray_as_rgb
from cae.tasks import task_of
from cae.training import reconstruct


def reconstruction_rows(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """uint8 ``images`` over the model's RGB images of them (floats in [0, 1]), with the gray input
    in between for a model that reads one gray channel (a colorizer)."""
    inputs = images.float() / 255
    outputs = reconstruct(model, images).cpu().float().contiguous()
    return (inputs, outputs) if task_of(model).in_channels == 3 else (inputs, gray_as_rgb(inputs), outputs)


def save_reconstructions(model: nn.Module, images: torch.Tensor, path: Path, *, scale: int = 4) -> Path:
    """Save a grid of uint8 ``images`` (top row) over the model's reconstructions (bottom row).

    A colorizer's grid has its gray input in between. Pixels are enlarged ``scale``× with
    nearest-neighbour so that 32×32 images stay readable.
    """
    return save_grid(reconstruction_rows(model, images), path, scale=scale)


def save_grid(rows: Sequence[torch.Tensor], path: Path, *, scale: int = 4) -> Path:
    """Rows of float images in [0, 1] (N×3×H×W each, N the same) as one picture, enlarged ``scale``× with nearest-neighbour."""
    grid = torch.cat(list(rows))
    if scale > 1:
        grid = F.interpolate(grid, scale_factor=scale, mode="nearest")
    save_image(make_grid(grid, nrow=len(rows[0]), padding=2, pad_value=1.0), path)
    return path


def save_image_rows(rows: dict[str, torch.Tensor], path: Path, *, title: str = "") -> Path:
    """One labelled row of images per entry of ``rows`` (float images in [0, 1], same count each)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.0 * max(len(r) for r in rows.values()), 1.15 * len(rows) + 0.4), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items(), strict=True):
        grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=len(images), padding=2, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_curves(train_mse: list[float], val_mse: list[float], path: Path, *, title: str) -> Path:
    """Plot training and validation MSE against epochs (the assignment's "evolution of the error")."""
    epochs = range(1, len(train_mse) + 1)
    table = pd.concat(
        [
            pd.DataFrame({"epoch": epochs, "MSE": train_mse, "split": "train"}),
            pd.DataFrame({"epoch": epochs, "MSE": val_mse, "split": "validation"}),
        ]
    )
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(table, x="epoch", y="MSE", hue="split", marker="o", ax=ax)
    ax.set(title=title, xlabel="epoch", ylabel="MSE (pixels in [0, 1])")
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
