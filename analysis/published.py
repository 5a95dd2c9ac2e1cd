"""Published CIFAR-10 reconstruction errors to set a study's curve beside (errors on pixels in [0, 1])."""

from __future__ import annotations

import pandas as pd

from cae.metrics import psnr

# How the linear-bottleneck points were trained: what a study's own training is compared with
LINEAR_BOTTLENECK_EPOCHS = 500
LINEAR_BOTTLENECK_TRAIN_IMAGES = 50_000
LINEAR_BOTTLENECK = f"linear-bottleneck CAE, up to {LINEAR_BOTTLENECK_EPOCHS} epochs"

# (latent size, PSNR dB or None, MSE or None, source)
_POINTS = [
    (64, 21.5, None, LINEAR_BOTTLENECK),
    (128, 23.9, None, LINEAR_BOTTLENECK),
    (256, 26.8, None, LINEAR_BOTTLENECK),
    (384, 28.9, None, LINEAR_BOTTLENECK),
    (1024, None, 4.7e-3, "the assignment's reference CAE"),
]


def published_points() -> pd.DataFrame:
    """Columns ``latent_size``, ``psnr``, ``mse`` (each derived from the other where not given), ``source``."""
    table = pd.DataFrame(_POINTS, columns=["latent_size", "psnr", "mse", "source"])
    table["mse"] = table["mse"].fillna(10 ** (-table["psnr"] / 10))
    table["psnr"] = table["psnr"].fillna(psnr(table["mse"]))
    return table


def long_trained_psnr() -> dict[int, float]:
    """The published long-trained CAE's test PSNR by latent size: the points a front is judged against."""
    table = published_points()
    return table[table["source"] == LINEAR_BOTTLENECK].set_index("latent_size")["psnr"].to_dict()
