"""Which running trials are alive: a heartbeat on every trial, and the retry of a trial whose worker died.

RDB storages beat with Optuna's own heartbeat (a thread that ``study.optimize`` runs). Optuna's
JournalStorage has none (checked in Optuna 5.0), so a trial stored in a journal file beats here:
a thread writes the time into the trial's system attributes, and every worker that looks for
work fails the running trials whose last beat is older than the grace period, as Optuna's
``fail_stale_trials`` does for RDB, retrying them with the same Optuna callback.
"""

from __future__ import annotations

import threading
import time
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState

from search.trials.record import read_trial, write_stored_reason

BEAT = "cae:heartbeat"


def stale_trial_retry() -> RetryHeartbeatStaleTrialCallback:
    """A failed stale trial comes back once, as a waiting trial with the same parameters."""
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8, and the warning says nothing to a user
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=1)


def _optuna_beats(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage)


class Heartbeat:
    """``with Heartbeat(trial, seconds):`` beats every ``seconds`` while the trial runs (journal storages only)."""

    def __init__(self, trial: optuna.Trial, seconds: float) -> None:
        self.trial = trial
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        self.trial.storage.set_trial_system_attr(self.trial._trial_id, BEAT, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self._beat()
            except Exception:  # a lost beat only makes the trial look dead sooner; training goes on
                return

    def __enter__(self) -> Heartbeat:
        if not _optuna_beats(self.trial.storage):
            self._beat()
            self._thread = threading.Thread(target=self._run, name=f"heartbeat of trial {self.trial.number}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def silence_reason(trial: FrozenTrial, grace: float) -> str:
    """The ``reason`` a trial failed for its worker's silence records."""
    worker = read_trial(trial).worker or "its worker"
    return f"its worker {worker} stopped beating for over {grace:g} s (killed, or its machine lost); retried once with the same parameters"


def fail_stale_trials(study: optuna.Study, grace: float) -> None:
    """Fail the running trials that stopped beating ``grace`` seconds ago, each with its ``reason``, and queue their retries.

    Optuna's own ``fail_stale_trials`` (RDB storages) fails them without a word, and a finished trial takes no
    attributes, so the reason is written first, while the trial still runs.
    """
    storage = study._storage  # Optuna's own fail_stale_trials reaches it the same way
    if _optuna_beats(storage):
        stale = storage._get_stale_trial_ids(study._study_id)  # what Optuna's fail_stale_trials asks, before it fails them
    else:
        now = time.time()
        stale = [
            t._trial_id
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if now - (t.system_attrs.get(BEAT) or t.datetime_start.timestamp()) > grace
        ]
    for trial_id in stale:
        try:
            write_stored_reason(storage, trial_id, silence_reason(storage.get_trial(trial_id), grace))
            failed = storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker failed it first, and retries it
            continue
        if failed:
            stale_trial_retry()(study, storage.get_trial(trial_id))
