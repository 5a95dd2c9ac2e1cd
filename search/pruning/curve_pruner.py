"""What the project's own pruners share: they read a trial's curve from its user attributes and say why it stops.

Optuna's pruners answer ``prune() -> bool`` from values given to ``Trial.report``, which Optuna 5.0 still
refuses in multi-objective studies (optuna #3450). These read the curve each trial records instead
(``val_mse`` and its sizes), so they work with several objectives, and they give the reason a trial
stopped, which the objective records. :class:`search.pruning.latent_pruner.LatentPercentilePruner` and
:class:`search.pruning.rungs.ParetoHalvingPruner` are the two.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial


class CurvePruner(optuna.pruners.BasePruner):
    """A pruner that reads stored curves and says why a trial should stop (``None``: it goes on)."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self.reason(study, trial) is not None

    @abstractmethod
    def reason(self, study: optuna.Study, trial: FrozenTrial) -> str | None:
        """Why ``trial`` (its curve so far in its user attributes) should stop now, or ``None``."""

    @abstractmethod
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
        trial's own (left out of its peers); ``baseline`` is PCA's MSE at its latent size, if known. The
        objective asks this after each epoch, from the values it holds, without reloading the trial."""
