"""How the flagship spends a wall-clock budget: a share for the search, the rest for the refit, each size's epochs.

The search's trials all train a short fixed budget (the replay's shortfall measure: every design 2 epochs, no pruning,
finds the full budget's designs at 64 / 128 / 256 values, and no pruning rule does as well at equal epochs), for
its share of the minutes. The refit gets what is left but a reserve (its data and PCA on the whole training split,
and the report's evaluations on other images): each size an equal part of it, in epochs of that size's design. An
epoch's cost is measured before the refit (:mod:`benchmarks.flagship_calibration` times each design's passes as the
refit will run them: :func:`plan_epochs`), or scaled from the search's epoch times to the refit's images
(:func:`plan_refit`). Everything here is arithmetic on measured seconds, so it can be checked without training
anything; :func:`training_indices` draws a data setting's splits without reading an image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from cae.data import DataConfig, open_source, split_parts

# One epoch of a refit costs its training pass and its validation pass (the search's epoch_seconds is the training
# pass alone), and the last epoch tests: about a fifth on top, as the earlier flagship runs measured.
EVAL_MARGIN = 1.2
# The refit's setup and the report's evaluations take about as long whatever the budget (reading the images, PCA's
# fits, three sets of test images): a small budget's share would not cover them.
RESERVE_FLOOR_SECONDS = 45.0


@dataclass(frozen=True)
class Budget:
    """The flagship's minutes in three parts: the search's, a reserve for setting up the refit and the report, the refit's."""

    minutes: float
    search_share: float
    reserve_share: float

    def __post_init__(self) -> None:
        if not (self.minutes > 0 and math.isfinite(self.minutes)):
            raise ValueError(f"budget: expected minutes > 0, got {self.minutes}")
        if not (self.search_share > 0 and self.reserve_share >= 0 and self.search_share + self.reserve_share < 1):
            raise ValueError(
                f"budget: expected shares with search > 0, reserve ≥ 0 and their sum < 1, got {self.search_share}, {self.reserve_share}"
            )

    @property
    def search_seconds(self) -> float:
        return self.minutes * 60 * self.search_share

    @property
    def reserve_seconds(self) -> float:
        return max(RESERVE_FLOOR_SECONDS, self.minutes * 60 * self.reserve_share)

    def refit_seconds(self, spent: float) -> float:
        """What the refit may train for once ``spent`` seconds have gone (the search, as long as it really took)."""
        return max(0.0, self.minutes * 60 - spent - self.reserve_seconds)


@dataclass(frozen=True)
class SizePlan:
    """One size's refit: its design's measured epoch, that epoch on the refit's images, and the epochs it gets."""

    latent: int
    search_epoch_seconds: float | None  # the design's median training pass in the search, on the search's images
    epoch_seconds: float  # one refit epoch, evaluation included: measured by calibration, or scaled from the search's
    epochs: int

    @property
    def seconds(self) -> float:
        return self.epoch_seconds * self.epochs


@dataclass(frozen=True)
class RefitPlan:
    """Each size's epochs within ``seconds``: what the refit will train and what that should cost."""

    seconds: float
    search_images: int | None  # None where the epochs were measured, not scaled from the search's
    refit_images: int
    sizes: tuple[SizePlan, ...]

    @property
    def planned_seconds(self) -> float:
        return sum(s.seconds for s in self.sizes)

    @property
    def epochs(self) -> dict[int, int]:
        return {s.latent: s.epochs for s in self.sizes}

    def lines(self) -> list[str]:
        """What the command prints before the refit spends anything."""
        measured = self.search_images is None
        how = "each epoch timed on this machine beforehand" if measured else f"the search's epochs were on {self.search_images:,}"
        head = f"refit: {self.seconds / 60:.1f} min left for {len(self.sizes)} sizes on {self.refit_images:,} training images ({how})"
        rows = [
            f"  latent {s.latent}: "
            + ("" if s.search_epoch_seconds is None else f"an epoch took {s.search_epoch_seconds:.1f} s in the search, ")
            + f"{'measured' if measured else '≈'} {s.epoch_seconds:.1f} s here → {s.epochs} epochs ≈ {s.seconds / 60:.1f} min"
            for s in self.sizes
        ]
        within = "within" if self.planned_seconds <= self.seconds else "OVER (one epoch each at least)"
        return [head, *rows, f"  planned {self.planned_seconds / 60:.1f} min, {within} the {self.seconds / 60:.1f} min left"]


def plan_refit(
    search_epoch_seconds: Mapping[int, float],
    *,
    search_images: int,
    refit_images: int,
    seconds: float,
    margin: float = EVAL_MARGIN,
) -> RefitPlan:
    """Epochs per size so that all sizes end within ``seconds``, trained one after another.

    Each size's epoch is its design's training pass in the search (``search_epoch_seconds``, on ``search_images``)
    scaled by ``refit_images / search_images`` and by ``margin`` (validation and test passes). Each size gets an
    equal part of ``seconds`` (at least one epoch); what flooring leaves goes an epoch at a time to the size with
    the fewest epochs that still fits it.

    >>> plan = plan_refit({64: 2.0, 256: 4.0}, search_images=10_000, refit_images=40_000, seconds=960, margin=1.0)
    >>> plan.epochs, plan.planned_seconds
    ({64: 60, 256: 30}, 960.0)
    """
    if not search_epoch_seconds:
        raise ValueError("plan_refit: expected the epoch seconds of one size or more")
    if search_images < 1 or refit_images < 1 or not seconds >= 0 or not margin > 0:
        raise ValueError(
            f"plan_refit: expected images ≥ 1, seconds ≥ 0 and margin > 0, got {search_images}, {refit_images}, {seconds}, {margin}"
        )
    scale = refit_images / search_images * margin
    epoch = {size: s * scale for size, s in search_epoch_seconds.items()}
    if any(not (e > 0 and math.isfinite(e)) for e in epoch.values()):
        raise ValueError(f"plan_refit: expected measured epoch seconds > 0, got {dict(search_epoch_seconds)}")
    return _allocated(epoch, seconds, search_epoch_seconds, search_images, refit_images)


def plan_epochs(
    epoch_seconds: Mapping[int, float], *, refit_images: int, seconds: float, search_epoch_seconds: Mapping[int, float] | None = None
) -> RefitPlan:
    """Epochs per size so that all sizes end within ``seconds``, trained one after another, from each size's refit epoch
    as measured on this machine (``search_epoch_seconds``, where given, are only reported beside it).

    >>> plan_epochs({64: 24.0, 256: 48.0}, refit_images=45_000, seconds=960).epochs
    {64: 20, 256: 10}
    """
    if not epoch_seconds or any(not (e > 0 and math.isfinite(e)) for e in epoch_seconds.values()) or not seconds >= 0:
        raise ValueError(f"plan_epochs: expected measured epoch seconds > 0 and seconds ≥ 0, got {dict(epoch_seconds)}, {seconds}")
    searched = {size: (search_epoch_seconds or {}).get(size) for size in epoch_seconds}
    return _allocated(dict(epoch_seconds), seconds, searched, None, refit_images)


def _allocated(
    epoch: dict[int, float], seconds: float, searched: Mapping[int, float | None], search_images: int | None, refit_images: int
) -> RefitPlan:
    """Each size an equal part of ``seconds`` in whole epochs of ``epoch[size]`` seconds (at least one), what flooring leaves
    an epoch at a time to the size with the fewest epochs that still fits it."""
    share = seconds / len(epoch)
    epochs = {size: max(1, math.floor(share / e)) for size, e in epoch.items()}
    left = seconds - sum(epoch[size] * n for size, n in epochs.items())
    while fits := [size for size in epochs if epoch[size] <= left]:
        size = min(fits, key=lambda s: (epochs[s], s))
        epochs[size] += 1
        left -= epoch[size]
    sizes = tuple(SizePlan(size, searched[size], epoch[size], epochs[size]) for size in epoch)
    return RefitPlan(seconds, search_images, refit_images, sizes)


def training_indices(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``cfg``'s train, validation and test indices, as :func:`cae.data.load_splits` draws them."""
    return split_parts(open_source(cfg), cfg)
