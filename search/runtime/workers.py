"""Workers on one study: the loop each of them runs, and ``--workers K`` processes on one machine.

The storage is all that workers share (design §1.5). Any number of them, started by ``--workers``
here or by hand on other machines with the same command, join one study and stop together when
it holds N finished trials: a worker starts a trial only while finished plus running trials
are fewer than N, and waits while the others' running trials may still fail (a dead worker's
trial is failed after the grace period and retried with the same parameters).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from cae.data import Splits, load_splits
from cae.pca import PcaBaseline, pca_baseline
from search.command_line import EXIT_INTERRUPTED
from search.display import FINISHED, Display, finished, quiet_optuna
from search.factories import make_pruner
from search.grid_points import PointGridSampler
from search.pruning.policy import epoch_policy
from search.runtime.draws import trial_seeded_sampler
from search.runtime.liveness import fail_stale_trials
from search.runtime.preemption import HandedBack, hand_back, handing_back, holding, pending, released, stopping_on
from search.runtime.slurm import worker_name
from search.runtime.storage import (
    EXIT_STORAGE,
    StorageWriteError,
    heartbeat_seconds,
    mask,
    open_storage,
    record_artifact_dir,
    study_dir,
    write_failure,
    writing,
)
from search.sample import CHECK_SAMPLES
from search.space import Space, load_space
from search.trials.objective import Objective, TrialFailed
from search.trials.record import read_trial, write_reason, write_stored_reason
from search.trials.start import resolve_start

MAX_FAILURES_IN_A_ROW = 10  # training crashes: something is wrong beyond one configuration
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Job:
    """What a worker needs to join a study: plain values, so that it pickles into a spawned process."""

    space_file: str
    overrides: tuple[str, ...]
    study: str
    url: str
    trials: int
    timeout: float | None
    grace: int
    grid: dict[str, list[Any]] | None = None  # the grid sampler's points, drawn once by the command
    deadline: float | None = None  # a wall-clock time (time.time()) by which trials stop training and none starts


@dataclass
class FailureGuard:
    """Stops a worker whose trials only fail, instead of looping for ever (failed trials do not count)."""

    failures: int = 0
    refusals: int = 0
    reason: str = ""

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self.failures = self.refusals = 0
            return
        reason = read_trial(trial).reason or ""
        if reason.startswith("surplus"):
            return
        if reason.startswith("refused"):
            self.refusals += 1
        else:
            self.failures += 1
        if self.failures >= MAX_FAILURES_IN_A_ROW or self.refusals >= CHECK_SAMPLES:
            self.reason = f"{max(self.failures, self.refusals)} trials in a row failed; the last: {reason}"


def _counts(study: optuna.Study) -> tuple[int, int]:
    trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return len(trials) - running, running


def work(
    study: optuna.Study,
    objective: Objective,
    trials: int,
    *,
    grace: int,
    timeout: float | None = None,
    callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = (),
    stopping: Callable[[], bool] = lambda: False,
    console: Console | None = None,
    where: str = "",
) -> None:
    """Run trials of ``study`` until it holds ``trials`` finished ones (with whatever other workers there are).

    A write that the database or the artifact folder refuses (a full disk, a read-only mount) fails the trial
    it hit with that reason, where the database still takes the write, and raises :class:`StorageWriteError`
    naming ``where`` (the database's URL) or the artifact folder.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    waiting_said = False
    while deadline is None or time.monotonic() < deadline:
        if stop := pending():  # a stop signal whose exception was lost (search.runtime.preemption.stopping_on)
            handing_back()
            raise stop
        fail_stale_trials(study, grace)
        done, running = _counts(study)
        if done >= trials or stopping():
            return
        if done + running >= trials:
            if console and not waiting_said:
                console.print(
                    f"waiting: {running} running trial(s) could still fail; a dead worker's trial is retried after {grace} s",
                    highlight=False,
                )
                waiting_said = True
            time.sleep(POLL_SECONDS)
            continue
        if running and done + running == trials - 1:
            # The last trial: other workers may be reaching for it at this very moment. A random
            # pause lets the first one's trial show, so that the others wait instead; the rare
            # remaining tie is caught by the objective (a "surplus" trial that fails at once).
            time.sleep(random.uniform(0, 1))
            if sum(_counts(study)) >= trials:
                continue
        started: list[optuna.Trial] = []  # this call's trial, for a stop that finds it outside the objective
        try:
            with writing(f"the database {where}"), holding():  # a stop waits out Optuna's ask and tell (search.runtime.preemption)
                study.optimize(
                    _stopping_on_refused_writes(objective, where, started),
                    n_trials=1,
                    catch=(TrialFailed,),
                    callbacks=list(callbacks),
                    gc_after_trial=True,
                )
        except HandedBack as stop:  # Optuna recorded the trial failed; its parameters go back to the study
            handing_back()
            if stop.trial is None and started:  # a second signal, not held, in Optuna's bookkeeping around the objective
                stop.trial = _fail_if_running(study, started[0], stop.reason)
            if stop.trial is not None:
                try:
                    stop.retry = hand_back(study, stop.trial)
                except Exception:  # a storage that takes no write: the command says so (HandedBack.describe)
                    stop.retry = None
            raise
        except StorageWriteError as error:
            raise StorageWriteError(f"{error}; {_fail_own_trial(study, str(error), getattr(error, 'trial_id', None))}") from None


def _stopping_on_refused_writes(
    objective: Objective, where: str, started: list[optuna.Trial] | None = None
) -> Callable[[optuna.Trial], float | tuple[float, ...]]:
    """``objective``, raising :class:`StorageWriteError` with the trial's reason recorded when a write was refused
    (also under a failure that the objective recorded, such as a crash whose traceback could not be written):
    the next trial would meet the same full disk, and the trial still runs, so its reason can still be written.
    A stop signal or Ctrl-C raises :class:`HandedBack` with the trial's number and reason; ``started`` takes the trial."""

    def run(trial: optuna.Trial) -> float | tuple[float, ...]:
        if started is not None:
            started.append(trial)
        try:
            with released():  # a stop held while Optuna made the trial raises here, so that the trial is handed back
                return objective(trial)
        except KeyboardInterrupt as interrupt:  # written while the trial still runs: a failed trial takes no attributes
            handing_back()
            # a Ctrl-C where no stopping_on() is in force (another thread's handler, a notebook) is handed back too
            stop = interrupt if isinstance(interrupt, HandedBack) else HandedBack(signal.SIGINT)
            stop.trial = trial.number
            with contextlib.suppress(Exception):  # a storage that refuses the reason must not turn the stop into a crash
                write_reason(trial, stop.reason)
            raise stop from None
        except StorageWriteError as error:
            error.trial_id = trial._trial_id  # type: ignore[attr-defined]
            raise
        except Exception as error:
            failure = write_failure(error)
            if failure is None:
                raise
            problem = f"{failure[1] or f'the database {where}'}: cannot be written ({failure[0]})"
            with contextlib.suppress(Exception):  # a database that takes no write at all keeps the trial running
                write_reason(trial, f"storage: {problem}")
            refused = StorageWriteError(problem)
            refused.trial_id = trial._trial_id  # type: ignore[attr-defined]
            raise refused from None

    return run


def _fail_if_running(study: optuna.Study, trial: optuna.Trial, reason: str) -> int | None:
    """Fail ``trial`` with ``reason`` if the stop left it running (its number, to hand back); ``None`` if it had ended."""
    storage = study._storage
    try:
        if storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
            return None
        write_stored_reason(storage, trial._trial_id, reason)
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except UpdateFinishedTrialError:  # it ended meanwhile: what it recorded stands
        return None
    except Exception:  # a storage that takes no write: a later run fails it after the grace period
        return None
    return trial.number


def _fail_own_trial(study: optuna.Study, problem: str, trial_id: int | None) -> str:
    """Fail this process's trial that a refused write left running, with the problem as its reason (a small write
    often fits where the one that failed did not); what happened to it, and what the study keeps, in words."""
    me = worker_name()
    trials = study.get_trials(deepcopy=False)
    mine = [t for t in trials if t._trial_id == trial_id or (trial_id is None and read_trial(t).worker == me)]
    kept = f"the study's {finished(study)} finished trials are kept; free space (or make it writable) and run the same command again"
    if not mine:
        return kept
    trial = max(mine, key=lambda t: t.number)
    if trial.state == TrialState.RUNNING:  # Optuna could not write its end
        try:
            if read_trial(trial).reason is None:
                write_stored_reason(study._storage, trial._trial_id, f"storage: {problem}")
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except Exception:  # the database takes no write at all: a later run fails the trial after the grace period
            return f"trial {trial.number} stays running in the database until a later run fails it after the grace period; {kept}"
        trial = study._storage.get_trial(trial._trial_id)
    if trial.state != TrialState.FAIL:
        return kept
    said = "with this reason" if read_trial(trial).reason is not None else "(the database could not take its reason)"
    return f"trial {trial.number} failed {said}; {kept}"


def linear_baseline(data: Splits, console: Console) -> PcaBaseline:
    """PCA of this run's training split, measured on its test split (cached: only the first process pays for the fit)."""
    return pca_baseline(data.train.images, data.test.images, on_progress=lambda line: console.print(line, highlight=False))


def _seconds_left(job: Job) -> float | None:
    """How long trials may still start: the job's timeout from now, cut short by its deadline."""
    if job.deadline is None:
        return job.timeout
    return min(job.timeout or math.inf, max(job.deadline - time.time(), 0.0))


def join_study(job: Job, space: Space) -> optuna.Study:
    """The study as a worker process opens it, with the space's pruner: ``optuna.load_study`` alone would
    give it Optuna's default MedianPruner, under which a multi-objective study never prunes and a
    single-objective one prunes by the wrong rule. (The sampler is set per trial in :func:`serve`.)"""
    return optuna.load_study(study_name=job.study, storage=open_storage(job.url, grace=job.grace), pruner=make_pruner(space.study.pruner))


def serve(job: Job, space: Space, data: Splits, study: optuna.Study, console: Console, *, index: int = 0) -> int:
    """One worker: trials of ``job`` until the study is complete; 1 when its trials kept failing.

    The space was checked by the run's plan (:func:`search.plan.plan`) before any worker started."""
    # seeded by each trial's number (search.runtime.draws): workers that start together, here or on other machines, draw apart;
    # a grid's points known by their parameters, so that a hand-back trains its own point again (search.grid_points)
    cfg = space.study.sampler
    study.sampler = PointGridSampler(job.grid, seed=cfg.get("seed")) if job.grid is not None else trial_seeded_sampler(cfg)
    guard = FailureGuard()
    display = Display(console, study, job.trials)
    with writing(f"the database {mask(job.url)}"):
        artifacts = record_artifact_dir(study)  # where the study was created: the same folder from any other
    objective = Objective(
        space,
        data,
        artifacts,
        study_dir(job.study),
        display,
        pruning=epoch_policy(study),
        trials=job.trials,
        heartbeat=heartbeat_seconds(job.grace),
        baseline=linear_baseline(data, console),
        deadline=job.deadline,
    )
    with display, stopping_on():
        work(
            study,
            objective,
            job.trials,
            grace=job.grace,
            timeout=_seconds_left(job),
            callbacks=[guard, display.trial_finished],
            stopping=lambda: bool(guard.reason),
            console=console,
            where=mask(job.url),
        )
    if guard.reason:
        console.print(f"[red]stopped:[/] {guard.reason}", soft_wrap=True)
        return 1
    return 0


def worker_log(study: str, index: int) -> Path:
    return study_dir(study) / "workers" / f"worker-{index}.log"


def watch_parent(parent: int, console: Console, interval: float = 1.0) -> None:
    """Once the command that started this worker is gone, stop as a scheduler's SIGTERM stops it (search.runtime.preemption).

    multiprocessing ends its children only when the parent exits cleanly: a parent killed by SIGKILL, or by a
    SIGTERM in a library call that installed no handler, leaves its workers training into a study nobody watches,
    holding the cores. Handed back, their trials are queued again for the next command. Polling, because Linux's
    PR_SET_PDEATHSIG is one platform's, and a second's delay costs nothing beside a trial.
    """
    while os.getppid() == parent:
        time.sleep(interval)
    console.print(f"the command that started this worker (pid {parent}) is gone: handing the trial back")
    os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(job: Job, index: int, threads: int, parent: int) -> None:
    """A ``--workers`` process: its share of the cores, its own log, and the common loop."""
    import torch

    torch.set_num_threads(threads)
    log = worker_log(job.study, index).open("a", buffering=1)
    sys.stdout = sys.stderr = log  # tracebacks of the unexpected end up in the log too
    quiet_optuna()
    console = Console(file=log, width=200)
    console.print(f"--- worker {index}, pid {os.getpid()}, {threads} thread(s), {time.strftime('%Y-%m-%d %H:%M:%S')}")
    threading.Thread(target=watch_parent, args=(parent, console), name="parent watch", daemon=True).start()
    space = resolve_start(load_space(job.space_file, list(job.overrides)))
    study = join_study(job, space)
    try:
        code = serve(job, space, load_splits(space.data), study, console, index=index)
    except HandedBack as stop:
        console.print(stop.describe(), soft_wrap=True, highlight=False)
        code = stop.exit_code
    except KeyboardInterrupt:
        code = 130
    except StorageWriteError as error:
        console.print(f"error: {error}", soft_wrap=True, highlight=False, markup=False)
        code = EXIT_STORAGE
    sys.exit(code)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def run_workers(job: Job, workers: int, study: optuna.Study, console: Console) -> int:
    """Start ``workers`` processes on the study and show its progress until they are done; the exit code."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = max(1, cores // workers)
    for index in range(workers):
        worker_log(job.study, index).parent.mkdir(parents=True, exist_ok=True)
    # spawn, not fork: a forked child would inherit this process's torch threads and open database connections
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(job, i, threads, os.getpid()), name=f"worker {i}") for i in range(workers)]
    for process in processes:
        process.start()
    console.print(
        f"{workers} workers, {threads} thread(s) each, pids {', '.join(str(p.pid) for p in processes)}; "
        f"their logs: {worker_log(job.study, 0).parent}/",
        highlight=False,
    )
    seen = {t.number for t in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL))}
    ended: set[int] = set()
    display = Display(console, study, job.trials)  # the workers' trials, as one worker shows its own
    try:
        with display:
            while len(ended) < workers:
                time.sleep(1)
                for trial in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL)):
                    if trial.number not in seen:
                        seen.add(trial.number)
                        display.trial_finished(study, trial)
                for i, process in enumerate(processes):
                    if i not in ended and process.exitcode is not None:
                        ended.add(i)
                        if process.exitcode != 0:
                            console.print(
                                f"[yellow]worker {i} (pid {process.pid}) {_describe_exit(process.exitcode)}[/]: "
                                f"see {worker_log(job.study, i)}; a trial it was running is retried after the grace period ({job.grace} s)",
                                soft_wrap=True,
                            )
    except KeyboardInterrupt:
        for process in processes:  # a terminal's Ctrl-C reaches them already; a kill -INT of this process does not
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join()
        raise
    codes = [p.exitcode for p in processes]
    if EXIT_STORAGE in codes:
        log = worker_log(job.study, codes.index(EXIT_STORAGE))
        said = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("error: ")]
        raise StorageWriteError(said[-1].removeprefix("error: ") if said else f"a worker could not write the study (see {log})")
    if 1 in codes:
        console.print(f"[red]stopped:[/] a worker's trials kept failing (see {worker_log(job.study, codes.index(1))})", soft_wrap=True)
        return 1
    done = finished(study)
    if done < job.trials and EXIT_INTERRUPTED in codes:
        # Ctrl-C: the workers handed their trials back; this process's own KeyboardInterrupt can be lost (raised in a
        # garbage collection's weakref callback, Python only prints it), and the command must still say interrupted
        raise KeyboardInterrupt
    if done < job.trials and job.timeout is None and job.deadline is None:
        console.print(f"[red]incomplete:[/] {done} of {job.trials} finished trials, and no worker is left; run the same command again")
        return 1
    return 0
