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
from cae.training import EpochReport, ShortenTraining, StopTraining
from search.cli import main as search_command
from search.trials import objective as objective_module
from search.trials.objective import Objective
from search.trials.record import read_trial
from tests.conftest import SPACES


def _report(epoch: int, epochs: int) -> EpochReport:
    return EpochReport(epoch, epochs, train_mse=0.01, val_mse=0.01, seconds=1.0)


def test_an_epoch_that_would_end_past_the_deadline_is_not_begun() -> None:
    objective = Objective.__new__(Objective)  # only its deadline is read
    objective.deadline = time.time() + 60
    objective._check_deadline(_report(2, 5), seconds=10)  # three more 10-s epochs end in time: go on
    with pytest.raises(StopTraining, match=r"^stopped after epoch 2 of 5 by the run's deadline: another epoch \(90 s\)"):
        objective._check_deadline(_report(2, 5), seconds=90)
    objective._check_deadline(_report(5, 5), seconds=90)  # the last epoch: nothing left to stop
    objective.deadline = None
    objective._check_deadline(_report(2, 5), seconds=10**6)  # no deadline, no stop


def test_a_plan_that_would_end_past_the_deadline_is_shortened_to_the_epochs_that_end_in_time() -> None:
    objective = Objective.__new__(Objective)
    objective.deadline = time.time() + 65
    with pytest.raises(ShortenTraining, match=r"^shortened to 5 of 10 epochs after epoch 2 by the run's deadline") as short:
        objective._check_deadline(_report(2, 10), seconds=20)  # 3 more 20-s epochs end in 65 s, not 8
    assert short.value.epochs == 5
    objective._check_deadline(_report(2, 5), seconds=20)  # the 3 planned fit: nothing to shorten


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


def test_a_deadline_at_that_has_passed_starts_no_trial(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a SLURM array task that waited in the queue past the array's deadline (search.runtime.slurm.worker_command)
    assert search_command(["run", str(SPACES / "tiny.yaml"), "--deadline-at", str(time.time() - 1)]) == 0
    assert "passed before this run started: no trial starts" in capsys.readouterr().out
    assert not (in_tmp / "studies" / "tiny.db").exists()


def test_a_deadline_in_seconds_and_at_a_time_together_are_refused_in_one_line(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", str(SPACES / "tiny.yaml"), "--deadline", "60", "--deadline-at", str(time.time() + 60)]
    assert search_command(argv) == 2
    assert capsys.readouterr().err == "error: command line: --deadline-at: expected --deadline S or --deadline-at T, not both\n"
