"""Where studies live: Optuna storages (SQLite by default) and the ``studies/<name>/`` folder.

``--storage`` takes what Optuna stores studies in, and nothing of our own (design §1.5):
- an RDB URL: ``sqlite:///studies/recon.db`` (the default), ``postgresql://user:pw@host/db`` or
  ``mysql+pymysql://…`` for workers on many machines;
- a journal file, given as a plain path such as ``studies/recon.journal`` (the way
  optuna-dashboard takes it): Optuna's recommended store for several processes on one machine.

``studies/<name>/artifacts/`` holds the pictures and checkpoints that Optuna's artifact store
uploads (optuna-dashboard shows them with ``--artifact-dir``). The study records that folder as an
absolute path when it is created (:func:`record_artifact_dir`), so that a trial's files are found
from any folder.

A disk that fills up or turns read-only under the database or the artifact folder raises
:class:`StorageWriteError` naming which and where (:func:`writing`); what was stored is kept. A
database that can only be read is opened read-only by :func:`load_study`.
"""

from __future__ import annotations

import errno
import os
import random
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import optuna
import sqlalchemy.exc
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage, RDBStorage

from search.runtime.journal import JournalDamaged, Report, open_journal, warn
from search.runtime.liveness import silence_reason, stale_trial_retry
from search.space.messages import excerpt
from search.trials.record import write_stored_reason

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


ARTIFACT_DIR = "artifact_dir"  # the study's user attribute: where its trials' files are written
# The exit code of a command (and of a --workers process) stopped by a StorageWriteError.
EXIT_STORAGE = 3


class StorageError(ValueError):
    """A storage that cannot be opened, or a study that is not in it."""


class StorageWriteError(StorageError):
    """The database or the artifact folder could not be written (a full disk, a read-only mount, no permission).

    The message names which of the two and where; what was stored before it is kept.
    """


# What a failed write says: an OSError's errno, or the words of SQLite, PostgreSQL and MySQL.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
_WRITE_WORDS = (
    "database or disk is full",
    "readonly database",
    "read-only file system",
    "no space left on device",
    "disk i/o error",
    "could not extend file",
    "disk quota exceeded",
    "the table is full",
)


def write_failure(error: BaseException) -> tuple[str, str | None] | None:
    """Why ``error`` is a write that the disk refused (full, read-only, not permitted), in a few words, and the file
    it names if any; ``None`` when it is not one. Of a chain of refusals, the first.

    Optuna wraps the database's error (``StorageInternalError`` from SQLAlchemy's ``OperationalError``), so the
    causes are read too.
    """
    found = None
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # to the first refusal: the later ones follow from it
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _WRITE_ERRNOS:
            found = current.strerror or errno.errorcode.get(current.errno or 0, "write refused"), current.filename
        else:
            text = str(current).lower()
            found = next(((words, None) for words in _WRITE_WORDS if words in text), found)
        current = current.__cause__ or current.__context__
    return found


@contextmanager
def writing(where: str) -> Iterator[None]:
    """``with writing(url):`` turns a write the disk refuses into :class:`StorageWriteError` naming ``where``
    (or the file that could not be written, where the error names one)."""
    try:
        yield
    except StorageWriteError:
        raise
    except Exception as error:
        failure = write_failure(error)
        if failure is None:
            raise
        reason, filename = failure
        raise StorageWriteError(f"{filename or where}: cannot be written ({reason})") from None


def mask(url: str) -> str:
    """``url`` with any password replaced by ``***``, for every line we print."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def default_storage(study: str) -> str:
    return f"sqlite:///{STUDIES / f'{study}.db'}"


def study_dir(study: str) -> Path:
    return STUDIES / study


def record_artifact_dir(study: optuna.Study, folder: str | Path | None = None) -> Path:
    """The folder of ``study``'s artifacts, recorded in its user attributes as an absolute path the first time
    (``folder``, by default ``studies/<name>/artifacts`` under the current folder), so that readers find the files
    from any folder; :class:`StorageError` when ``folder`` is not the one the study records (one folder per study)."""
    recorded = study.user_attrs.get(ARTIFACT_DIR)
    if recorded:
        if folder is not None and Path(folder).resolve() != Path(recorded):
            raise StorageError(
                f"artifacts={str(folder)!r}: study {study.study_name} writes its artifacts to {recorded} (its record); "
                "leave artifacts= out, or give that folder"
            )
        return Path(recorded)
    path = Path(folder or study_dir(study.study_name) / "artifacts").resolve()
    study.set_user_attr(ARTIFACT_DIR, str(path))
    return path


def recorded_artifact_dir(study: optuna.Study, url: str) -> Path:
    """Where ``study``'s artifacts were written: its record, or for a study from before the record existed,
    ``<name>/artifacts`` beside its SQLite or journal file (where the default layout put them)."""
    recorded = study.user_attrs.get(ARTIFACT_DIR)
    if recorded:
        return Path(recorded)
    database = local_file(url)
    if database is None:
        raise StorageError(
            f"study {study.study_name} in {mask(url)} records no artifact folder (it was created before studies recorded one), "
            "and a server database has no folder beside it to look in"
        )
    return (database.parent / study.study_name / "artifacts").resolve()


def check_artifact_folder(path: Path) -> None:
    """Refuse an artifact folder that is, or lies under, something other than a folder (a file, a link to one,
    a link to nothing), before a study is made: otherwise its first trial's upload fails and an empty study is left."""
    for place in (path, *path.parents):
        if place.is_dir():
            return
        if place.exists() or place.is_symlink():
            what = "a link to nothing" if not place.exists() else "a file" if place.is_file() else "not a folder"
            where = "is" if place == path else f"lies under {place}, which is"
            raise StorageError(f"artifacts={str(path)!r}: {where} {what}; expected a folder for the trials' pictures and weights")


def artifact_store(study: str | Path) -> FileSystemArtifactStore:
    """The artifact store of a study (its name: ``studies/<name>/artifacts``) or of a folder; the folder is created."""
    path = study_dir(study) / "artifacts" if isinstance(study, str) else study
    with writing(f"artifact folder {path}"):
        path.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(path))


def is_journal(url: str) -> bool:
    """A plain file path (no ``scheme://``) names a journal file."""
    return "://" not in url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def local_file(url: str) -> Path | None:
    """The file behind ``url`` on this machine (a journal file, or a SQLite database's); ``None`` for a server."""
    if is_journal(url):
        return Path(url)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def check_storage(url: str, *, create: bool = True) -> None:
    """Refuse a ``url`` that names no storage this project can keep a study in, without opening or making anything.

    A local file must be, or be makeable as, a file (:class:`StorageError`); ``sqlite://`` alone and
    ``sqlite:///:memory:`` are databases in memory, gone when the process ends (each of its connections a
    different one, even).
    """
    if is_sqlite(url) and (not url.startswith("sqlite:///") or url.rstrip("/") == "sqlite:" or ":memory:" in url):
        raise StorageError(
            f"storage={mask(url)!r}: expected a database file, as in sqlite:///studies/NAME.db (three slashes, then its path); "
            "a database in memory is lost when the command ends"
        )
    path = local_file(url)
    if path is None:
        return
    if path.is_dir():
        raise StorageError(f"storage={mask(url)!r}: is a folder, expected a database or journal file")
    if not create and not path.exists():
        raise StorageError(f"{mask(url)}: no such database (run `python -m search run` first)")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise StorageError(f"storage={mask(url)!r}: {blocking} is a file, not a folder, so the database cannot be made in it")


def heartbeat_seconds(grace: int) -> int:
    """How often a running trial beats: three beats fit in the grace period."""
    return max(1, grace // 3)


def open_storage(url: str, *, create: bool = True, grace: int = GRACE_SECONDS, report: Report = warn) -> BaseStorage:
    """The storage behind ``url``; ``create=False`` refuses a local file that is not there.

    RDB storages beat with Optuna's own heartbeat; a journal file (which has none in Optuna) beats
    through :mod:`search.runtime.liveness`. Either way a dead worker's trial is failed after ``grace``
    seconds and retried once with the same parameters. A journal file is repaired on opening
    (:mod:`search.runtime.journal`): ``report`` gets the one line saying what was cut (by default a
    :class:`~search.runtime.journal.JournalRepaired` warning).
    """
    check_storage(url, create=create)
    path = local_file(url)
    if path is not None:
        with writing(f"storage={mask(url)!r}: its folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if is_journal(url):
            return open_journal(Path(url), report)
        return _rdb_storage(url, grace)
    except JournalDamaged as error:
        raise StorageError(f"storage={mask(url)!r}: {error.problem}") from None
    except ImportError as error:  # Optuna turns SQLAlchemy's missing driver module into a vaguer ImportError
        missing = error.__cause__ if isinstance(error.__cause__, ModuleNotFoundError) else error
        hint = _DRIVER_HINTS.get(url.split(":", 1)[0].split("+", 1)[0])
        hint = f"; install it with: {hint}" if hint else ""
        raise StorageError(f"storage={mask(url)!r}: its database driver ({missing.name or missing}) is not installed{hint}") from None
    except Exception as error:  # SQLAlchemy raises many types for bad URLs and unreachable servers
        full = write_failure(error)
        if full is not None:
            raise StorageWriteError(f"storage={mask(url)!r}: cannot be written ({full[0]})") from None
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageError(f"storage={mask(url)!r}: cannot open this storage ({excerpt(mask(reason))})") from None


def only_readable(url: str) -> bool:
    """A local SQLite file that this process cannot write (a read-only mount, a folder without write permission):
    SQLite needs to write the file and, in WAL mode, to make its ``-shm`` file beside it."""
    path = local_file(url)
    if path is None or is_journal(url) or not path.exists():
        return False
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _sqlite_connector(url: str, read_only: bool = False) -> Callable[[], sqlite3.Connection]:
    """SQLite connections in WAL mode with ``synchronous=NORMAL``.

    A trial writes its curves every epoch; SQLite's default (a rollback journal, two fsyncs per
    commit) took 15–22 ms a write here, WAL with NORMAL 2 ms. A killed process loses nothing
    committed; only a power cut can lose the last commits, never the file. WAL also lets
    readers (the dashboard, other workers) read while a worker writes.
    """
    database = local_file(url)
    assert database is not None

    def connect() -> sqlite3.Connection:
        if read_only:
            # On a read-only mount SQLite cannot make the WAL's shared-memory file beside the database, and
            # nothing can write it there either: immutable reads the file as it is. Not where a writer stopped
            # before merging its log (killed, a power cut): immutable would ignore the commits in it, and SQLite
            # reads them read-only from the -wal and -shm files that writer left.
            mount_read_only = os.statvfs(database).f_flag & os.ST_RDONLY
            frozen = "&immutable=1" if mount_read_only and not _unmerged_log(database) else ""
            uri = f"file:{quote(str(database.resolve()))}?mode=ro{frozen}"
            return sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False)
        connection = sqlite3.connect(database, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


class _RDBStorage(RDBStorage):
    """Optuna's RDB storage, whose heartbeat thread outlives a disk that stopped taking writes quietly: the trial's
    own next write stops the run in one line (:func:`writing`), where the thread would print a traceback; and whose
    stale trials carry their ``reason`` from the moment they are found stale."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Optuna's own check, before every trial of study.optimize, fails what this returns without a word, and a
        # finished trial takes no attributes: a trial that went stale between our check (search.runtime.liveness)
        # and Optuna's was failed with no reason (seen in CI). So the reason is written here, while it still runs.
        stale = super()._get_stale_trial_ids(study_id)
        for trial_id in stale:
            with suppress(optuna.exceptions.UpdateFinishedTrialError):  # another worker failed it first
                write_stored_reason(self, trial_id, silence_reason(self.get_trial(trial_id), self.grace_period))
        return stale

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:
            if write_failure(error) is None:
                raise


def _collided(error: Exception) -> bool:
    """Whether ``error`` is one of the collisions of workers creating a fresh database's tables at once: a duplicate
    row (``IntegrityError``), or a table, index or type that another worker made a moment before ("table studies
    already exists" from SQLite as ``OperationalError``, "relation alembic_version already exists" from PostgreSQL
    as ``ProgrammingError``, "Table 'studies' already exists" from MySQL), or SQLite's "database is locked" at once,
    without its busy wait: two connections to a fresh file that each hold a lock the other needs (one switching it to
    WAL, one creating tables) get it, and one of them must start again (seen once in CI's race test)."""
    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    said = str(error).lower()
    return isinstance(error, sqlalchemy.exc.DBAPIError) and ("already exists" in said or "database is locked" in said)


def _rdb_storage(url: str, grace: int, attempts: int = 5, *, read_only: bool = False) -> RDBStorage:
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and the warning says nothing to a user
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _RDBStorage(
                    url,
                    engine_kwargs={"creator": _sqlite_connector(url, read_only)} if is_sqlite(url) else None,
                    heartbeat_interval=heartbeat_seconds(grace),
                    grace_period=grace,
                    heartbeat_stale_trial_callback=stale_trial_retry(),
                )
        except sqlalchemy.exc.DBAPIError as error:
            # Workers started together on an empty database all create its tables, and all but one
            # collide; the tables are there on the next try.
            if attempt == attempts or not _collided(error):
                raise
            time.sleep(random.uniform(0.2, 1.0))
    raise AssertionError("unreachable")


def load_study(name: str, url: str, *, grace: int = GRACE_SECONDS, report: Report = warn) -> tuple[optuna.Study, BaseStorage]:
    """An existing study and its storage, or :class:`StorageError` naming the studies it does hold.

    For the commands that only read: a SQLite file that cannot be written (a read-only mount) is opened read-only.
    ``report`` as :func:`open_storage`.
    """
    if is_sqlite(url) and only_readable(url):
        check_storage(url, create=False)
        storage: BaseStorage = _read_only_storage(url, grace)
    else:
        storage = open_storage(url, create=False, grace=grace, report=report)
    try:
        return optuna.load_study(study_name=name, storage=storage), storage
    except KeyError:
        names = [s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)]
        held = f"it holds {', '.join(names)}" if names else "it holds no study"
        raise StorageError(f"study_name={name!r}: no such study in {mask(url)} ({held})") from None


def _unmerged_log(database: Path) -> bool:
    """Whether SQLite's write-ahead log beside ``database`` holds commits not yet merged into it."""
    log = database.with_name(f"{database.name}-wal")
    return log.exists() and log.stat().st_size > 0


def _read_only_storage(url: str, grace: int) -> RDBStorage:
    database = local_file(url)
    if database is not None and _unmerged_log(database) and not database.with_name(f"{database.name}-shm").exists():
        raise StorageError(
            f"storage={mask(url)!r}: its last commits are in {database}-wal, which SQLite cannot read on a read-only mount "
            f"without the {database.name}-shm file beside it; make the folder writable once (any command merges them), "
            "or copy the database with its -wal file to a writable folder"
        )
    try:
        return _rdb_storage(url, grace, read_only=True)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageError(f"storage={mask(url)!r}: cannot read this read-only database ({excerpt(reason)})") from None
