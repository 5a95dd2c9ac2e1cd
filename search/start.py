"""Start from a finished study: its best trial's architecture and training settings, and its data.

A colorization study (``start: {study: recon}`` in a space) and ``python -m analysis.colorize`` both
begin where a reconstruction study ended, as the assignment asks ("use the hyperparameters,
including the network architecture, that you identified to yield the best performance").
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cae.data import DataConfig
from cae.spec import Architecture
from search.best import load_best
from search.space import Start, parse_space


def best_start(study_name: str, storage: str | None = None) -> Start:
    """The best trial of ``study_name``; :class:`~search.storage.StorageError` when there is none."""
    study, best, _ = load_best(study_name, storage)
    attrs = best.user_attrs
    return Start(
        architecture=Architecture.from_dict(attrs["architecture"]),
        train=dict(attrs["train"]),
        data=recorded_data(study.user_attrs),
        origin=f"study {study_name}, trial {best.number}",
    )


def recorded_data(study_attrs: dict) -> DataConfig:
    """The data settings a study ran with, from the space text and overrides it recorded."""
    text = study_attrs.get("space")
    if text is None:
        return DataConfig()
    path = Path(study_attrs.get("space_file") or "recorded space")
    raw = yaml.safe_load(text)
    return parse_space(path, text, raw, study_attrs.get("overrides") or []).data
