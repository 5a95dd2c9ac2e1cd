"""The grid sampler's points known by their parameters: a hand-back, a retry and a resume all land on the point still owed.

Optuna's :class:`~optuna.samplers.GridSampler` knows a point by the ``grid_id`` it wrote on the trial that drew it: trial
``k`` takes point ``k`` of its seeded shuffle, and later trials a point no trial with a ``grid_id`` has started. A trial
queued again with its parameters (search.runtime.preemption's hand-back) carries no ``grid_id``, so it was given the next
point's id while it trained its own parameters: that point counted as done and was never trained, and the handed-back
one ran twice (issue 32: ``search refit`` trained design 1 twice and design 0 never). Here a trial's point is what its
parameters are (or its enqueued ``fixed_params``); ``grid_id`` is only where a trial that has drawn none yet stands.

Which points are owed: a point is held by a trial that finished on it (complete, pruned, or failed because of what it is:
refused, or crashed), or that runs or waits on it. A trial that failed for something that was not the point's fault (a
stop signal or Ctrl-C, another worker's surplus, a full disk) leaves it owed, so a resume draws it again even where its
hand-back could not be written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.samplers import GridSampler
from optuna.trial import FrozenTrial, TrialState

from search.trials.record import read_trial

# The reasons (search.trials.record) of failures that say nothing about the point: search.runtime.preemption's hand-back and the
# Ctrl-C of earlier versions, the objective's surplus trial, a write the storage or the artifact folder refused.
NOT_THE_POINTS_FAULT = ("stopped by", "interrupted", "surplus", "storage:", "artifact upload failed")
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_BUSY = (TrialState.RUNNING, TrialState.WAITING)


def owes_its_point(trial: FrozenTrial) -> bool:
    """Whether failed ``trial`` left its point to be trained again (it failed for a reason that was not the point's)."""
    reason = read_trial(trial).reason
    return trial.state == TrialState.FAIL and reason is not None and reason.startswith(NOT_THE_POINTS_FAULT)


class PointGridSampler(GridSampler):
    """Optuna's grid sampler, with each trial's point found from its parameters rather than from the order it was drawn.

    The same shuffle and the same first draws as :class:`~optuna.samplers.GridSampler` (trial ``k`` takes point ``k``
    while that point is owed, so workers starting together take distinct points); what differs is which points are
    taken: those that a trial's parameters name, whatever ``grid_id`` it was given.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        super().__init__(search_space, seed)
        self._ids = {self._key(point): index for index, point in enumerate(self._all_grids)}

    @staticmethod
    def _key(values: Sequence[Any]) -> tuple[Any, ...]:
        # 2 and 2.0 are one point (a stored int parameter may read back as either)
        return tuple(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in values)

    def _known(self, trial: FrozenTrial) -> dict[str, Any]:
        """The grid's parameters that ``trial`` already has: queued with (``fixed_params``) or suggested."""
        known = {**trial.system_attrs.get("fixed_params", {}), **trial.params}
        return {name: known[name] for name in self._param_names if name in known}

    def point_of(self, trial: FrozenTrial) -> int | None:
        """The point ``trial`` trains: the one its parameters name (``None`` off this grid), else the ``grid_id`` it drew."""
        known = self._known(trial)
        if len(known) == len(self._param_names):
            return self._ids.get(self._key([known[name] for name in self._param_names]))
        grid_id = trial.system_attrs.get("grid_id")
        if grid_id is None or not self._same_search_space(trial.system_attrs.get("search_space", {})):
            return None
        return grid_id

    def _taken(self, study: optuna.Study, but: int | None = None) -> tuple[set[int], set[int], set[int]]:
        """The points that trials other than number ``but`` finished on, failed on (their fault), and run or wait on."""
        finished: set[int] = set()
        failed: set[int] = set()
        busy: set[int] = set()
        # from the storage, as GridSampler reads it: a pruner's filtered study would hide trials (optuna #2327)
        for trial in study._storage.get_all_trials(study._study_id, deepcopy=False):
            if trial.number == but or (point := self.point_of(trial)) is None:
                continue
            if trial.state in _BUSY:
                busy.add(point)
            elif trial.state in _FINISHED:
                finished.add(point)
            elif trial.state == TrialState.FAIL and not owes_its_point(trial):
                failed.add(point)
        return finished, failed, busy

    def _get_unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        # what GridSampler.after_trial and is_exhausted ask: points no trial holds, else those none ended on
        finished, failed, busy = self._taken(study)
        owed = [i for i in range(self._n_min_trials) if i not in finished and i not in failed]
        return [i for i in owed if i not in busy] or owed

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        known = self._known(trial)
        matching = [i for i, point in enumerate(self._all_grids) if all(self._agrees(point, n, v) for n, v in known.items())]
        # off the grid (queued by a run of another grid): its own values are trained, and it holds no point
        candidates = matching or list(range(self._n_min_trials))
        finished, failed, busy = self._taken(study, but=trial.number)
        # a point nobody holds; else one another worker runs (it may still fail); else a failed one; a finished one last
        free = (
            [i for i in candidates if i not in finished and i not in failed and i not in busy]
            or [i for i in candidates if i not in finished and i not in failed]
            or [i for i in candidates if i not in finished]
            or candidates
        )
        # a retry of a trial stopped before it drew its parameters takes the point that one was given (its grid_id kept);
        # trial k takes point k while it is free, as GridSampler does; else one chosen by the trial's number, which
        # workers do not share (a shared random state drew the same point in two workers starting together)
        given = trial.system_attrs.get("grid_id") if self._same_search_space(trial.system_attrs.get("search_space", {})) else None
        preferred = given if given is not None else trial.number
        point = preferred if preferred in free else free[trial.number % len(free)]
        study._storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        study._storage.set_trial_system_attr(trial._trial_id, "grid_id", point)

    def _agrees(self, point: tuple[Any, ...], name: str, value: Any) -> bool:
        return self._key([point[self._param_names.index(name)]]) == self._key([value])
