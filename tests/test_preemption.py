"""A worker told to stop (SIGTERM, SLURM's SIGUSR1 warning) hands its trial back and exits at once (issue 22 item 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.runtime.preemption import HandedBack, stopping_on
from search.runtime.storage import open_storage
from search.runtime.workers import work
from tests.conftest import SPACES

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def test_sigusr1_mid_trial_fails_it_with_the_reason_and_queues_its_parameters_again() -> None:
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGUSR1)  # as sbatch --signal=USR1@120 warns before the time limit
            time.sleep(30)  # a trial that would go on: the signal cuts it short
        return x

    before = signal.getsignal(signal.SIGUSR1)
    started = time.monotonic()
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, objective, 5, grace=180)
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGUSR1) is before  # the process's handlers are put back
    stop = raised.value
    assert (stop.signal, stop.exit_code, stop.trial, stop.retry) == ("SIGUSR1", 138, 1, 2)
    stopped, retry = study.trials[1], study.trials[2]
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["reason"].startswith("stopped by SIGUSR1")
    assert retry.state == TrialState.WAITING and retry.params == stopped.params
    assert retry.system_attrs["failed_trial"] == 1
    work(study, lambda t: t.suggest_float("x", 0, 1), 5, grace=180)  # the next worker takes the queued trial first
    assert study.trials[2].state == TrialState.COMPLETE and study.trials[2].params == stopped.params
    assert len(study.get_trials(states=FINISHED)) == 5


def test_a_signal_between_trials_stops_the_worker_with_nothing_to_hand_back() -> None:
    study = optuna.create_study()
    with pytest.raises(HandedBack) as raised, stopping_on():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert raised.value.trial is None and raised.value.exit_code == 143
    assert "between trials" in raised.value.describe()
    assert study.trials == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost exception, as Python reports it
def test_a_stop_whose_exception_python_swallowed_still_stops_the_worker_after_its_trial() -> None:
    # A signal that finds the main thread in a __del__ (or a weakref callback: a SQLAlchemy garbage collection did)
    # raises there, and Python only prints "Exception ignored"; the worker loop asks for the stop again.
    class Collected:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGTERM)

    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        Collected()  # collected at once: the signal's exception is raised in its __del__, and lost
        return trial.suggest_float("x", 0, 1)

    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, objective, 5, grace=180)
    assert raised.value.signal == "SIGTERM" and raised.value.trial is None
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]  # the trial it could not stop ran to its end


def test_a_signal_inside_a_database_write_waits_for_the_write_then_hands_the_trial_back(tmp_path: Path) -> None:
    # CI once caught a Ctrl-C inside the objective's first write: the stop cut SQLAlchemy's commit short, the trial's
    # SQLite connection kept its lock, and Optuna's record of the failure met "database is locked".
    from sqlalchemy import event

    storage = open_storage(f"sqlite:///{tmp_path}/s.db")
    study = optuna.create_study(storage=storage)
    signalled: list[bool] = []

    def on_write(_: object, __: object, statement: str, *___: object) -> None:  # inside SQLAlchemy, the write's lock held
        if statement.startswith(("INSERT", "UPDATE")) and not signalled:
            signalled.append(True)
            signal.raise_signal(signal.SIGINT)

    def objective(trial: optuna.Trial) -> float:
        event.listen(storage.engine, "after_cursor_execute", on_write)
        trial.set_user_attr("written", True)
        time.sleep(5)  # the training the stop cuts short
        return 0.0

    started = time.monotonic()
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, objective, 3, grace=180)
    assert signalled and time.monotonic() - started < 4
    stop = raised.value
    assert (stop.signal, stop.trial, stop.retry) == ("SIGINT", 0, 1)
    stopped = optuna.load_study(study_name=study.study_name, storage=open_storage(f"sqlite:///{tmp_path}/s.db")).trials[0]
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["written"] is True  # the write was not cut short
    assert stopped.user_attrs["reason"].startswith("interrupted (Ctrl-C)")
    assert study.trials[1].state == TrialState.WAITING


@pytest.mark.serial  # a SIGTERM timed mid-trial
@pytest.mark.slow  # two fresh processes importing torch: a minute or two on 2 busy cores
def test_sigterm_mid_trial_hands_the_trial_back_and_a_second_run_completes_the_study(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "search", "run", str(SPACES / "tiny.yaml"), "--trials", "3", "--storage", "studies/tiny.journal"]
    command += ["--set", "data.subset=300", "--set", "train.epochs=3"]  # three epochs: a trial to stop in its middle
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "studies" / "tiny.journal"
    deadline = time.monotonic() + 240
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    study = optuna.load_study(study_name="tiny", storage=open_storage(str(journal)))
    running = []
    while not running and time.monotonic() < deadline:  # a trial past its first epoch, not yet finished
        running = [t for t in study.get_trials(states=(TrialState.RUNNING,)) if len(t.user_attrs.get("val_mse", [])) == 1]
        time.sleep(0.02)
    assert running, "no trial reached its first epoch"
    process.send_signal(signal.SIGTERM)
    sent, sent_at = time.monotonic(), time.time()
    out, err = process.communicate(timeout=60)
    took = time.monotonic() - sent
    stopped = study.get_trials()[running[0].number]
    failed_after = stopped.datetime_complete.timestamp() - sent_at
    print(f"trial {stopped.number} failed {failed_after:.2f} s after SIGTERM, the process exited after {took:.2f} s (grace period 180 s)")
    assert process.returncode == 143, out + err
    assert failed_after < 5 and took < 30  # SLURM's KillWait is 30 s by default
    assert stopped.state == TrialState.FAIL
    assert stopped.user_attrs["reason"].startswith("stopped by SIGTERM (a time limit, scancel or preemption)")
    assert f"stopped by SIGTERM: trial {stopped.number} failed and was queued again" in err
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [(t.params, t.system_attrs["failed_trial"]) for t in waiting] == [(stopped.params, stopped.number)]
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(study.get_trials(states=FINISHED)) == 3
    retried = study.get_trials()[waiting[0].number]
    assert retried.state in FINISHED and retried.params == stopped.params
