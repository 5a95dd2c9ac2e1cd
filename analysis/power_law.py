"""The statistics of "error against latent size": a power-law fit, a rank correlation, a Pareto front.

    >>> fit = fit_power_law([64, 256, 1024], [0.008, 0.004, 0.002])
    >>> print(f"b = {fit.b:.3f}, R² = {fit.r2:.3f}, doubling the latent multiplies the error by {fit.doubling:.3f}")
    b = -0.500, R² = 1.000, doubling the latent multiplies the error by 0.707

SciPy does the arithmetic (``linregress`` on log–log values, Student's t for the interval of the
exponent, ``spearmanr``); this module only says which numbers go in and what comes out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from search.front import size_error_front


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
    """Fit ``error = a · latent^b``; needs three points or more and two latent sizes or more."""
    x, y = np.log(np.asarray(latent, dtype=float)), np.log(np.asarray(error, dtype=float))
    if len(x) < 3 or np.ptp(x) == 0:
        raise ValueError(f"a power-law fit needs at least 3 trials over 2 latent sizes, got {len(x)} over {len(set(x))}")
    line = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * line.stderr
    return PowerLaw(math.exp(line.intercept), line.slope, line.slope - half, line.slope + half, line.rvalue**2, len(x))


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
    if correlation.n < 3 or not correlation.p < 0.05:
        return "no clear"
    size = abs(correlation.rho)
    return "a strong" if size >= 0.7 else "a moderate" if size >= 0.4 else "a weak"
