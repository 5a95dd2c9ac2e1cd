"""A dead worker's trial on SQLite is failed with its reason, whichever check finds it stale first."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from search.runtime.liveness import fail_stale_trials
from search.runtime.storage import open_storage


def _dead_trial(tmp_path: Path) -> tuple[optuna.Study, int]:
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", grace=2)
    study = optuna.create_study(storage=storage, study_name="s")
    dead = study.ask()
    dead.suggest_float("lr", 1e-4, 1e-2, log=True)
    storage.record_heartbeat(dead._trial_id)
    storage.grace_period = 0  # stale once SQLite's whole-second beat time is past, rather than after two seconds
    time.sleep(1.1)
    return study, dead.number


def test_a_trial_that_optunas_own_check_fails_keeps_why(tmp_path: Path) -> None:
    # Optuna runs this before every trial of study.optimize; a trial that went stale just after our own check
    # was failed there with no reason (seen in CI's full-disk test)
    study, dead = _dead_trial(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials()
    assert trials[dead].state == TrialState.FAIL
    assert "stopped beating for over 0 s" in trials[dead].user_attrs["reason"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == dead]
    assert retry.state == TrialState.WAITING and retry.params == trials[dead].params


def test_our_check_fails_it_once_with_why_and_retries_it_once(tmp_path: Path) -> None:
    study, dead = _dead_trial(tmp_path)
    fail_stale_trials(study, grace=0)
    fail_stale_trials(study, grace=0)
    trials = study.get_trials()
    assert trials[dead].state == TrialState.FAIL and "stopped beating" in trials[dead].user_attrs["reason"]
    assert len(trials) == 2 and trials[1].state == TrialState.WAITING
