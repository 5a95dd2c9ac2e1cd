"""Time limits and preemption: a worker told to stop hands its trial back instead of leaving it running.

A scheduler ends a job with a signal first and SIGKILL a grace time later (SLURM: SIGTERM at the time
limit, on ``scancel`` and on preemption, then SIGKILL after ``KillWait``; ``sbatch --signal=USR1@120`` sends
SIGUSR1 that many seconds before the limit). Left to Python's default a SIGTERM kills the worker at once,
and its trial stays RUNNING until another worker's grace check fails it (180 s by default), if another
worker is still there. With :func:`stopping_on` around a worker's loop the signal instead stops the trial
between two batches: it is recorded failed with the signal as its ``reason``, queued again with the same
parameters (a WAITING trial that the next worker, or the requeued job, takes first), and the worker exits
with ``128 + the signal's number`` (143 for SIGTERM, 138 for SIGUSR1, 140 for SIGUSR2), as a shell reports a process
killed by that signal. Ctrl-C (SIGINT) hands its trial back the same way, and the command exits with 130 as it
always did: "Ctrl-C, then the same command" finishes the remaining trials, the interrupted one included.

The trial queued again carries what identifies its point beside its parameters (the grid sampler's ``grid_id``, an
enqueued trial's ``fixed_params``), as Optuna's own retry of a stale trial does: a grid study's hand-back trains the
point it interrupted, not the next one (search.grid_points).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

# SIGTERM: a time limit, scancel, preemption; SIGUSR1: the warning that sbatch --signal=USR1@SECONDS asks for;
# SIGUSR2: the one that submitit asks for (search.runtime.slurm), whose default action would kill the worker outright.
# SIGINT: Ctrl-C, and what run_workers sends its workers when it is interrupted.
SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
# What identifies a queued trial's point besides its parameters: kept on its retry, as RetryHeartbeatStaleTrialCallback keeps them.
_POINT_ATTRS = ("grid_id", "search_space", "fixed_params")


class HandedBack(KeyboardInterrupt):
    """A stop signal reached the worker; raised where its main thread is (a trial's batch, or the wait for work).

    A KeyboardInterrupt, because Optuna then records the running trial failed and lets the exception through
    (a plain Exception would be caught as the trial's crash, and the study would go on).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signal = signal.Signals(signum).name
        self.exit_code = 128 + signum
        self.trial: int | None = None  # the trial it stopped, if one was running
        self.retry: int | None = None  # the waiting trial that takes its parameters

    @property
    def _what(self) -> str:
        return "interrupted (Ctrl-C)" if self.signal == "SIGINT" else f"stopped by {self.signal}"

    @property
    def reason(self) -> str:
        why = "" if self.signal == "SIGINT" else " (a time limit, scancel or preemption)"
        return f"{self._what}{why}; handed back: queued again with the same parameters"

    def describe(self) -> str:
        """What happened, in one line, for the command to print."""
        if self.trial is None:
            return f"{self._what} between trials; nothing was running, finished trials are kept"
        if self.retry is None:
            return f"{self._what}: trial {self.trial} failed and could not be queued again (the study's storage refused the write)"
        return f"{self._what}: trial {self.trial} failed and was queued again with the same parameters as trial {self.retry}"


@contextmanager
def stopping_on(signals: tuple[signal.Signals, ...] = SIGNALS) -> Iterator[None]:
    """``with stopping_on():`` turns the first of ``signals`` into :class:`HandedBack` in the main thread; later
    ones are ignored once the hand-back has begun (:func:`handing_back`). The signal also stays :func:`pending`:
    Python swallows an exception raised where the signal found the main thread in a weakref callback or a
    ``__del__`` (seen at a SQLAlchemy garbage collection), so the worker loop asks again between trials. The
    previous handlers are put back on leaving (a library call leaves the process as it found it). Outside the main
    thread, where Python cannot take signals, it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        if not _STATE["signal"]:
            _STATE.update(signal=signum, since=time.monotonic())
        # held for a while only: a storage that hangs can still be left with a second signal (not the one that
        # run_workers forwards on a Ctrl-C that the terminal sent every worker already, a moment later)
        patient = time.monotonic() - _STATE["since"] < HOLD_SECONDS
        if _STATE["handing_back"] or (_STATE["held"] and patient):
            return
        if patient and _in_storage(frame):
            # Raised inside a write, the stop left the trial's SQLite connection holding its lock, and Optuna's own
            # record of the failure then met "database is locked" (seen in CI): the signal comes again a moment later,
            # to land once the write is done.
            threading.Timer(REDELIVERY_SECONDS, _redeliver, (signum,)).start()
            return
        raise HandedBack(_STATE["signal"])

    previous = {number: signal.signal(number, stop) for number in signals}
    _STATE.update(signal=0, handing_back=False, held=False, since=0.0)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _STATE.update(signal=0, handing_back=False, held=False, since=0.0)


# of the stopping_on() in force (one per process: the main thread's)
_STATE: dict[str, Any] = {"signal": 0, "handing_back": False, "held": False, "since": 0.0}
HOLD_SECONDS = 5.0  # Optuna's ask and tell take milliseconds; a hold far longer is a storage that hangs
REDELIVERY_SECONDS = 0.05
# Python code that talks to a database: a stop raised in it can leave a transaction open (its lock held)
_STORAGE_MODULES = ("sqlalchemy.", "optuna.storages.", "sqlite3", "psycopg2", "psycopg.")


def _redeliver(signum: int) -> None:
    # to the main thread, whose sleeps and waits a signal interrupts (one raised in this thread would wait for them),
    # and only while the stopping_on() that deferred it is in force (Python's default would kill)
    if _STATE["signal"] == signum:
        signal.pthread_kill(threading.main_thread().ident, signum)


def _in_storage(frame: FrameType | None) -> bool:
    """Whether the main thread, stopped at ``frame``, is inside a database call."""
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith(_STORAGE_MODULES):
            return True
        frame = frame.f_back
    return False


@contextmanager
def holding() -> Iterator[None]:
    """Within ``with holding():`` a stop signal waits (:func:`pending`) instead of raising; :func:`released` lets it go
    (a further signal once it has waited :data:`HOLD_SECONDS` raises all the same).

    Around Optuna's bookkeeping of a trial (``study.ask`` and ``tell`` in ``study.optimize``): a stop raised there left
    the trial it had just made running, with neither a reason nor a heartbeat, so no grace check ever failed it and
    every later run of the study waited on it for ever. Held, the stop is raised where the objective starts (the trial
    is then handed back) or after the trial is told (between trials).
    """
    before = _STATE["held"]
    _STATE["held"] = True
    try:
        yield
    finally:
        _STATE["held"] = before


@contextmanager
def released() -> Iterator[None]:
    """Within :func:`holding`, the part where a stop signal raises at once (the objective's training); a held one raises on entering."""
    before = _STATE["held"]
    _STATE["held"] = False
    try:
        if _STATE["signal"] and not _STATE["handing_back"]:
            raise HandedBack(_STATE["signal"])
        yield
    finally:
        _STATE["held"] = before


def pending() -> HandedBack | None:
    """The stop that a signal asked for, if one did (its exception lost, or held by :func:`holding`): to raise between trials."""
    return HandedBack(_STATE["signal"]) if _STATE["signal"] else None


def handing_back() -> None:
    """From here on a further stop signal is ignored: the hand-back (two writes) must not be cut short."""
    _STATE["handing_back"] = True


def hand_back(study: optuna.Study, number: int) -> int | None:
    """Queue trial ``number``'s parameters again (a WAITING trial linked to it, as Optuna's retry callback links
    its retries); the new trial's number, or ``None`` when the trial is not failed (nothing to hand back)."""
    trial: FrozenTrial = study.get_trials(deepcopy=False)[number]
    if trial.state != TrialState.FAIL:
        return None
    history = [*trial.system_attrs.get("retry_history", []), number]
    point = {key: trial.system_attrs[key] for key in _POINT_ATTRS if key in trial.system_attrs}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            system_attrs={**point, "failed_trial": number, "retry_history": history},
        )
    )
    return _newest_retry(study, number)


def _newest_retry(study: optuna.Study, number: int) -> int | None:
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    retries = [t.number for t in waiting if t.system_attrs.get("failed_trial") == number]
    return max(retries) if retries else None
