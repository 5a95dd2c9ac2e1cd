"""The statistics of "error against latent size": a power-law fit, a rank correlation, a Pareto front.

    >>> fit = fit_power_law([64, 256, 1024], [0.008, 0.004, 0.002])
    >>> print(f"b = {fit.b:.3f}, R² = {fit.r2:.3f}, doubling the latent multiplies the error by {fit.doubling:.3f}")
    b = -0.500, R² = 1.000, doubling the latent multiplies the error by 0.707

SciPy does the arithmetic (``linregress`` on log–log values, Student's t for the interval of the
exponent, ``spearmanr``); this module only says which numbers go in and what comes out, and how
many of them each statistic needs before it says anything (:data:`MIN_SIZES_POWER_LAW`,
:data:`MIN_TRIALS_CORRELATION`, :data:`MIN_TRIALS_IMPORTANCES`): below that, an analysis leaves the
statistic out and says so in one line (:func:`too_few`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from search.trials.front import size_error_front

# How many complete trials (or latent sizes) each statistic needs before a study's analysis reports it.
# A power law: 3 distinct latent sizes. Through two sizes a line passes exactly whatever the errors are, so
# the fit would say nothing about the shape of the curve; a third size is the first that can disagree with it.
MIN_SIZES_POWER_LAW = 3
# Spearman's ρ: 5 complete trials. With n trials even a perfect order has an exact two-sided p of 2/n!
# (0.33 at 3, 0.083 at 4, 0.017 at 5): below 5 no ordering can be told from chance at the 5% level.
MIN_TRIALS_CORRELATION = 5
# fANOVA's parameter importances: 10 complete trials. Optuna fits a random forest on the trials (leaves of one
# trial allowed), so with a handful of them the importances follow whichever parameter happens to split them
# (two trials give all of it to one parameter) and change wholesale with the next trial; Optuna's own TPE
# likewise draws 10 trials at random before it trusts a model of them.
MIN_TRIALS_IMPORTANCES = 10


def too_few(what: str, need: int, have: int, unit: str = "complete trials", holder: str = "this study has") -> str:
    """The one line an analysis gives in place of a statistic it cannot estimate from ``have`` of ``unit``.

    >>> too_few("Spearman's ρ", MIN_TRIALS_CORRELATION, 2)
    "Spearman's ρ needs at least 5 complete trials; this study has 2"
    """
    return f"{what} needs at least {need} {unit}; {holder} {have}"


def left_out(problem: str) -> str:
    """:func:`too_few`'s line (or another reason) as the sentence printed where the statistic would be.

    >>> left_out(too_few("Spearman's ρ", MIN_TRIALS_CORRELATION, 2))
    "Spearman's ρ needs at least 5 complete trials; this study has 2, so it is left out."
    """
    problem = problem.rstrip(".")  # Optuna's own reasons end in one
    return f"{problem[:1].upper()}{problem[1:]}, so it is left out."


@dataclass(frozen=True)
class PowerLaw:
    """``error = a · latent^b``, fitted by least squares on log–log axes."""

    a: float
    b: float
    b_low: float  # 95% confidence interval of b
    b_high: float
    r2: float
    n: int

    def __call__(self, latent: float | np.ndarray) -> float | np.ndarray:
        return self.a * np.power(latent, self.b)

    @property
    def doubling(self) -> float:
        """The factor the error is multiplied by when the latent size doubles (2^b)."""
        return 2.0**self.b


@dataclass(frozen=True)
class RankCorrelation:
    rho: float
    p: float
    n: int


def fit_power_law(latent: Sequence[float], error: Sequence[float]) -> PowerLaw:
    """Fit ``error = a · latent^b``; a :class:`ValueError` (its message :func:`too_few`'s line) below
    :data:`MIN_SIZES_POWER_LAW` distinct latent sizes."""
    x, y = np.log(np.asarray(latent, dtype=float)), np.log(np.asarray(error, dtype=float))
    sizes = len(set(x.tolist()))
    if sizes < MIN_SIZES_POWER_LAW:
        raise ValueError(too_few("a power law", MIN_SIZES_POWER_LAW, sizes, "distinct latent sizes", _these(len(x))))
    line = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * line.stderr
    return PowerLaw(math.exp(line.intercept), line.slope, line.slope - half, line.slope + half, line.rvalue**2, len(x))


def _these(n: int) -> str:
    return "this trial has" if n == 1 else f"these {n} trials span"


def rank_correlation(latent: Sequence[float], error: Sequence[float]) -> RankCorrelation:
    """Spearman's ρ between latent size and error, with its two-sided p-value."""
    result = stats.spearmanr(latent, error)
    return RankCorrelation(float(result.statistic), float(result.pvalue), len(latent))


EXACT_UP_TO = 8  # trials: up to 8! = 40,320 orderings, enumerated in a fraction of a second


def small_rank_correlation(x: Sequence[float], y: Sequence[float]) -> RankCorrelation:
    """Spearman's ρ (``spearmanr``), its two-sided p-value exact over every ordering for a few points.

    SciPy's p-value comes from a t approximation, which gives 0 for ρ = ±1 at any size: three trials in
    the same order would read as certain. With at most :data:`EXACT_UP_TO` points the p-value is the share
    of the orderings of ``y`` whose |ρ| reaches the observed one (2/3! = 0.33 for three points in order).

    >>> c = small_rank_correlation([1, 2, 3, 4, 5], [0.1, 0.2, 0.3, 0.5, 0.4])
    >>> print(f"rho = {c.rho:.2f}, p = {c.p:.3f}")
    rho = 0.90, p = 0.083
    """
    correlation = rank_correlation(x, y)
    if len(x) > EXACT_UP_TO or not math.isfinite(correlation.rho):
        return correlation
    rx, ry = stats.rankdata(x), stats.rankdata(y)
    orderings = ry[np.array(list(itertools.permutations(range(len(ry)))))]
    centred_x, centred = rx - rx.mean(), orderings - orderings.mean(axis=1, keepdims=True)
    rhos = centred @ centred_x / np.sqrt((centred**2).sum(axis=1) * (centred_x**2).sum())
    p = float(np.mean(np.abs(rhos) >= abs(correlation.rho) - 1e-12))
    return RankCorrelation(correlation.rho, p, correlation.n)


def pareto_front(table: pd.DataFrame, size: str = "latent_size", error: str = "val_mse") -> pd.DataFrame:
    """Rows with the lowest ``error`` at their ``size`` or any smaller one, by increasing size.

    A trial is on the front when no trial of the same or a smaller latent reaches a lower error:
    the best reconstruction one can buy with that many latent values.
    """
    known = table.dropna(subset=[size, error])
    return known.iloc[size_error_front(known[size].tolist(), known[error].tolist())]


def strength(correlation: RankCorrelation) -> str:
    """The answer in words: how strong a monotone relation ρ and p show (Cohen's rough bands)."""
    if correlation.n < MIN_TRIALS_CORRELATION or not correlation.p < 0.05:
        return "no clear"
    size = abs(correlation.rho)
    return "a strong" if size >= 0.7 else "a moderate" if size >= 0.4 else "a weak"
