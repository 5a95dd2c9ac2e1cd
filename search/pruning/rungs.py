"""Asynchronous successive halving for several objectives: ``study.pruner: {type: pareto_halving}``.

Rungs sit at ``min_epochs · eta^k`` epochs (1, 3, 9, … by default) below the space's ``train.epochs``.
When a trial finishes a rung's epoch it is ranked among every trial the storage holds at that
rung: complete, pruned and still running trials alike, each by what it had recorded when it
passed that epoch (a peer still short of the rung does not count yet). The ranking is
non-dominated sorting over the study's objectives (the best validation MSE so far, divided by
PCA's at the trial's own latent size where every trial recorded ``pca_mse``, and the latent size
and/or parameter count), then, inside a front, crowding distance (NSGA-II's: the extremes first,
then the points with the widest gap to their neighbours), so that what goes on is spread over
sizes rather than packed where the front is densest. The trial continues when it is among the
first ``n // eta`` of the ``n`` ranked (ASHA's top ``1/eta``; at least the first); with fewer than
``n_min_trials`` at the rung every trial continues. A stopped trial records why (user attribute ``reason``). Decisions read only
the storage (user attributes ``val_mse``, ``latent_size``, ``n_params``, ``pca_mse``), so the
rule is the same with ``--workers`` and with many machines on one database; being asynchronous,
a decision is never revisited when later trials reach the rung (MOASHA's stopping variant).

Learning-rate schedules and early stops. Every trial's schedule is laid out over the space's
full ``train.epochs``, whether or not the trial will be stopped: a one-cycle trial judged at
epoch 1 of 9 is still climbing to its peak rate, a cosine one has barely begun its decay. The
rule is fair because every trial at rung ``r`` is at the same point ``r / train.epochs`` of the
same schedule, so their errors there are comparable, and a trial that goes on continues the
schedule it started instead of restarting; the errors at early rungs are higher than those of
a run whose schedule ends there, which ranks no one differently. Shortening each trial's schedule
to its rung (Hyperband's brackets do) would make a rung's error that of a finished short run, but
every promotion would then restart training from scratch. A space that searches over the
schedule itself (``train.schedule: {choice: …}``) does compare different positions at one rung
(a constant rate makes its progress early, a one-cycle late), and favours the early ones.

The rule is the pure function :func:`verdict` over :class:`RungRecord` values, testable without
Optuna; :class:`ParetoHalvingPruner` reads them from the study.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from search.pruning.curve_pruner import CurvePruner
from search.trials.objectives import OBJECTIVES
from search.trials.record import TrialRecord, read_trial

# Running trials count with what they recorded at a rung: the rule is asynchronous.
RECORDED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
# The study's metric names → the name of each size objective (its value: OBJECTIVES[name].value of a trial's record).
SIZE_OBJECTIVES = {goal.label: name for name, goal in OBJECTIVES.items() if goal.size}


@dataclass(frozen=True)
class RungRecord:
    """What the storage holds of one trial: its number, validation MSE per finished epoch (entry ``i`` is
    epoch ``i + 1``), its size objectives (latent size and/or parameters, fixed per trial) and PCA's MSE
    at its latent size (``None`` where none was recorded)."""

    number: int
    val_mse: tuple[float, ...]
    sizes: tuple[float, ...]
    baseline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "val_mse", tuple(float(v) for v in self.val_mse))
        object.__setattr__(self, "sizes", tuple(float(v) for v in self.sizes))

    def best(self, epoch: int) -> float | None:
        """The best finite validation MSE over epochs ``1..epoch``; ``None`` when it has none."""
        finite = [v for v in self.val_mse[:epoch] if math.isfinite(v)]
        return min(finite) if finite else None


def rungs(min_epochs: int, eta: int, epochs: int) -> list[int]:
    """The epochs at which a trial of ``epochs`` epochs is judged: ``min_epochs · eta^k`` below ``epochs``.

    >>> rungs(1, 3, 9), rungs(1, 3, 12), rungs(2, 2, 16)
    ([1, 3], [1, 3, 9], [2, 4, 8])
    """
    found, rung = [], min_epochs
    while rung < epochs:
        found.append(rung)
        rung *= eta
    return found


def is_rung(epoch: int, min_epochs: int, eta: int) -> bool:
    """Whether ``epoch`` is ``min_epochs · eta^k`` for some ``k ≥ 0``."""
    if epoch < min_epochs or epoch % min_epochs:
        return False
    ratio = epoch // min_epochs
    while ratio % eta == 0:
        ratio //= eta
    return ratio == 1


def non_dominated_fronts(points: np.ndarray) -> np.ndarray:
    """The front index (0 = non-dominated) of each row of ``points``, every column minimised.

    >>> non_dominated_fronts(np.array([[1, 3], [2, 2], [3, 1], [3, 3], [4, 4]])).tolist()
    [0, 0, 0, 1, 2]
    """
    n = len(points)
    # dominates[i, j]: i is no worse than j everywhere and better somewhere
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    dominates = no_worse & better
    fronts = np.full(n, -1)
    remaining = np.ones(n, dtype=bool)
    level = 0
    while remaining.any():
        dominated = (dominates[remaining][:, remaining]).any(axis=0)
        current = np.flatnonzero(remaining)[~dominated]
        fronts[current] = level
        remaining[current] = False
        level += 1
    return fronts


def crowding_distances(points: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its set: infinite at each objective's extremes,
    else the sum over objectives of the gap between its neighbours, as a share of the objective's range."""
    n, m = points.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for column in range(m):
        order = np.argsort(points[:, column], kind="stable")
        values = points[order, column]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = math.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def rank_order(points: np.ndarray, numbers: Sequence[int]) -> list[int]:
    """Positions of ``points`` best first: by front, then by crowding distance within the front
    (widest first), then by trial number (the earlier first) so that every worker sees one order."""
    fronts = non_dominated_fronts(points)
    crowd = np.zeros(len(points))
    for level in np.unique(fronts):
        members = np.flatnonzero(fronts == level)
        crowd[members] = crowding_distances(points[members])
    return sorted(range(len(points)), key=lambda i: (fronts[i], -crowd[i], numbers[i]))


def verdict(trial: RungRecord, peers: Sequence[RungRecord], *, min_epochs: int, eta: int, n_min_trials: int) -> str | None:
    """Why ``trial`` should stop at its last recorded epoch ``k``, or ``None`` to let it go on.

    ``peers`` are the other trials of the study as the storage holds them (any state, any progress;
    ``trial`` itself among them is ignored). No verdict unless ``k`` is a rung. A non-finite
    validation MSE up to ``k`` stops at once. Counted at the rung: the peers that recorded ``k``
    epochs or more with a finite value and the same number of size objectives, each with its best
    validation MSE up to epoch ``k``; with the trial, fewer than ``n_min_trials``: no verdict. Errors
    are divided by each trial's ``baseline`` when the trial and every counted peer have one.
    """
    k = len(trial.val_mse)
    if k == 0 or not is_rung(k, min_epochs, eta):
        return None
    if not all(math.isfinite(v) for v in trial.val_mse):
        return f"pruned at rung {k}: val MSE is non-finite ({', '.join(str(v) for v in trial.val_mse if not math.isfinite(v))})"
    counted = [
        p for p in peers if p.number != trial.number and len(p.val_mse) >= k and len(p.sizes) == len(trial.sizes) and p.best(k) is not None
    ]
    everyone = [trial, *counted]
    n = len(everyone)
    if n < n_min_trials:
        return None
    relative = all(r.baseline is not None for r in everyone)
    errors = [r.best(k) / (r.baseline if relative else 1.0) for r in everyone]
    # sizes on a log scale: a monotone change leaves the fronts as they are, and makes crowding
    # distance measure gaps in octaves (16 → 32 as wide as 256 → 512), as the hypervolume does
    points = np.array([[e, *np.log2(r.sizes)] for e, r in zip(errors, everyone, strict=True)], dtype=float)
    order = rank_order(points, [r.number for r in everyone])
    keep = max(1, n // eta)
    position = order.index(0)
    if position < keep:
        return None
    front = int(non_dominated_fronts(points)[0]) + 1
    error = f"best val MSE {trial.best(k):.5f}" + (f" ({errors[0]:.3f}× PCA's at its size)" if relative else "")
    return (
        f"pruned at rung {k}: {error} ranks {position + 1} of the {n} trials recorded at epoch {k} "
        f"(Pareto front {front}); the first {keep} (1/{eta}) go on"
    )


def _sizes(record: TrialRecord, size_keys: Sequence[str]) -> tuple[int, ...] | None:
    """The size objectives ``size_keys`` (objective names) that ``record`` holds; ``None`` where one is missing or not positive."""
    sizes = tuple(OBJECTIVES[key].value(record) for key in size_keys)
    return sizes if all(isinstance(s, int) and s > 0 for s in sizes) else None


def record_of(trial: FrozenTrial, size_keys: Sequence[str]) -> RungRecord | None:
    """The :class:`RungRecord` of what ``trial`` recorded; ``None`` when it is missing or malformed."""
    record = read_trial(trial)
    sizes = _sizes(record, size_keys)
    if record.val_mse is None or sizes is None:
        return None
    baseline = record.pca_mse if record.pca_mse is not None and record.pca_mse > 0 else None
    return RungRecord(trial.number, record.val_mse, sizes, baseline)


def _positive_int(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
    return value


class ParetoHalvingPruner(CurvePruner):
    """Asynchronous successive halving over several objectives, from the trials' recorded curves (:func:`verdict`).

    Optuna's own pruners refuse multi-objective studies (``Trial.report`` raises there, optuna #3450);
    this one reads the user attributes that :mod:`search.trials.objective` records every epoch.

        >>> pruner = ParetoHalvingPruner(min_epochs=1, eta=3)
        >>> study = optuna.create_study(directions=["minimize", "minimize"])
        >>> pruner.reason_for(study, latent_size=64, val_mse=[0.02]) is None  # nobody else at rung 1 yet
        True

    Args:
        min_epochs: the first rung, in epochs; at least 1.
        eta: the reduction factor: rungs are ``min_epochs · eta^k``, and the top ``1/eta`` at a rung go on; at least 2.
        n_min_trials: no verdict at a rung that fewer trials (this one included) have reached; at least 1.
    """

    def __init__(self, min_epochs: int = 1, eta: int = 3, n_min_trials: int = 3) -> None:
        self.min_epochs = _positive_int("min_epochs", min_epochs, 1)
        self.eta = _positive_int("eta", eta, 2)
        self.n_min_trials = _positive_int("n_min_trials", n_min_trials, 1)

    @staticmethod
    def size_keys(study: optuna.Study) -> tuple[str, ...]:
        """The names of the study's size objectives (latent size when the study names none)."""
        keys = tuple(SIZE_OBJECTIVES[name] for name in (study.metric_names or []) if name in SIZE_OBJECTIVES)
        return keys or ("latent_size",)

    def reason(self, study: optuna.Study, trial: FrozenTrial) -> str | None:
        record = record_of(trial, self.size_keys(study))
        return None if record is None else self._verdict(study, record)

    def reason_for(
        self,
        study: optuna.Study,
        latent_size: int,
        val_mse: Sequence[float],
        *,
        number: int | None = None,
        baseline: float | None = None,
    ) -> str | None:
        """Why a trial with this latent size and curve so far should stop now, or ``None``. ``number`` is the
        trial's own (left out of the peers; its other size objectives are read from its stored attributes);
        ``baseline`` is PCA's MSE at its latent size, if known."""
        if not is_rung(len(val_mse), self.min_epochs, self.eta):
            return None  # the storage is read at rungs only
        keys = self.size_keys(study)
        stored = TrialRecord()
        if number is not None and keys != ("latent_size",):
            own = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
            stored = read_trial(own) if own is not None else stored
        sizes = _sizes(dataclasses.replace(stored, latent_size=latent_size), keys)
        if sizes is None:
            return None
        return self._verdict(study, RungRecord(-1 if number is None else number, tuple(val_mse), sizes, baseline))

    def _verdict(self, study: optuna.Study, record: RungRecord) -> str | None:
        keys = self.size_keys(study)
        peers = [
            peer
            for t in study.get_trials(deepcopy=False, states=RECORDED_STATES)
            if t.number != record.number and (peer := record_of(t, keys)) is not None
        ]
        return verdict(record, peers, min_epochs=self.min_epochs, eta=self.eta, n_min_trials=self.n_min_trials)
