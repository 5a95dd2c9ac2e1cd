"""Start from a finished study: one trial's architecture and training settings, and the study's data.

A colorization study (``start: {study: recon}`` in a space) and ``python -m analysis.colorize`` both
begin where a reconstruction study ended, as the assignment asks ("use the hyperparameters,
including the network architecture, that you identified to yield the best performance"). The trial
is the best one (lowest validation error), a numbered one (``trial: 7``), or the completed trial
nearest a latent size among the study's best trade-offs (``latent: 256``: the Pareto front of a
study of several objectives; else, of error against latent size).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from optuna.trial import FrozenTrial, TrialState

from cae.data import DataConfig
from cae.spec import Architecture
from search.runtime.storage import StorageError
from search.space import Space, SpaceError, StartedModel, parse_space
from search.trials.best import load_best
from search.trials.front import size_error_front
from search.trials.objectives import best_val_mse, is_multi_objective, pareto_trials
from search.trials.record import read_trial


@dataclass(frozen=True)
class Start:
    """What a finished study hands on: one trial's architecture and training, and the study's data."""

    architecture: Architecture
    train: dict[str, Any]
    data: DataConfig
    origin: str  # "study latent, trial 4 (latent 3,072)"
    study: str
    trial: int

    def record(self) -> dict[str, Any]:
        """What a child study keeps of its start (``start`` study attribute), so that it never needs the parent again."""
        return {
            "study": self.study,
            "trial": self.trial,
            "origin": self.origin,
            "architecture": self.architecture.to_dict(),
            "train": self.train,
        }


def resolve_start(space: Space) -> Space:
    """``space`` with its ``start:`` read from the parent study: the started trial's architecture, and its
    training settings as the defaults of every ``train`` key the space leaves out. Other spaces as they are.

    Raises :class:`~search.space.SpaceError` (``start.study``) when there is no such study or trial.
    """
    model = space.model
    if not isinstance(model, StartedModel) or model.architecture is not None:
        return space
    ref = model.ref
    try:
        start = best_start(ref.study, ref.storage, trial=ref.trial, latent=ref.latent)
    except ValueError as error:  # StorageError: no such study, no finished trial
        raise SpaceError(space.path, "start.study", f"expected a study with a finished trial: {error}") from None
    train = start.train | {k: v for k, v in space.train.items() if k in space.train_written}
    model = dataclasses.replace(model, architecture=start.architecture, origin=start.origin, record=start.record())
    return dataclasses.replace(space, model=model, train=train)


def best_start(study_name: str, storage: str | None = None, *, trial: int | None = None, latent: int | None = None) -> Start:
    """The best trial of ``study_name``, trial number ``trial``, or the front's trial nearest ``latent`` values.

    Raises :class:`~search.runtime.storage.StorageError` when there is no such (completed) trial.
    """
    study, chosen, _ = load_best(study_name, storage)
    if trial is not None:
        found = [t for t in study.get_trials(deepcopy=False) if t.number == trial]
        if not found or found[0].state != TrialState.COMPLETE:
            state = found[0].state.name.lower() if found else "not in the study"
            raise StorageError(f"trial {trial} of study {study_name}: expected a completed trial, it is {state}")
        chosen = found[0]
    elif latent is not None:
        front = (
            pareto_trials(study)
            if is_multi_objective(study)
            else latent_front(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        )
        chosen = min(front, key=lambda t: (abs(math.log(_latent_size(t) / latent)), best_val_mse(t)))
    record = read_trial(chosen)
    arch = record.architecture
    if arch is None or record.train is None:
        raise StorageError(
            f"trial {chosen.number} of study {study_name}: expected its architecture and training settings, it recorded none"
        )
    return Start(
        architecture=arch,
        train=record.train,
        data=recorded_data(study.user_attrs),
        origin=f"study {study_name}, trial {chosen.number} (latent {arch.latent_size:,})",
        study=study_name,
        trial=chosen.number,
    )


def _latent_size(trial: FrozenTrial) -> int:
    """A complete trial's latent size (:class:`StorageError` where it recorded none)."""
    size = read_trial(trial).latent_size
    if size is None:
        raise StorageError(f"trial {trial.number}: expected its latent size, it recorded none")
    return size


def latent_front(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials no other beats on both validation error and latent size (the smaller the better)."""
    kept = size_error_front([_latent_size(t) for t in trials], [best_val_mse(t) for t in trials])
    return [trials[i] for i in kept]


def recorded_space(study_attrs: dict) -> Space | None:
    """The space a study ran (its recorded text and overrides), parsed again; ``None`` for a study that recorded none.

    Parsing is pure, so a study started from another (``start:``) is read without that one.
    """
    text = study_attrs.get("space")
    if text is None:
        return None
    path = Path(study_attrs.get("space_file") or "recorded space")
    return parse_space(path, text, yaml.safe_load(text), study_attrs.get("overrides") or [])


def recorded_data(study_attrs: dict) -> DataConfig:
    """The data settings a study ran with (see :func:`recorded_space`), the defaults where it recorded no space."""
    space = recorded_space(study_attrs)
    return DataConfig() if space is None else space.data
