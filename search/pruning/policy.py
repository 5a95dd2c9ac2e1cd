"""How a trial asks, after each epoch, whether to stop: one policy per kind of study pruner, chosen once for a study
(:func:`epoch_policy`) rather than after every epoch of every trial.

- :class:`ReadsCurves`: the project's pruners (:class:`~search.pruning.curve_pruner.CurvePruner`) read the curve the
  trial recorded, so they work with any number of objectives;
- :class:`Reports`: Optuna's pruners (median, Hyperband, ...) through ``trial.report`` and ``trial.should_prune``;
- :class:`NeverPrunes`: a study of several objectives with any other pruner (``Trial.report`` itself refuses several
  objectives: optuna #3450).

After a trial's last epoch no policy prunes: there is nothing left to save, and the trial completes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from search.pruning.curve_pruner import CurvePruner
from search.trials.objectives import is_multi_objective

if TYPE_CHECKING:
    import optuna

    from cae.training import EpochReport  # a type only: the policy is chosen before torch is needed


class EpochPolicy(Protocol):
    def reason(
        self, trial: optuna.Trial, report: EpochReport, latent_size: int, val_mse: Sequence[float], baseline: float | None
    ) -> str | None:
        """Why ``trial`` should stop after the epoch of ``report`` (``val_mse``: its validation curve so far; ``baseline``:
        PCA's MSE at its latent size, if known), or ``None`` to go on."""
        ...


@dataclass(frozen=True)
class ReadsCurves:
    """A :class:`~search.pruning.curve_pruner.CurvePruner` asked from the values the trial holds, without reloading it."""

    pruner: CurvePruner

    def reason(
        self, trial: optuna.Trial, report: EpochReport, latent_size: int, val_mse: Sequence[float], baseline: float | None
    ) -> str | None:
        if report.epoch == report.epochs:  # the finished trial joins the front's comparison instead
            return None
        return self.pruner.reason_for(trial.study, latent_size, val_mse, number=trial.number, baseline=baseline)


@dataclass(frozen=True)
class Reports:
    """Optuna's pruners: each epoch's validation MSE reported to the trial, and Optuna asked whether it should stop."""

    def reason(
        self, trial: optuna.Trial, report: EpochReport, latent_size: int, val_mse: Sequence[float], baseline: float | None
    ) -> str | None:
        trial.report(report.val_mse, report.epoch)
        pruned = report.epoch < report.epochs and trial.should_prune()
        return f"pruned at epoch {report.epoch}/{report.epochs} (val MSE {report.val_mse:.5f})" if pruned else None


@dataclass(frozen=True)
class NeverPrunes:
    """A study of several objectives whose pruner reads no curves: its trials run every epoch."""

    def reason(
        self, trial: optuna.Trial, report: EpochReport, latent_size: int, val_mse: Sequence[float], baseline: float | None
    ) -> str | None:
        return None


def epoch_policy(study: optuna.Study) -> EpochPolicy:
    """The policy of ``study``'s pruner (and number of objectives)."""
    if isinstance(study.pruner, CurvePruner):
        return ReadsCurves(study.pruner)
    if is_multi_objective(study):
        return NeverPrunes()
    return Reports()
