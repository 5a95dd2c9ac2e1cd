"""A run's deadline (``search.optimize(deadline=...)``, ``search run|refit --deadline S``): trials end their training in time.

A refit planned within a budget can still run past it when the machine slows down; with a deadline each trial stops after
the last epoch that ends before it, keeps its best epoch's weights, completes, and says why it stopped.
"""

from __future__ import annotations

import time
import types
from pathlib import Path

import pytest
from optuna.trial import TrialState

import search
from cae.training import EpochReport, StopTraining
from search.trials import objective as objective_module
from search.trials.objective import Objective
from search.trials.record import read_trial
from tests.conftest import SPACES


def _report(epoch: int, epochs: int) -> EpochReport:
    return EpochReport(epoch, epochs, train_mse=0.01, val_mse=0.01, seconds=1.0)


def test_an_epoch_that_would_end_past_the_deadline_is_not_begun() -> None:
    objective = Objective.__new__(Objective)  # only its deadline is read
    objective.deadline = time.time() + 60
    objective._check_deadline(_report(2, 5), seconds=10)  # another 10-s epoch ends in time: go on
    with pytest.raises(StopTraining, match=r"^stopped after epoch 2 of 5 by the run's deadline: another epoch \(90 s\)"):
        objective._check_deadline(_report(2, 5), seconds=90)
    objective._check_deadline(_report(5, 5), seconds=90)  # the last epoch: nothing left to stop
    objective.deadline = None
    objective._check_deadline(_report(2, 5), seconds=10**6)  # no deadline, no stop


def test_a_trial_at_the_deadline_stops_after_its_epoch_keeps_its_best_weights_and_completes(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the objective's clock reads an hour and more ahead: after its first epoch the trial is past a 1-hour deadline
    late = types.SimpleNamespace(perf_counter=time.perf_counter, time=lambda: time.time() + 4000)
    monkeypatch.setattr(objective_module, "time", late)
    study = search.optimize(SPACES / "tiny.yaml", trials=1, deadline=3600, overrides=["data.subset=300", "train.epochs=3"])
    (trial,) = study.trials
    record = read_trial(trial)
    assert trial.state == TrialState.COMPLETE and record.epochs == 1 and record.best_epoch == 1
    assert record.stopped is not None and record.stopped.startswith("stopped after epoch 1 of 3 by the run's deadline")
    assert record.test_mse is not None and record.train["epochs"] == 3  # tested, and still says what it was set to
    assert search.load_trial("tiny", trial=0).model is not None  # its weights were uploaded


def test_a_run_without_a_deadline_records_no_stop(in_tmp: Path) -> None:
    study = search.optimize(SPACES / "tiny.yaml", trials=1, overrides=["data.subset=300", "train.epochs=2"])
    record = read_trial(study.trials[0])
    assert record.epochs == 2 and record.stopped is None
