"""Run a study: a space (a file, a dict or a parsed :class:`~search.space.Space`) in, an ``optuna.Study``
of N finished trials out, resumable at any point. ``python -m search run`` is a thin layer over :func:`optimize`.

A run is a plan, then its execution: :func:`search.plan.plan` checks the space and the arguments once and makes the
study, the run prints what it will do (:meth:`~search.plan.Plan.describe`), and :func:`execute` runs its trials.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.text import Text

from cae.options import field_specs
from cae.settings import TrainConfig
from search.display import best_table, finished, quiet_optuna
from search.plan import Plan, plan
from search.runtime.storage import GRACE_SECONDS, mask, study_dir
from search.space import Space, SpaceError, load_space, space_from_dict
from search.space.messages import check_count, show
from search.trials.best import best_trial
from search.trials.record import read_trial

# Workers share the machine's cores (and each holds its own copy of the images): past a few a core they only
# queue, and thousands of them (a typo) would spawn until the machine runs out of memory.
WORKERS_PER_CORE = 4
# The shortest grace period: a trial beats every grace / 3 seconds (at least 1), and two missed beats are not death.
MIN_GRACE = 2


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a SLURM task or ``taskset`` sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_run_arguments(
    call: str, *, trials: Any = 1, timeout: Any = None, workers: Any = 1, grace: Any = GRACE_SECONDS, deadline: Any = None
) -> None:
    """Refuse (:class:`SpaceError`, a ``ValueError``, naming the parameter) arguments of ``call`` (``optimize``, ``refit``)
    that the command line's flags would refuse too, before anything is read or created."""
    check_count(call, "trials", trials, 1)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0):
        raise SpaceError(call, "timeout=", f"expected a number of seconds > 0, or None for no limit, got {show(timeout)}")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, numbers.Real) or not deadline > 0):
        raise SpaceError(call, "deadline=", f"expected a number of seconds > 0, or None for no limit, got {show(deadline)}")
    cores = usable_cores()
    check_count(
        call, "workers", workers, 1, WORKERS_PER_CORE * cores, f" ({WORKERS_PER_CORE} for each of the {cores} cores this process may use)"
    )
    check_count(call, "grace", grace, MIN_GRACE, unit=" (seconds)")


def check_epochs(call: str, epochs: Any) -> None:
    """Refuse ``epochs`` outside what a space's ``train.epochs`` takes (:class:`~cae.settings.TrainConfig`'s declaration)."""
    rule = next(spec.rule for spec in field_specs(TrainConfig) if spec.name == "epochs")
    check_count(call, "epochs", epochs, int(rule.minimum or 1), rule.maximum if rule.maximum is not None else math.inf)


def write_curves(study: optuna.Study) -> Path | None:
    """``studies/<study>/curves.png``: train and validation error against epochs of the best trial."""
    from cae.figures import save_curves  # matplotlib: imported by the runs that draw

    best = best_trial(study)
    if best is None:
        return None
    path = study_dir(study.study_name) / "curves.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = read_trial(best)
    title = f"{study.study_name}, trial {best.number}: test MSE {record.test_mse:.5f}, PSNR {record.test_psnr:.2f} dB"
    return save_curves(list(record.train_mse or ()), list(record.val_mse or ()), path, title=title)


class StudyStopped(RuntimeError):
    """The study stopped short of its trials: its trials kept failing, or every worker died (the CLI's exit code 1).

    The finished trials are kept: fix the cause and call :func:`optimize` again to complete the study.
    """


def as_space(space: str | Path | Mapping[str, Any] | Space, overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """A parsed space from a file path, a plain mapping (left unchanged) or a :class:`Space` (taken as it is)."""
    if isinstance(space, Space):
        if overrides:
            raise ValueError("overrides apply to a space file or mapping; this Space is parsed already (pass overrides to load_space)")
        return space
    if isinstance(space, Mapping):
        return space_from_dict(space, overrides=overrides)
    return load_space(space, overrides)


def optimize(
    space: str | Path | Mapping[str, Any] | Space,
    *,
    trials: int,
    timeout: float | None = None,
    deadline: float | None = None,
    study_name: str | None = None,
    storage: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    workers: int = 1,
    grace: int = GRACE_SECONDS,
    artifacts: str | Path | None = None,
    progress: bool = False,
    console: Console | None = None,
) -> optuna.Study:
    """Run or resume the study of ``space`` until it holds ``trials`` finished (complete or pruned) trials.

    Example (a seconds-long study of tiny networks on 600 images)::

        study = search.optimize("spaces/tiny.yaml", trials=3, overrides=["data.subset=600"])
        search.trials_table(study)

    Args:
        space: a space file, a mapping in the same form, or a parsed :class:`~search.space.Space`.
        trials: finished trials the study should hold; a resumed study runs only the remainder.
        timeout: seconds after which no new trial starts.
        deadline: seconds after which no new trial starts and every running trial has ended its training: after each
            epoch a trial plans only the epochs that its last epoch's length says end in time (fewer than planned, its
            one-cycle or cosine learning rate annealed over them; none, and it stops there); it keeps its best epoch's
            weights, completes, and records why (``stopped``). A budget held to: a refit that must end by a time.
        study_name: default the space's ``study.name``.
        storage: an Optuna storage URL or a journal file path; default ``sqlite:///studies/NAME.db``.
        overrides: ``key.path=value`` assignments, as ``--set`` on the command line.
        workers: processes on this machine sharing the study (and its cores).
        grace: seconds after which a silent worker's trial is failed and retried.
        artifacts: the folder of every worker's checkpoints and pictures (a shared one for many machines), recorded by
            the study when it is created; default ``studies/NAME/artifacts``.
        progress: show rich progress and tables (the command line does); silent by default.
        console: where progress goes (implies ``progress``).

    Returns:
        The ``optuna.Study``, its trials carrying the project's user attributes (:func:`search.trials_table`).

    Raises:
        SpaceError: a bad space; StorageError: a storage that cannot hold this study; DataError: no images;
        StudyStopped: trials kept failing (finished trials are kept).
    """
    check_run_arguments("optimize", trials=trials, timeout=timeout, workers=workers, grace=grace, deadline=deadline)
    until = None if deadline is None else time.time() + deadline  # from the call: reading the data counts against it
    console = console or Console(quiet=not progress)
    space = as_space(space, overrides)
    with quiet_optuna():
        planned = plan(
            space,
            trials=trials,
            timeout=timeout,
            deadline=until,
            study_name=study_name,
            storage=storage,
            workers=workers,
            grace=grace,
            artifacts=artifacts,
            console=console,
        )
        for part in planned.describe():
            console.print(part, soft_wrap=isinstance(part, Text))  # a line as long as it is; the table as wide as it fits
        code = execute(planned, console)
    study = planned.study
    if code:
        raise StudyStopped(f"study {study.study_name} stopped with {finished(study)} of {trials} finished trials: its trials kept failing")
    return study


def execute(planned: Plan, console: Console) -> int:
    """Run ``planned``'s trials (in this process, or in its worker processes) and show the best; 0, or 1 when its trials
    kept failing (or every worker died)."""
    study, name = planned.study, planned.study.study_name
    if planned.done >= planned.target:
        console.print(f"nothing to do: the study already holds {planned.done} finished trials (ask for more with --trials)")
        console.print(best_table(study))
        return 0
    from search.runtime.workers import Job, linear_baseline, run_workers, serve

    space_file = planned.space.path
    if planned.workers > 1 and not space_file.is_file():  # a mapping's space: the spawned workers read it from the study's folder
        space_file = study_dir(name) / "space.yaml"
        space_file.parent.mkdir(parents=True, exist_ok=True)
        space_file.write_text(planned.space.text)
    job = Job(
        str(space_file),
        tuple(planned.space.overrides),
        name,
        planned.url,
        planned.target,
        planned.timeout,
        planned.grace,
        planned.grid,
        planned.deadline,
    )
    try:
        if planned.workers == 1:
            code = serve(job, planned.space, planned.data, study, console)
        else:
            linear_baseline(planned.data, console)  # fitted once here and cached, so that the workers only read it
            planned.data = None  # each worker loads its own
            code = run_workers(job, planned.workers, study, console)
    finally:
        console.print(best_table(study))
        try:
            curves = write_curves(study)
        except OSError as error:  # a full or read-only disk (said already when it stopped the run): the trials are what matters
            curves = None
            console.print(
                f"[yellow]curves not written:[/] {error.strerror or error} ({error.filename or study_dir(name)})", highlight=False
            )
        if curves:
            console.print(f"curves of the best trial: {curves}", highlight=False)
    console.print(
        f"browse it: optuna-dashboard {mask(planned.url)} --artifact-dir {planned.artifacts}"
        f"   (or: python -m search dashboard --study {name}{' --storage ' + mask(planned.url) if planned.storage_named else ''})",
        soft_wrap=True,
        highlight=False,
    )
    return code
