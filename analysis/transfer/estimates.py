"""A method's accuracy at one budget as an estimate with its standard error, and the gaps between methods."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analysis import probe
from analysis.transfer.pretraining import TransferResult

NOISE = probe.NOISE  # a gap is real beyond this many standard errors


@dataclass(frozen=True)
class Estimate:
    """A method's mean test accuracy at one budget, its seeds' spread and its standard error (:mod:`analysis.transfer`)."""

    mean: float
    std: float  # over seeds (nan for one)
    seeds: int
    se: float

    @classmethod
    def of(cls, accuracies: Iterable[float], test_images: int) -> Estimate:
        a = np.asarray(list(accuracies), dtype=float)
        mean, std = float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan
        spread = std**2 / len(a) if len(a) > 1 else 0.0
        return cls(mean, std, len(a), math.sqrt(spread + mean * (1 - mean) / test_images))


def estimate(result: TransferResult, trial: int, method: str, fraction: float) -> Estimate:
    """``method``'s :class:`Estimate` for ``trial`` at ``fraction`` (the pixels' whatever the trial)."""
    wanted = None if method == "pixels" else trial
    accuracies = [r.test_accuracy for r in result.runs if r.method == method and r.fraction == fraction and r.trial == wanted]
    return Estimate.of(accuracies, result.test_images)


def percent(e: Estimate) -> str:
    """``40.0% ± 1.0`` (the spread over seeds), or ``40.0%`` for one seed."""
    return f"{100 * e.mean:.1f}%" + (f" ± {100 * e.std:.1f}" if e.seeds > 1 else "")


def gap(a: Estimate, b: Estimate) -> tuple[float, float, bool]:
    """``a`` − ``b`` in points, its standard error in points, and whether it is beyond :data:`NOISE` of them."""
    points, se = 100 * (a.mean - b.mean), 100 * math.hypot(a.se, b.se)
    return points, se, abs(points) > NOISE * se


def compared(a: Estimate, b: Estimate) -> str:
    """``a`` against ``b`` in words: ``5.1 ± 1.5 points above, beyond the noise of 3.0`` or ``level within noise (…)``."""
    points, se, real = gap(a, b)
    if real:
        return f"{abs(points):.1f} ± {se:.1f} points {'above' if points > 0 else 'below'}, beyond the noise of {NOISE * se:.1f}"
    return f"level within noise ({points:+.1f} ± {se:.1f} points; the noise is {NOISE * se:.1f})"


def labels_at(result: TransferResult, fraction: float) -> int:
    """The labelled train images of ``fraction``'s subsets."""
    return next(r.labels for r in result.runs if r.fraction == fraction)


def label_counts(result: TransferResult) -> list[int]:
    """:func:`labels_at` every fraction of ``result``, in its order."""
    return [labels_at(result, f) for f in result.fractions]


def budget(result: TransferResult, fraction: float) -> str:
    """``1% (190 labels)``."""
    return f"{100 * fraction:g}% ({labels_at(result, fraction):,} labels)"


def pays(result: TransferResult, trial: int) -> dict[str, list[str]]:
    """The budgets where fine-tuning beats scratch beyond noise, loses beyond noise, or is level within it."""
    verdicts: dict[str, list[str]] = {"pays": [], "costs": [], "level": []}
    for fraction in result.fractions:
        points, _, real = gap(estimate(result, trial, "finetune", fraction), estimate(result, trial, "scratch", fraction))
        verdicts["level" if not real else "pays" if points > 0 else "costs"].append(f"{100 * fraction:g}%")
    return verdicts


def still_improving(result: TransferResult, trial: int, method: str, fraction: float) -> bool:
    """Whether every seed of ``method`` kept its last epoch: still improving when the rule stopped it."""
    runs = [r for r in result.runs if r.trial == trial and r.method == method and r.fraction == fraction]
    return bool(runs) and all(r.best_epoch == r.epochs for r in runs)
