"""Published reconstruction errors to set a study's curve beside, keyed by dataset and pixels (errors on pixels in [0, 1]).

A published point compares with a study's trials only on the same images: the same dataset at the same
pixels. Each point records its ``dataset``; its ``pixels`` (``original``: the dataset's own, e.g.
CIFAR-10's 3 × 32 × 32, neither resized nor made gray); its ``split`` (``official``: the dataset's own
test split); and its ``psnr_convention`` (``mean-mse``: 10·log10(1 / MSE) of the MSE averaged over the
split, as :func:`cae.metrics.psnr` computes a study's). :func:`published_points` gives a study only its
dataset's points, and none where its pixels are not the original ones.

Today the points are CIFAR-10's: the UvA deep-learning tutorial's linear-bottleneck CAE and the
assignment's reference CAE. A study of another dataset draws none.
"""

from __future__ import annotations

import pandas as pd

from cae.metrics import psnr
from cae.settings import Shape

# How the linear-bottleneck points were trained: what a study's own training is compared with
LINEAR_BOTTLENECK_EPOCHS = 500
LINEAR_BOTTLENECK_TRAIN_IMAGES = 50_000
LINEAR_BOTTLENECK = f"linear-bottleneck CAE, up to {LINEAR_BOTTLENECK_EPOCHS} epochs"

# The shape of each dataset's original pixels, for the datasets that have published points
ORIGINAL_SHAPES: dict[str, Shape] = {"cifar10": (3, 32, 32)}

COLUMNS = ["dataset", "pixels", "split", "psnr_convention", "latent_size", "psnr", "mse", "source"]
# (dataset, latent size, PSNR dB or None, MSE or None, source); every one on original pixels, the official
# test split, PSNR of the mean MSE
_POINTS = [
    ("cifar10", 64, 21.5, None, LINEAR_BOTTLENECK),
    ("cifar10", 128, 23.9, None, LINEAR_BOTTLENECK),
    ("cifar10", 256, 26.8, None, LINEAR_BOTTLENECK),
    ("cifar10", 384, 28.9, None, LINEAR_BOTTLENECK),
    ("cifar10", 1024, None, 4.7e-3, "the assignment's reference CAE"),
]


def pixels(dataset: str, shape: Shape) -> str:
    """``original`` where ``shape`` is ``dataset``'s own pixels (as published points record them), else the shape.

    >>> pixels("cifar10", (3, 32, 32)), pixels("cifar10", (1, 32, 32)), pixels("mnist", (1, 28, 28))
    ('original', '1 × 32 × 32', '1 × 28 × 28')
    """
    return "original" if ORIGINAL_SHAPES.get(dataset) == tuple(shape) else " × ".join(map(str, shape))


def published_points(dataset: str = "cifar10", *, shape: Shape | None = None) -> pd.DataFrame:
    """The points published on ``dataset`` (with ``shape``: only where that is their pixels' shape), in :data:`COLUMNS`.

    ``psnr`` and ``mse`` are each derived from the other where a source gave one. A dataset without
    published points, or a study at other pixels (CIFAR-10 made gray or resized), gets an empty table::

        published_points("cifar10")                       # five points
        published_points("mnist").empty                   # True
        published_points("cifar10", shape=(1, 32, 32)).empty  # True: gray CIFAR-10 is not what was published
    """
    rows = [
        (name, "original", "official", "mean-mse", latent, decibels, mse, source)
        for name, latent, decibels, mse, source in _POINTS
        if name == dataset and (shape is None or pixels(name, shape) == "original")
    ]
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"latent_size": int, "psnr": float, "mse": float})
    table["mse"] = table["mse"].fillna(10 ** (-table["psnr"] / 10))
    table["psnr"] = table["psnr"].fillna(psnr(table["mse"]))
    return table


def long_trained_psnr(dataset: str = "cifar10", *, shape: Shape | None = None) -> dict[int, float]:
    """The published long-trained CAE's test PSNR by latent size on ``dataset``: the points a front is judged against
    (empty for a dataset, or pixels, without them)."""
    table = published_points(dataset, shape=shape)
    return table[table["source"] == LINEAR_BOTTLENECK].set_index("latent_size")["psnr"].to_dict()
