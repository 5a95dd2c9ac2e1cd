"""How the flagship spends a wall-clock budget: a share for the search, the rest for the refit, each size's epochs.

The search's trials all train a short fixed budget (the replay's shortfall measure: every design 2 epochs, no pruning,
finds the full budget's designs at 64 / 128 / 256 values, and no pruning rule does as well at equal epochs), for
its share of the minutes. The refit gets what is left but a reserve (its data and PCA on the whole training split,
and the report's evaluations on other images): each size an equal part of it, in epochs of that size's design as the
search timed them, scaled from the search's training images to the refit's. Everything here is arithmetic on measured
seconds, so it can be checked without training anything; :func:`training_images` counts a data setting's training
split without reading an image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cae.data import DataConfig, official_indices, open_source, split_indices

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
    search_epoch_seconds: float  # the design's median training pass in the search, on the search's images
    epoch_seconds: float  # one refit epoch: scaled to the refit's images, evaluation included
    epochs: int

    @property
    def seconds(self) -> float:
        return self.epoch_seconds * self.epochs


@dataclass(frozen=True)
class RefitPlan:
    """Each size's epochs within ``seconds``: what the refit will train and what that should cost."""

    seconds: float
    search_images: int
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
        head = (
            f"refit: {self.seconds / 60:.1f} min left for {len(self.sizes)} sizes on {self.refit_images:,} training images "
            f"(the search's epochs were on {self.search_images:,})"
        )
        rows = [
            f"  latent {s.latent}: an epoch took {s.search_epoch_seconds:.1f} s in the search, ≈ {s.epoch_seconds:.1f} s here "
            f"→ {s.epochs} epochs ≈ {s.seconds / 60:.1f} min"
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
    share = seconds / len(epoch)
    epochs = {size: max(1, math.floor(share / e)) for size, e in epoch.items()}
    left = seconds - sum(epoch[size] * n for size, n in epochs.items())
    while fits := [size for size in epochs if epoch[size] <= left]:
        size = min(fits, key=lambda s: (epochs[s], s))
        epochs[size] += 1
        left -= epoch[size]
    sizes = tuple(SizePlan(size, search_epoch_seconds[size], epoch[size], epochs[size]) for size in search_epoch_seconds)
    return RefitPlan(seconds, search_images, refit_images, sizes)


def training_images(cfg: DataConfig) -> int:
    """How many images ``cfg``'s training split holds, counted from the files without reading an image."""
    source = open_source(cfg)
    if cfg.official:
        return len(official_indices(source.part_sizes, cfg.val, cfg.seed, cfg.subset)[0])
    return len(split_indices(source.n, cfg.split, cfg.seed, cfg.subset)[0])
