"""A percentile pruner for multi-objective studies that compares a trial only with trials of comparable latent size.

The rule is the pure function :func:`verdict` over :class:`Curve` values, testable without Optuna;
:class:`LatentPercentilePruner` reads the curves from a study's trials and applies it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from search.pruning.curve_pruner import CurvePruner
from search.trials.record import read_trial

# Pruned trials keep their curves up to the epoch they stopped at: they are peers for the epochs they reached.
PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Curve:
    """A trial's latent size and its validation MSE per finished epoch (entry ``i`` is epoch ``i + 1``)."""

    latent_size: int
    val_mse: tuple[float, ...]
    # PCA's MSE at this latent size (the trial's ``pca_mse``): errors divided by it compare trials of
    # different sizes fairly; None where a trial has none (over-complete, a colorizer, older studies).
    baseline: float | None = None

    def __post_init__(self) -> None:
        # Callers hold lists (user attributes are JSON lists); a tuple keeps the frozen dataclass hashable.
        object.__setattr__(self, "val_mse", tuple(float(v) for v in self.val_mse))

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> Curve | None:
        """The curve ``trial`` recorded (its ``latent_size``, ``val_mse`` and ``pca_mse``); ``None`` when missing or malformed."""
        record = read_trial(trial)
        return _curve(record.latent_size, record.val_mse, record.pca_mse)


def _curve(latent_size: Any, val_mse: Any, baseline: Any = None) -> Curve | None:
    if isinstance(latent_size, bool) or not isinstance(latent_size, int) or latent_size <= 0:
        return None
    if isinstance(val_mse, str | bytes) or not isinstance(val_mse, Sequence):
        return None
    if not isinstance(baseline, float) or not baseline > 0:
        baseline = None
    try:
        return Curve(latent_size, tuple(val_mse), baseline)
    except (TypeError, ValueError):
        return None


def _best_finite(values: Sequence[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return min(finite) if finite else None


def _ordinal(p: float) -> str:
    if not float(p).is_integer():
        return f"{p:g}th"
    n = int(p)
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def verdict(
    curve: Curve,
    peers: Sequence[Curve],
    *,
    percentile: float,
    latent_factor: float,
    n_startup_trials: int,
    n_warmup_steps: int,
    n_min_trials: int,
) -> str | None:
    """Why ``curve`` should stop at its last epoch ``k = len(curve.val_mse)``, or ``None`` to let it go on.

    ``peers`` are the curves of finished (complete or pruned) earlier trials, of any latent size.

    - No verdict while fewer than ``n_startup_trials`` peers exist, or while ``k <= n_warmup_steps``.
    - A non-finite validation MSE at any epoch up to ``k`` prunes (reason "non-finite"): a diverged model does not recover,
      whatever its peers did.
    - Comparable peers have a latent size within ``[L / latent_factor, L * latent_factor]`` (``L = curve.latent_size``)
      and a value at epoch ``k``: a peer pruned before epoch ``k`` does not count at ``k``. Fewer than ``n_min_trials``
      comparable peers: no verdict.
    - Every curve is judged by its **best value up to epoch k** (its minimum over epochs ``1..k``), not its value at
      epoch ``k``, as Optuna's ``PercentilePruner`` does: one noisy epoch must not prune a trial that was better an epoch
      before, and a peer's noisy epoch must not make the bar easier. Non-finite peer values are ignored; a peer with none
      finite up to ``k`` does not count.
    - Prune when the trial's best is strictly greater than ``numpy.percentile`` of the peers' bests at ``percentile``.
    - When the trial and every comparable peer carry a ``baseline`` (PCA's MSE at their latent size), each best
      is divided by its own baseline first: within a factor of 2 in latent size the error itself still differs
      by several dB (PCA: 23.2 dB at 128 values, 26.4 dB at 256), so raw errors would prune the smaller
      trials of every window for their size; relative to the linear code they are judged on their architecture.
    """
    k = len(curve.val_mse)
    if len(peers) < n_startup_trials or k <= n_warmup_steps:
        return None
    if not all(math.isfinite(v) for v in curve.val_mse):
        return f"pruned at epoch {k}: val MSE is non-finite ({', '.join(f'{v}' for v in curve.val_mse if not math.isfinite(v))})"
    latent = curve.latent_size
    comparable: list[tuple[float, float | None]] = []
    for peer in peers:
        # Multiplying instead of dividing keeps the bounds exact for integer sizes and factors (64 * 2 >= 128).
        if len(peer.val_mse) < k or peer.latent_size * latent_factor < latent or peer.latent_size > latent * latent_factor:
            continue
        best = _best_finite(peer.val_mse[:k])
        if best is not None:
            comparable.append((best, peer.baseline))
    if len(comparable) < max(n_min_trials, 1):
        return None
    relative = curve.baseline is not None and all(baseline is not None for _, baseline in comparable)
    mine = min(curve.val_mse) / (curve.baseline if relative else 1.0)
    bar = float(np.percentile([best / (baseline if relative else 1.0) for best, baseline in comparable], percentile))
    if mine <= bar:
        return None
    low, high = round(latent / latent_factor), round(latent * latent_factor)
    trials = "trial" if len(comparable) == 1 else "trials"
    if relative:
        measured = (
            f"best val MSE {min(curve.val_mse):.5f} ({mine:.3f}× PCA's at its size) worse than the "
            f"{_ordinal(percentile)} percentile ({bar:.3f}× PCA's)"
        )
    else:
        measured = f"best val MSE {mine:.5f} worse than the {_ordinal(percentile)} percentile ({bar:.5f})"
    return f"pruned at epoch {k}: {measured} of {len(comparable)} earlier {trials} with latent {low:,}–{high:,} at that epoch"


class LatentPercentilePruner(CurvePruner):
    """Prunes a trial whose best validation MSE so far is worse than a percentile of earlier trials of comparable latent size.

    Multi-objective studies (validation MSE and latent size) cannot use Optuna's pruners: ``Trial.report`` and
    ``Trial.should_prune`` raise ``NotImplementedError`` with several directions (optuna issue #3450). This pruner reads
    the curves that the objective records as user attributes (``latent_size``, and ``val_mse`` with one entry per
    finished epoch) instead of intermediate values, and compares a trial only with trials whose latent size is within
    ``latent_factor`` of its own: a small latent must not be pruned for losing to much larger ones. Where every one
    of them recorded ``pca_mse``, errors are compared as multiples of PCA's at each trial's own size. The rule is
    :func:`verdict`.

        >>> pruner = LatentPercentilePruner(percentile=50, latent_factor=2)
        >>> study = optuna.create_study(directions=["minimize", "minimize"])
        >>> pruner.reason_for(study, latent_size=64, val_mse=[0.02, 0.015]) is None  # no earlier trials yet
        True

    Args:
        percentile: the percentile (strictly between 0 and 100) of the comparable trials' best values that a trial must
            not exceed.
        latent_factor: comparable trials have a latent size in ``[L / latent_factor, L * latent_factor]``; at least 1.
        n_startup_trials: no pruning until this many trials (of any latent size) are complete or pruned.
        n_warmup_steps: no pruning at epochs ``1..n_warmup_steps``.
        n_min_trials: no pruning at an epoch with fewer comparable trials that reached it; at least 1.
    """

    def __init__(
        self,
        percentile: float = 50.0,
        latent_factor: float = 2.0,
        n_startup_trials: int = 4,
        n_warmup_steps: int = 1,
        n_min_trials: int = 3,
    ) -> None:
        if isinstance(percentile, bool) or not isinstance(percentile, Real) or not 0 < percentile < 100:
            raise ValueError(f"percentile must be a number strictly between 0 and 100, got {percentile!r}")
        if isinstance(latent_factor, bool) or not isinstance(latent_factor, Real) or not 1 <= latent_factor < math.inf:
            raise ValueError(f"latent_factor must be a finite number of at least 1, got {latent_factor!r}")
        for name, value, least in (
            ("n_startup_trials", n_startup_trials, 0),
            ("n_warmup_steps", n_warmup_steps, 0),
            ("n_min_trials", n_min_trials, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                kind = "a non-negative integer" if least == 0 else f"an integer of at least {least}"
                raise ValueError(f"{name} must be {kind}, got {value!r}")
        self.percentile = float(percentile)
        self.latent_factor = float(latent_factor)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.n_min_trials = n_min_trials

    def reason(self, study: optuna.Study, trial: FrozenTrial) -> str | None:
        curve = Curve.from_trial(trial)
        return None if curve is None else self._verdict(study, curve, trial.number)

    def reason_for(
        self,
        study: optuna.Study,
        latent_size: int,
        val_mse: Sequence[float],
        *,
        number: int | None = None,
        baseline: float | None = None,
    ) -> str | None:
        """Why a trial with this latent size and curve so far should stop now, or ``None``; ``number`` (the trial's own) is
        left out of the peers; ``baseline`` is PCA's MSE at its latent size, if known."""
        return self._verdict(study, Curve(latent_size, tuple(val_mse), baseline), number)

    def _verdict(self, study: optuna.Study, curve: Curve, number: int | None) -> str | None:
        peers = [
            peer
            for t in study.get_trials(deepcopy=False, states=PEER_STATES)
            if t.number != number and (peer := Curve.from_trial(t)) is not None
        ]
        return verdict(
            curve,
            peers,
            percentile=self.percentile,
            latent_factor=self.latent_factor,
            n_startup_trials=self.n_startup_trials,
            n_warmup_steps=self.n_warmup_steps,
            n_min_trials=self.n_min_trials,
        )
