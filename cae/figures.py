"""Pictures of a trained CAE: reconstruction grids and error curves, written as PNG files."""

from __future__ import annotations

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

from cae.training import reconstruct


def save_reconstructions(model: nn.Module, images: torch.Tensor, path: Path, *, scale: int = 4) -> Path:
    """Save a grid of uint8 ``images`` (top row) over the model's reconstructions (bottom row).

    Pixels are enlarged ``scale``× with nearest-neighbour so that 32×32 images stay readable.
    """
    inputs = images.float() / 255
    outputs = reconstruct(model, images).cpu().float()
    both = torch.cat([inputs, outputs.contiguous()])
    if scale > 1:
        both = F.interpolate(both, scale_factor=scale, mode="nearest")
    save_image(make_grid(both, nrow=len(images), padding=2, pad_value=1.0), path)
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
