"""Run a study: a space (a file, a dict or a parsed :class:`~search.space.Space`) in, an ``optuna.Study``
of N finished trials out, resumable at any point. ``python -m search run`` is a thin layer over :func:`optimize`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from rich.console import Console
from rich.markup import escape

from cae.options import field_specs
from cae.settings import DataDescription, TrainConfig
from cae.summary import summary_table
from search.display import best_table, finished
from search.factories import check_components, make_pruner
from search.runtime.journal import Report, warn
from search.runtime.storage import (
    GRACE_SECONDS,
    StorageError,
    check_artifact_folder,
    check_storage,
    default_storage,
    is_sqlite,
    local_file,
    mask,
    open_storage,
    record_artifact_dir,
    study_dir,
    writing,
)
from search.space import Space, SpaceError, StartedModel, check_study_name, load_space, space_from_dict
from search.space.messages import show
from search.trials.best import best_trial
from search.trials.objectives import directions, objectives_mismatch, record_objectives
from search.trials.record import read_trial, record_study_data, recorded_study_data

# Measured in tests/test_workers.py: 4 workers on one SQLite file still finish, but spend their
# time queueing for its lock; the journal file is Optuna's store for this case.
MAX_SQLITE_WORKERS = 4
# Workers share the machine's cores (and each holds its own copy of the images): past a few a core they only
# queue, and thousands of them (a typo) would spawn until the machine runs out of memory.
WORKERS_PER_CORE = 4
# The shortest grace period: a trial beats every grace / 3 seconds (at least 1), and two missed beats are not death.
MIN_GRACE = 2


def check_count(call: str, name: str, value: Any, minimum: int, maximum: float = math.inf, unit: str = "") -> None:
    """Refuse (:class:`SpaceError` naming ``name=`` of ``call``) a ``value`` that is not an integer from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= value <= maximum:
        bound = f"from {minimum} to {maximum:g}" if maximum < math.inf else f"≥ {minimum}"
        raise SpaceError(call, f"{name}=", f"expected an integer {bound}{unit}, got {show(value)}")


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a SLURM task or ``taskset`` sets it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_run_arguments(call: str, *, trials: Any = 1, timeout: Any = None, workers: Any = 1, grace: Any = GRACE_SECONDS) -> None:
    """Refuse (:class:`SpaceError`, a ``ValueError``, naming the parameter) arguments of ``call`` (``optimize``, ``refit``)
    that the command line's flags would refuse too, before anything is read or created."""
    check_count(call, "trials", trials, 1)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0):
        raise SpaceError(call, "timeout=", f"expected a number of seconds > 0, or None for no limit, got {show(timeout)}")
    cores = usable_cores()
    check_count(
        call, "workers", workers, 1, WORKERS_PER_CORE * cores, f" ({WORKERS_PER_CORE} for each of the {cores} cores this process may use)"
    )
    check_count(call, "grace", grace, MIN_GRACE, unit=" (seconds)")


def check_epochs(call: str, epochs: Any) -> None:
    """Refuse ``epochs`` outside what a space's ``train.epochs`` takes (:class:`~cae.settings.TrainConfig`'s declaration)."""
    rule = next(spec.rule for spec in field_specs(TrainConfig) if spec.name == "epochs")
    check_count(call, "epochs", epochs, int(rule.minimum or 1), rule.maximum if rule.maximum is not None else math.inf)


def _record_space(study: optuna.Study, space: Space, console: Console) -> None:
    """Keep the space (file text and overrides) with the study; warn when a resume uses another."""
    record = {"space_file": str(space.path), "space": space.text, "overrides": list(space.overrides)}
    stored = {k: study.user_attrs.get(k) for k in record}
    if stored["space"] is None:
        for key, value in record.items():
            study.set_user_attr(key, value)
    elif (stored["space"], stored["overrides"]) != (record["space"], record["overrides"]):
        # words for a notebook and a terminal alike: overrides are given as a parameter or as --set
        overrides = f"overrides {', '.join(stored['overrides'])}" if stored["overrides"] else "no overrides"
        console.print(
            f"[yellow]warning:[/] study {study.study_name} was started from {escape(str(stored['space_file']))} with "
            f"{escape(overrides)}; this run's space differs, and the study will hold trials of both",
            soft_wrap=True,
        )


def _record_data(study: optuna.Study, data: DataDescription, url: str) -> None:
    """Keep what the study's images are; refuse a resume on other images (its trials would mix two datasets)."""
    recorded = recorded_study_data(study)  # the study's attributes read once
    stored = recorded or DataDescription()  # a study older than the record holds CIFAR-10 at 3 × 32 × 32
    if recorded is None and not study.trials:
        record_study_data(study, data)
        return
    same = (stored.dataset, stored.shape) == (data.dataset, data.shape) and (recorded is None or stored.root == data.root)
    if not same:
        raise StorageError(
            f"study {study.study_name} in {mask(url)} holds trials of {_data_words(stored)}; this run's data is {_data_words(data)}: "
            "give this search another study name, or point it at the study's own images"
        )
    if recorded is None:
        record_study_data(study, data)


def _data_words(data: DataDescription) -> str:
    return f"{data.dataset} at {data.shape_text}" + (f" from {data.root}" if data.root else "")


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


@contextlib.contextmanager
def _optuna_quiet() -> Iterator[None]:
    """Optuna's INFO lines and ExperimentalWarnings silenced for one call, and put back as they were.

    The display prints one line per trial; Optuna's log would repeat each. Restored afterwards, because a
    library call must leave the caller's logging and warning filters as it found them.
    """
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


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
    check_run_arguments("optimize", trials=trials, timeout=timeout, workers=workers, grace=grace)
    console = console or Console(quiet=not progress)
    with _optuna_quiet():
        study, code = _run(as_space(space, overrides), trials, timeout, study_name, storage, workers, grace, console, artifacts)
    if code:
        raise StudyStopped(f"study {study.study_name} stopped with {finished(study)} of {trials} finished trials: its trials kept failing")
    return study


def _warning_line(console: Console) -> Report:
    return lambda message: console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)


def _open_existing(url: str, grace: int, report: Report) -> BaseStorage | None:
    """The storage at ``url`` opened, unless it is a local file not made yet (only checked that it can be made)."""
    path = local_file(url)
    if path is not None and not path.exists():
        check_storage(url)
        return None
    return open_storage(url, grace=grace, report=report)


def _existing_study(storage: BaseStorage, name: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def _check_objectives(study: optuna.Study | None, objectives: tuple[str, ...], space: Space, url: str) -> None:
    if study is not None and (mismatch := objectives_mismatch(study, objectives, str(space.path))):
        raise StorageError(f"study {study.study_name} in {mask(url)} {mismatch}; give this search another name with study_name=")


def _run(
    space: Space,
    trials: int,
    timeout: float | None,
    study_name: str | None,
    storage: str | None,
    workers: int,
    grace: int,
    console: Console,
    artifacts: str | Path | None = None,
) -> tuple[optuna.Study, int]:
    """The study and 0, or 1 when its trials kept failing (or every worker died)."""
    name = check_study_name(study_name, "optimize", "study_name=") if study_name else space.study.name
    url = storage or default_storage(name)
    if workers > MAX_SQLITE_WORKERS and is_sqlite(url):
        journal = f"{study_dir(name)}.journal"
        raise StorageError(
            f"workers={workers}: SQLite serialises every write behind one file lock, and more than {MAX_SQLITE_WORKERS} "
            f"workers wait on it; use a journal file: storage={journal!r}"
        )
    check_artifact_folder(Path(artifacts) if artifacts is not None else study_dir(name) / "artifacts")
    objectives = space.study.objectives
    # The storage is opened (a server reached, a journal repaired) and a study there checked before torch is imported
    # and the images are read (seconds: a bad storage was refused after 13 s, where `best` takes 1); a file that is not
    # there yet is made only after them, so that data refused leaves nothing behind.
    report = warn if console.quiet else _warning_line(console)
    opened = _open_existing(url, grace, report)
    if opened is not None:
        _check_objectives(_existing_study(opened, name), objectives, space, url)
    from cae.data import load_splits
    from search.runtime.workers import Job, linear_baseline, run_workers, serve
    from search.sample import space_shape
    from search.space_check import check_batch_size, check_space, grid_search_space
    from search.trials.start import resolve_start

    space = resolve_start(space)
    shape = space_shape(space)  # from the dataset's name (a folder: its first image), before the images are read
    fixed = check_space(space, shape)
    grid = grid_search_space(space, shape) if space.study.sampler["type"] == "grid" else None
    check_components(space.study, space.path, grid)  # Optuna judges the settings' values before any study is made
    data = load_splits(space.data)
    if data.shape != shape:  # a folder whose first image is gray among colour ones: its models see RGB
        fixed = check_space(space, data.shape)
        grid = grid_search_space(space, data.shape) if grid is not None else None
    check_batch_size(space, len(data.train))
    study = optuna.create_study(
        storage=opened or open_storage(url, grace=grace, report=report),
        study_name=name,
        directions=directions(objectives),
        load_if_exists=True,
        pruner=make_pruner(space.study.pruner),
    )
    _check_objectives(study, objectives, space, url)
    record_objectives(study, objectives)
    _record_data(study, data.describe(), url)
    _record_space(study, space, console)
    with writing(f"the database {mask(url)}"):
        folder = record_artifact_dir(study, artifacts)  # before any worker starts: a folder other than the record is refused
    if isinstance(space.model, StartedModel):  # the child keeps what it started from: analysis never needs the parent
        study.set_user_attr("start", space.model.record)
    done = finished(study)
    console.print(
        f"study [bold]{name}[/] in {mask(url)}: {done} of {trials} finished trials · "
        f"{data.source}: {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test images · "
        f"the model sees {data.describe().shape_text}",
        soft_wrap=True,
        highlight=False,
    )
    if fixed is not None:
        console.print(summary_table(fixed.architecture, title=f"architecture of {space.path}"))
    if grid is not None and trials > (points := math.prod(map(len, grid.values()))):
        # the grid sampler stops the study once every point is finished; more trials would repeat points
        console.print(f"the grid has {points} points: the study ends at {points} finished trials", highlight=False)
        trials = points
    if done >= trials:
        console.print(f"nothing to do: the study already holds {done} finished trials (ask for more with --trials)")
        console.print(best_table(study))
        return study, 0
    space_file = space.path
    if workers > 1 and not space_file.is_file():  # a mapping's space: the spawned workers read it from the study's folder
        space_file = study_dir(name) / "space.yaml"
        space_file.parent.mkdir(parents=True, exist_ok=True)
        space_file.write_text(space.text)
    job = Job(str(space_file), tuple(space.overrides), name, url, trials, timeout, grace, grid)
    try:
        if workers == 1:
            code = serve(job, space, data, study, console)
        else:
            linear_baseline(data, console)  # fitted once here and cached, so that the workers only read it
            del data  # each worker loads its own
            code = run_workers(job, workers, study, console)
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
        f"browse it: optuna-dashboard {mask(url)} --artifact-dir {folder}"
        f"   (or: python -m search dashboard --study {name}{'' if storage is None else ' --storage ' + mask(url)})",
        soft_wrap=True,
        highlight=False,
    )
    return study, code
