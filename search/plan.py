"""What a run will do, decided before its first trial: :func:`plan` checks the space and the arguments once, opens the
storage, reads the data and makes (or resumes) the study; the :class:`Plan` it returns says what will run (the study,
its data, grid, fixed architecture, workers and trial budget) and describes it in the lines a run prints
(:meth:`Plan.describe`). :func:`search.run.execute` runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cae.settings import DataDescription
from cae.summary import summary_table
from search.display import finished
from search.factories import make_pruner
from search.runtime.journal import Report, warn
from search.runtime.storage import (
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
from search.space import Space, StartedModel, check_study_name
from search.trials.objectives import directions, objectives_mismatch, record_objectives
from search.trials.record import record_study_data, recorded_study_data

if TYPE_CHECKING:
    from cae.data import Splits
    from search.sample import TrialConfig

# Measured in tests/test_workers.py: 4 workers on one SQLite file still finish, but spend their
# time queueing for its lock; the journal file is Optuna's store for this case.
MAX_SQLITE_WORKERS = 4


@dataclass
class Plan:
    """A run decided: its study made or resumed (its objectives, data, space and artifact folder recorded), its data
    read and the space checked against it; nothing trained yet. Not frozen for one reason: :func:`search.run.execute`
    lets go of ``data`` (a whole dataset in memory) once worker processes that load their own take over."""

    space: Space  # its start (``start:``) read from the parent study
    study: optuna.Study
    url: str  # the storage's
    storage_named: bool  # storage= was given (the dashboard hint repeats it)
    artifacts: Path  # the folder the study records
    data: Splits | None  # None once execute has handed the run to worker processes
    fixed: TrialConfig | None  # a fixed space's one configuration
    grid: dict[str, list[Any]] | None  # the grid sampler's points, drawn once
    trials: int  # finished trials asked for
    target: int  # the finished trials the run ends at: those asked for, at most the grid's points (the sampler stops there)
    done: int  # finished trials the study held when planned
    workers: int
    grace: int
    timeout: float | None
    deadline: float | None = None  # a wall-clock time (time.time()): trials stop training by it, and none starts after it

    def describe(self) -> list[Text | Table]:
        """What the run prints before its first trial: the study and its data, the fixed architecture, the grid's end."""
        data = self.data
        assert data is not None, "described before execute"
        lines: list[Text | Table] = [
            Text.assemble(
                "study ",
                (self.study.study_name, "bold"),
                f" in {mask(self.url)}: {self.done} of {self.trials} finished trials · "
                f"{data.source}: {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test images · "
                f"the model sees {data.describe().shape_text}",
            )
        ]
        if self.fixed is not None:
            lines.append(summary_table(self.fixed.architecture, title=f"architecture of {self.space.path}"))
        if self.target < self.trials:
            # the grid sampler stops the study once every point is finished; more trials would repeat points
            lines.append(Text(f"the grid has {self.target} points: the study ends at {self.target} finished trials"))
        return lines


def plan(
    space: Space,
    *,
    trials: int,
    timeout: float | None,
    deadline: float | None = None,
    study_name: str | None,
    storage: str | None,
    workers: int,
    grace: int,
    artifacts: str | Path | None,
    console: Console,
) -> Plan:
    """The plan of a run of ``space`` (the arguments as :func:`search.optimize` takes them, checked there already).

    Raises :class:`~search.space.SpaceError` for a space that cannot run on its data (or that would resume the study
    with other choices for a parameter), :class:`~search.runtime.storage.StorageError` for a storage or study that
    cannot take it, :class:`~cae.data.DataError` for data that cannot be read.
    """
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
    from search.sample import space_shape
    from search.space_check import check_batch_size, check_choices_kept, checked
    from search.trials.start import resolve_start

    space = resolve_start(space)
    # the shape from the dataset's name (a folder: its first image), so that a bad space is refused before the images are read
    check = checked(space, space_shape(space))
    data = load_splits(space.data)
    if data.shape != check.shape:  # a folder whose first image is gray among colour ones: its models see RGB
        check = checked(space, data.shape)
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
    target = trials if check.grid is None else min(trials, math.prod(map(len, check.grid.values())))
    done = finished(study)
    if done < target:  # a finished study is not refused for what it would have drawn next
        check_choices_kept(space, study, data.shape)
    return Plan(
        space,
        study,
        url,
        storage is not None,
        folder,
        data,
        check.fixed,
        check.grid,
        trials,
        target,
        done,
        workers,
        grace,
        timeout,
        deadline,
    )


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
