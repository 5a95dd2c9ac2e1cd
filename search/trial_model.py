"""One trial of a study, ready to look at: its trained model (the uploaded ``model.pt``) and its data::

    loaded = load_trial("recon")             # the best trial
    loaded = load_trial("recon", trial=11)   # any complete trial
    loaded.model.encode(images), loaded.data().test.images, loaded.record.latent_size

Every ``python -m analysis.<view> --study NAME [--trial N]`` starts here, so they all refuse the
same things the same way: no such study, no such trial, a trial without weights (pruned or
failed trials upload none). The weights are read from the folder the study recorded when its
trials were written (:func:`search.storage.recorded_artifact_dir`), whatever the current folder,
and nothing is created. Messages are in plain words; a command line adds its flags if it wants.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from cae.builder import CAE
from cae.checkpoint import load_checkpoint
from cae.data import DataConfig, Splits, load_splits
from search.best import load_best
from search.display import state_counts
from search.record import TrialRecord, read_trial
from search.start import recorded_data
from search.storage import StorageError, default_storage, load_study, recorded_artifact_dir


@dataclass(frozen=True)
class LoadedTrial:
    study: optuna.Study
    trial: FrozenTrial
    model: CAE
    data_config: DataConfig

    @cached_property
    def record(self) -> TrialRecord:
        """What the trial recorded (:func:`search.record.read_trial`): its curves, errors, architecture, data."""
        return read_trial(self.trial)

    def data(self) -> Splits:
        """The trial's images, split as in its study (loaded on demand: the slow part)."""
        return load_splits(self.data_config)

    @property
    def name(self) -> str:
        return f"study {self.study.study_name}, trial {self.trial.number}"


def find_trial(study_name: str, storage: str | None = None, trial: int | None = None) -> tuple[optuna.Study, FrozenTrial, RDBStorage]:
    """The study, its complete trial number ``trial`` (default: the best) and its storage.

    Raises :class:`StorageError` for a study or trial that is not there, or a trial that did not complete.
    """
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
    """The trained model of a complete trial, with the data settings of its study."""
    study, frozen, rdb = find_trial(study_name, storage, trial)
    metas = [m for m in get_all_artifact_meta(frozen, storage=rdb) if m.filename == "model.pt"]
    if not metas:
        raise StorageError(
            f"trial {frozen.number} of study {study_name} has no model.pt artifact (its upload failed: see its artifact_error)"
        )
    folder = recorded_artifact_dir(study, storage or default_storage(study_name))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        try:
            download_artifact(artifact_store=FileSystemArtifactStore(folder), file_path=str(path), artifact_id=metas[0].artifact_id)
        except Exception as error:  # the artifact folder moved or was deleted
            reason = getattr(error, "strerror", None) or str(error)
            raise StorageError(
                f"trial {frozen.number} of study {study_name}: cannot read its model.pt from {folder}, its artifact folder ({reason})"
            ) from None
        model = load_checkpoint(path)
    return LoadedTrial(study, frozen, model, recorded_data(study.user_attrs))
