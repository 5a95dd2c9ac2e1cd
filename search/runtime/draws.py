"""Distinct draws for workers that start together: the sampler is seeded by the trial's number.

A sampler seeded once per process draws the same first configurations in every process that starts
with the same seed: three machines joining a fresh study each drew trial 0's parameters again (issue 22).
Trial numbers are handed out by the storage and never repeat, so a sampler made afresh for each trial
with ``seed + trial.number`` draws differently in every trial, whichever worker and machine runs it,
and needs no host, pid or clock.

What this keeps reproducible: with one worker, a seeded study draws the same configurations on every
run from scratch, and a resumed study continues (trial ``k`` is always seeded ``seed + k``). With several
workers, a trial drawn independently (the random sampler, TPE's start-up trials, the grid sampler's pick)
is still a function of its number alone; which worker runs which number, and what TPE or NSGA-II draws from
the trials already finished at that moment, depend on timing and are not reproducible.

The QMC and grid samplers are the exceptions: each needs the *same* seed in every worker (QMC's storage hands
out indices into one sequence; the grid sampler's grid ids index one seeded shuffle of the grid, and it picks
among the ids no trial has visited), so they are made once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from search.factories import make_sampler


class SeedPerTrial(BaseSampler):
    """``make(number)``'s sampler for each trial: built again in :meth:`before_trial` with the trial's number."""

    def __init__(self, make: Callable[[int], BaseSampler]) -> None:
        self._make = make
        self._sampler = make(0)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._sampler = self._make(trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution) -> Any:
        return self._sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # the seed is the trial number's: nothing to reseed
        pass


# Samplers whose seed orders one sequence that every worker must share: QMC's points, and the grid sampler's
# shuffled grid (its grid ids index that order, so a sampler seeded per trial would map a visited id to another point).
SHARED_SEED = ("qmc", "grid")


def trial_seeded_sampler(cfg: dict[str, Any], *, grid: dict[str, list[Any]] | None = None) -> BaseSampler:
    """The sampler of ``cfg`` (a space's ``study.sampler``), seeded by each trial's number; QMC's shared seed kept."""
    if cfg["type"] in SHARED_SEED:
        return make_sampler(cfg, grid=grid)
    return SeedPerTrial(lambda number: make_sampler(cfg, seed_offset=number, grid=grid))
