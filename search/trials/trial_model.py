"""One trial of a study, ready to look at: its trained model (the uploaded ``model.pt``) and its data::

    loaded = load_trial("recon")             # the best trial
    loaded = load_trial("recon", trial=11)   # any complete trial
    loaded.model.encode(images), loaded.data().test.images, loaded.record.latent_size

Every ``python -m analysis.<view> --study NAME [--trial N]`` starts here, so they all refuse the
same things the same way: no such study, no such trial, a trial without weights (pruned or
failed trials upload none), weights that cannot be read (a ``model.pt`` cut, damaged, or replaced by
another network's: :func:`cae.checkpoint.load_checkpoint`). The weights are read from the folder the
study recorded when its trials were written (:func:`search.runtime.storage.recorded_artifact_dir`), whatever the
current folder, and nothing is created. Messages are in plain words; a command line adds its flags if it wants.
"""

from __future__ import annotations

import numbers
import stat
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from cae.builder import CAE
from cae.checkpoint import CheckpointError, load_checkpoint
from cae.data import DataConfig, Splits, load_splits
from cae.spec import Architecture
from search.display import state_counts
from search.runtime.storage import StorageError, default_storage, load_study, recorded_artifact_dir
from search.space import check_study_name
from search.trials.best import load_best
from search.trials.record import TrialRecord, read_trial
from search.trials.start import recorded_data


@dataclass(frozen=True)
class LoadedTrial:
    study: optuna.Study
    trial: FrozenTrial
    model: CAE
    data_config: DataConfig

    @cached_property
    def record(self) -> TrialRecord:
        """What the trial recorded (:func:`search.trials.record.read_trial`): its curves, errors, architecture, data."""
        return read_trial(self.trial)

    def data(self) -> Splits:
        """The trial's images, split as in its study (loaded on demand: the slow part)."""
        return load_splits(self.data_config)

    @property
    def name(self) -> str:
        return f"study {self.study.study_name}, trial {self.trial.number}"


def check_trial_number(trial: Any, parameter: str = "trial") -> int | None:
    """``trial`` as a trial number (an int ≥ 0, numpy's too) or ``None``; ``TypeError``/``ValueError`` naming ``parameter=``."""
    if trial is None:
        return None
    if isinstance(trial, bool) or not isinstance(trial, numbers.Integral):
        raise TypeError(f"{parameter}={trial!r}: expected a trial number (an int ≥ 0) or None, got a {type(trial).__name__}")
    if trial < 0:
        raise ValueError(f"{parameter}={trial!r}: expected a trial number ≥ 0")
    return int(trial)


def find_trial(study_name: str, storage: str | None = None, trial: int | None = None) -> tuple[optuna.Study, FrozenTrial, RDBStorage]:
    """The study, its complete trial number ``trial`` (default: the best) and its storage.

    Raises :class:`StorageError` for a study or trial that is not there, or a trial that did not complete;
    :class:`~search.space.SpaceError` for a study name that is no name, ``TypeError``/``ValueError`` for a
    ``trial`` that is no trial number.
    """
    check_study_name(study_name, "find_trial", "study_name=")  # before the name becomes a file path
    trial = check_trial_number(trial)
    if trial is None:
        return load_best(study_name, storage)
    study, rdb = load_study(study_name, storage or default_storage(study_name))
    found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
    if not found:
        held = f"trials 0 to {len(study.trials) - 1}" if study.trials else "no trials"
        raise StorageError(f"study {study_name} has no trial {trial} (it has {held}; {state_counts(study)})")
    if found[0].state != TrialState.COMPLETE:
        state = found[0].state.name.lower()
        raise StorageError(f"trial {trial} of study {study_name} is {state}, and only complete trials keep their weights")
    return study, found[0], rdb


def load_trial(study_name: str, storage: str | None = None, trial: int | None = None) -> LoadedTrial:
    """The trained model of a complete trial, with the data settings of its study.

    Raises :class:`StorageError` as :func:`find_trial` does, and for weights that are missing or cannot be read
    (naming the file and what to do).
    """
    check_study_name(study_name, "load_trial", "study_name=")
    study, frozen, rdb = find_trial(study_name, storage, trial)
    metas = [m for m in get_all_artifact_meta(frozen, storage=rdb) if m.filename == "model.pt"]
    if not metas:
        raise StorageError(
            f"trial {frozen.number} of study {study_name} has no model.pt artifact (its upload failed: see its artifact_error)"
        )
    folder = recorded_artifact_dir(study, storage or default_storage(study_name))
    stored_at = folder / Path(metas[0].artifact_id).name  # the store's own file name: Optuna refuses any other form
    kind = _not_plain(stored_at)
    if kind:  # a copy of /dev/zero or of a FIFO would never end (and fill the temporary folder on the way)
        where = f"trial {frozen.number} of study {study_name}: its model.pt ({stored_at})"
        raise StorageError(f"{where} is {kind}, not a file; {_remedy(frozen, study_name)}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        try:
            download_artifact(artifact_store=FileSystemArtifactStore(folder), file_path=str(path), artifact_id=metas[0].artifact_id)
        except Exception as error:  # the artifact folder moved or was deleted
            reason = getattr(error, "strerror", None) or str(error)
            raise StorageError(
                f"trial {frozen.number} of study {study_name}: cannot read its model.pt from {folder}, its artifact folder ({reason})"
            ) from None
        try:
            model = load_checkpoint(path, expected=_recorded_architecture(frozen))
        except CheckpointError as error:
            raise StorageError(
                f"trial {frozen.number} of study {study_name}: its model.pt ({stored_at}) {error.problem}; {_remedy(frozen, study_name)}"
            ) from None
    return LoadedTrial(study, frozen, model, recorded_data(study.user_attrs))


def _not_plain(path: Path) -> str | None:
    """What ``path`` is when it is there but no plain file (through links): ``a folder``, ``a FIFO``, ``a device``; else ``None``."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # missing or unreadable: the download says so
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "no file"


def _remedy(trial: FrozenTrial, study_name: str) -> str:
    """What to do about a trial's unreadable weights."""
    trained = read_trial(trial).epochs
    epochs = f"{trained} epoch{'s' if trained != 1 else ''}" if trained else "its epochs"
    return (
        f"restore the file, or train trial {trial.number}'s design again by a refit (search.refit, or python -m search refit, "
        f"{epochs}), which writes study {study_name}-refit"
    )


def _recorded_architecture(trial: FrozenTrial) -> Architecture | None:
    """The architecture the trial recorded, which its weights must be; ``None`` for a record this version cannot read."""
    try:
        return read_trial(trial).architecture
    except (ValueError, TypeError, KeyError):
        return None
