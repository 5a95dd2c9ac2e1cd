"""Where studies live: Optuna storages (SQLite by default) and the ``studies/<name>/`` folder.

``--storage`` takes what Optuna stores studies in, and nothing of our own (design §1.5):
- an RDB URL: ``sqlite:///studies/recon.db`` (the default), ``postgresql://user:pw@host/db`` or
  ``mysql+pymysql://…`` for workers on many machines;
- a journal file, given as a plain path such as ``studies/recon.journal`` (the way
  optuna-dashboard takes it): Optuna's recommended store for several processes on one machine.

``studies/<name>/artifacts/`` holds the pictures and checkpoints that Optuna's artifact store
uploads (optuna-dashboard shows them with ``--artifact-dir``).
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

from search.liveness import stale_trial_retry

STUDIES = Path("studies")
# A trial whose worker stops beating (killed, machine lost) for GRACE_SECONDS is marked failed
# and retried once with the same parameters by the next worker that looks for work.
GRACE_SECONDS = 180
# Several SQLite writers queue for the file's lock; Python's default 5 s wait is too short for
# four workers writing per-epoch curves.
SQLITE_BUSY_SECONDS = 60
_DRIVER_HINTS = {
    "postgresql": "pip install 'cae-search[postgres]'",
    "mysql": "pip install 'cae-search[mysql]' and write the URL as mysql+pymysql://…",
}


class StorageError(ValueError):
    """A storage that cannot be opened, or a study that is not in it."""


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***``, for every line we print."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def default_storage(study: str) -> str:
    return f"sqlite:///{STUDIES / f'{study}.db'}"


def study_dir(study: str) -> Path:
    return STUDIES / study


def artifact_store(study: str) -> FileSystemArtifactStore:
    path = study_dir(study) / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))


def is_journal(url: str) -> bool:
    """A plain file path (no ``scheme://``) names a journal file."""
    return "://" not in url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def _local_file(url: str) -> Path | None:
    if is_journal(url):
        return Path(url)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def heartbeat_seconds(grace: int) -> int:
    """How often a running trial beats: three beats fit in the grace period."""
    return max(1, grace // 3)


def open_storage(url: str, *, create: bool = True, grace: int = GRACE_SECONDS) -> BaseStorage:
    """The storage behind ``url``; ``create=False`` refuses a local file that is not there.

    RDB storages beat with Optuna's own heartbeat; a journal file (which has none in Optuna) beats
    through :mod:`search.liveness`. Either way a dead worker's trial is failed after ``grace``
    seconds and retried once with the same parameters.
    """
    path = _local_file(url)
    if path is not None:
        if path.is_dir():
            raise StorageError(f"--storage {url}: is a folder, expected a database or journal file")
        if not create and not path.exists():
            raise StorageError(f"{mask(url)}: no such database (run `python -m search run` first)")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if is_journal(url):
            # The open() lock works on every file system (the default symlink lock does not on some
            # network mounts) and is what Optuna documents for NFS.
            return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
        return _rdb_storage(url, grace)
    except ImportError as error:  # Optuna turns SQLAlchemy's missing driver module into a vaguer ImportError
        missing = error.__cause__ if isinstance(error.__cause__, ModuleNotFoundError) else error
        hint = _DRIVER_HINTS.get(url.split(":", 1)[0].split("+", 1)[0])
        hint = f"; install it with: {hint}" if hint else ""
        raise StorageError(f"--storage {mask(url)}: its database driver ({missing.name or missing}) is not installed{hint}") from None
    except Exception as error:  # SQLAlchemy raises many types for bad URLs and unreachable servers
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageError(f"--storage {mask(url)}: cannot open this storage ({mask(reason)})") from None


def _sqlite_connector(url: str) -> Callable[[], sqlite3.Connection]:
    """SQLite connections in WAL mode with ``synchronous=NORMAL``.

    A trial writes its curves every epoch; SQLite's default (a rollback journal, two fsyncs per
    commit) took 15–22 ms a write here, WAL with NORMAL 2 ms. A killed process loses nothing
    committed; only a power cut can lose the last commits, never the file. WAL also lets
    readers (the dashboard, other workers) read while a worker writes.
    """
    database = _local_file(url)

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


def _rdb_storage(url: str, grace: int, attempts: int = 5) -> RDBStorage:
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and the warning says nothing to a user
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs={"creator": _sqlite_connector(url)} if is_sqlite(url) else None,
                    heartbeat_interval=heartbeat_seconds(grace),
                    grace_period=grace,
                    heartbeat_stale_trial_callback=stale_trial_retry(),
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            # Workers started together on an empty database all create its tables, and all but one
            # collide: a duplicate row, or on PostgreSQL a duplicate table ("relation alembic_version
            # already exists"); the tables are there on the next try.
            collided = isinstance(error, sqlalchemy.exc.IntegrityError) or "already exists" in str(error)
            if attempt == attempts or not collided:
                raise
            time.sleep(random.uniform(0.2, 1.0))
    raise AssertionError("unreachable")


def load_study(name: str, url: str, *, grace: int = GRACE_SECONDS) -> tuple[optuna.Study, BaseStorage]:
    """An existing study and its storage, or :class:`StorageError` naming the studies it does hold."""
    storage = open_storage(url, create=False, grace=grace)
    try:
        return optuna.load_study(study_name=name, storage=storage), storage
    except KeyError:
        names = [s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)]
        held = f"it holds {', '.join(names)}" if names else "it holds no study"
        raise StorageError(f"--study {name}: no such study in {mask(url)} ({held})") from None
