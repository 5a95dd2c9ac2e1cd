"""Published reconstruction errors to set a study's curve beside, keyed by dataset and pixels (errors on pixels in [0, 1]).

A published point compares with a study's trials only when both were measured the same way: the same
dataset at the same pixels, on the same split, in the same PSNR convention. Each point records its
``dataset``; its ``pixels`` (``original``: the dataset's own, e.g. CIFAR-10's 3 × 32 × 32, neither
resized, made gray nor JPEG-compressed); its ``split`` (``official``: the dataset's own test split); and
its ``psnr_convention`` (``mean-mse``: 10·log10(1 / MSE) of the MSE averaged over the split, as
:func:`cae.metrics.psnr` computes a study's; ``mean-psnr``: the mean of per-image PSNRs, 0.6–1.1 dB
higher on the same reconstructions). :func:`published_points` gives a study only its dataset's points
at its shape; :func:`comparable` only those measured as the study was (a study's own measurement:
:func:`measured`; :func:`points_beside`: those measured as any figure was, a per-image mean say), and where it
leaves some out, the words that say how each side was measured.

Today the points are CIFAR-10's: the UvA deep-learning tutorial's linear-bottleneck CAE and the
assignment's reference CAE (PSNR of the mean MSE), and COIN++ (published as means of per-image PSNRs, so set
beside no study's curve: a study records the PSNR of its mean MSE). A study of another dataset draws none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cae.metrics import psnr
from cae.settings import DataDescription, Shape

# How the linear-bottleneck points were trained: what a study's own training is compared with
LINEAR_BOTTLENECK_EPOCHS = 500
LINEAR_BOTTLENECK_TRAIN_IMAGES = 50_000
LINEAR_BOTTLENECK = f"linear-bottleneck CAE, up to {LINEAR_BOTTLENECK_EPOCHS} epochs"

# The shape of each dataset's original pixels, for the datasets that have published points
ORIGINAL_SHAPES: dict[str, Shape] = {"cifar10": (3, 32, 32)}

# Dupont et al. 2022, "COIN++: Neural compression across modalities": CIFAR-10's official test set at its own pixels
COIN_PLUS_PLUS = "COIN++, meta-learned implicit codes fitted per image"

COLUMNS = ["dataset", "pixels", "split", "psnr_convention", "latent_size", "psnr", "mse", "source"]
# (dataset, PSNR convention, latent size, PSNR dB or None, MSE or None, source); every one on original pixels and the
# official test split. A mean of per-image PSNRs is the PSNR of no MSE: such a point gives its PSNR alone.
_POINTS = [
    ("cifar10", "mean-mse", 64, 21.5, None, LINEAR_BOTTLENECK),
    ("cifar10", "mean-mse", 128, 23.9, None, LINEAR_BOTTLENECK),
    ("cifar10", "mean-mse", 256, 26.8, None, LINEAR_BOTTLENECK),
    ("cifar10", "mean-mse", 384, 28.9, None, LINEAR_BOTTLENECK),
    ("cifar10", "mean-mse", 1024, None, 4.7e-3, "the assignment's reference CAE"),
    ("cifar10", "mean-psnr", 128, 24.67, None, COIN_PLUS_PLUS),
    ("cifar10", "mean-psnr", 256, 27.84, None, COIN_PLUS_PLUS),
    ("cifar10", "mean-psnr", 384, 30.08, None, COIN_PLUS_PLUS),
]


def pixels(dataset: str, shape: Shape) -> str:
    """``original`` where ``shape`` is ``dataset``'s own pixels (as published points record them), else the shape.

    >>> pixels("cifar10", (3, 32, 32)), pixels("cifar10", (1, 32, 32)), pixels("mnist", (1, 28, 28))
    ('original', '1 × 32 × 32', '1 × 28 × 28')
    """
    return "original" if ORIGINAL_SHAPES.get(dataset) == tuple(shape) else " × ".join(map(str, shape))


def published_points(dataset: str = "cifar10", *, shape: Shape | None = None) -> pd.DataFrame:
    """The points published on ``dataset`` (with ``shape``: only where that is their pixels' shape), in :data:`COLUMNS`.

    ``psnr`` and ``mse`` are each derived from the other where a source gave one in the PSNR of the mean MSE (a
    mean of per-image PSNRs has no MSE: NaN). A dataset without published points, or a study at other pixels
    (CIFAR-10 made gray or resized), gets an empty table::

        published_points("cifar10")                       # eight points: five of the mean MSE, three per-image means
        published_points("mnist").empty                   # True
        published_points("cifar10", shape=(1, 32, 32)).empty  # True: gray CIFAR-10 is not what was published
    """
    rows = [
        (name, "original", "official", convention, latent, decibels, mse, source)
        for name, convention, latent, decibels, mse, source in _POINTS
        if name == dataset and (shape is None or pixels(name, shape) == "original")
    ]
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"latent_size": int, "psnr": float, "mse": float})
    of_mse = table["psnr_convention"] == "mean-mse"
    table.loc[of_mse, "mse"] = table.loc[of_mse, "mse"].fillna(10 ** (-table.loc[of_mse, "psnr"] / 10))
    table["psnr"] = table["psnr"].fillna(psnr(table["mse"]))
    return table


def long_trained_psnr(dataset: str = "cifar10", *, shape: Shape | None = None) -> dict[int, float]:
    """The published long-trained CAE's test PSNR by latent size on ``dataset``: the points a front is judged against
    (empty for a dataset, or pixels, without them)."""
    return linear_bottleneck_psnr(published_points(dataset, shape=shape))


def linear_bottleneck_psnr(points: pd.DataFrame) -> dict[int, float]:
    """The long-trained linear-bottleneck CAE's PSNR by latent size among ``points`` (:data:`COLUMNS`)."""
    return points[points["source"] == LINEAR_BOTTLENECK].set_index("latent_size")["psnr"].to_dict()


PIXEL_WORDS = {"original": "original pixels", "JPEG export": "JPEG export"}
SPLIT_WORDS = {"official": "official test split", "random": "random split"}
CONVENTION_WORDS = {"mean-mse": "PSNR of the mean MSE", "mean-psnr": "mean of per-image PSNRs"}


@dataclass(frozen=True)
class Measurement:
    """How a figure was measured: on which pixels, which split, in which PSNR convention (the keys of the words above)."""

    pixels: str
    split: str
    psnr_convention: str = "mean-mse"

    def words(self, *, convention: bool = True) -> str:
        """``JPEG export, random split, PSNR of the mean MSE``."""
        said = [PIXEL_WORDS.get(self.pixels, self.pixels), SPLIT_WORDS.get(self.split, f"{self.split} split")]
        return ", ".join(said + ([CONVENTION_WORDS.get(self.psnr_convention, self.psnr_convention)] if convention else []))


def measured(data: DataDescription) -> Measurement:
    """How a study on ``data`` measures its test errors: its pixels and split, PSNR of the mean MSE (:func:`cae.metrics.psnr`).

    >>> measured(DataDescription(pixels="JPEG export")).words()
    'JPEG export, random split, PSNR of the mean MSE'
    """
    return Measurement(data.pixels, data.split)


@dataclass(frozen=True)
class Comparison:
    """The published points a study may be set beside, and, where some were measured otherwise, why they are not drawn."""

    points: pd.DataFrame  # in COLUMNS: the dataset's points at the study's shape, measured as the study was
    not_drawn: str = ""  # "ours: …; published: … — not drawn", or "" where nothing was left out


def comparable(data: DataDescription, *, psnr_convention: str = "mean-mse") -> Comparison:
    """The points published on ``data``'s dataset at its shape measured as a figure on ``data``'s test images in
    ``psnr_convention`` (a study's own figures are the PSNR of the mean MSE: :func:`measured`).

    A study on CIFAR-10's JPEG export, split at random, gets none, and the words::

        comparable(DataDescription(pixels="JPEG export")).not_drawn
        # 'ours: JPEG export, random split, PSNR of the mean MSE; published: original pixels, official test split,
        #  PSNR of the mean MSE or mean of per-image PSNRs — not drawn'
    """
    return points_beside(Measurement(data.pixels, data.split, psnr_convention), data.dataset, shape=data.shape)


def points_beside(ours: Measurement, dataset: str = "cifar10", *, shape: Shape | None = None) -> Comparison:
    """The points published on ``dataset`` (with ``shape``: at those pixels) measured as ``ours`` was: the same pixels,
    split and PSNR convention; where some were measured otherwise, the words that say how each side was.

    >>> points_beside(Measurement("original", "official", "mean-psnr")).points["psnr"].tolist()
    [24.67, 27.84, 30.08]
    """
    points = published_points(dataset, shape=shape)
    same = (points["pixels"] == ours.pixels) & (points["split"] == ours.split) & (points["psnr_convention"] == ours.psnr_convention)
    left = points[~same]
    if left.empty:
        return Comparison(points.reset_index(drop=True))
    # one phrase per pixels and split, its conventions joined: "original pixels, official test split, PSNR of the mean MSE or …"
    conventions = left.groupby(["pixels", "split"], sort=False)["psnr_convention"].unique()
    theirs = "; ".join(
        f"{Measurement(pixels, split).words(convention=False)}, {' or '.join(CONVENTION_WORDS.get(c, c) for c in kept)}"
        for (pixels, split), kept in conventions.items()
    )
    return Comparison(points[same].reset_index(drop=True), f"ours: {ours.words()}; published: {theirs} — not drawn")
