"""Where studies live: Optuna RDB storage URLs (SQLite by default) and the ``studies/<name>/`` folder.

``studies/<name>.db`` holds the trials; ``studies/<name>/artifacts/`` the pictures and checkpoints
that Optuna's artifact store uploads (optuna-dashboard shows them with ``--artifact-dir``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

STUDIES = Path("studies")
# A trial whose worker stops beating (killed, machine lost) is marked failed after the grace
# period and retried once with the same parameters by the next worker that starts a trial.
HEARTBEAT_SECONDS = 60
GRACE_SECONDS = 180


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


def _sqlite_file(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def open_storage(url: str, *, create: bool = True) -> RDBStorage:
    """An Optuna RDB storage with heartbeats; ``create=False`` refuses a SQLite file that is not there."""
    path = _sqlite_file(url)
    if path is not None:
        if not create and not path.exists():
            raise StorageError(f"{mask(url)}: no such database (run `python -m search run` first)")
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna, and the warning says nothing to a user
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
    except Exception as error:  # SQLAlchemy raises many types for bad URLs and unreachable servers
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageError(f"--storage {mask(url)}: cannot open this storage ({mask(reason)})") from None


def load_study(name: str, url: str) -> tuple[optuna.Study, RDBStorage]:
    """An existing study and its storage, or :class:`StorageError` naming the studies it does hold."""
    storage = open_storage(url, create=False)
    try:
        return optuna.load_study(study_name=name, storage=storage), storage
    except KeyError:
        names = [s.study_name for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)]
        held = f"it holds {', '.join(names)}" if names else "it holds no study"
        raise StorageError(f"--study {name}: no such study in {mask(url)} ({held})") from None
