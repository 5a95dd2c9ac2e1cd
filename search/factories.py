"""Optuna samplers and pruners from a space's ``study:`` section: small factories, nothing re-implemented.

    >>> make_pruner({"type": "median", "n_startup_trials": 5, "n_warmup_steps": 2})  # doctest: +ELLIPSIS
    <optuna.pruners._median.MedianPruner object at ...>

What a space may name, and with which keys, is declared once in :data:`search.space.schema.COMPONENTS`
(the parser checks names and keys against it without importing Optuna); here the run builds the
objects, and Optuna's own validation of the values becomes a :class:`~search.space.SpaceError`.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import optuna

from search.space import SpaceError, StudySpec
from search.space.schema import COMPONENTS


def _make(kind: str, cfg: dict[str, Any], file: str | Path, *, seed_offset: int = 0, **derived: Any) -> Any:
    name = cfg["type"]
    component = COMPONENTS[kind][name]
    defaults = {k: v for k, v in component.settings.items() if v is not None and v is not MISSING}
    kwargs = defaults | {k: v for k, v in cfg.items() if k != "type"} | derived
    if isinstance(kwargs.get("seed"), int):
        kwargs["seed"] += seed_offset
    module, _, attr = component.factory.rpartition(".")
    try:
        with warnings.catch_warnings():  # put back on leaving: the caller's filters are not ours to change
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return getattr(importlib.import_module(module), attr)(**kwargs)
    except (ValueError, TypeError) as error:  # Optuna's own validation of the values
        raise SpaceError(file, f"study.{kind}", f"expected valid {name} {kind} settings ({str(error).splitlines()[0]})") from error


def make_sampler(
    cfg: dict[str, Any], *, seed_offset: int = 0, grid: dict[str, list[Any]] | None = None, file: str | Path = "space"
) -> optuna.samplers.BaseSampler:
    """The sampler of ``cfg``; ``seed_offset`` (trials already in the study) keeps a resumed run
    from replaying the random start-up draws of the first run; ``grid`` is the grid sampler's
    search space (parameter name → values); ``file`` names the space in a :class:`SpaceError`."""
    derived = {"search_space": grid} if "search_space" in COMPONENTS["sampler"][cfg["type"]].derived else {}
    return _make("sampler", cfg, file, seed_offset=seed_offset, **derived)


def make_pruner(cfg: dict[str, Any], *, file: str | Path = "space") -> optuna.pruners.BasePruner:
    """The pruner of ``cfg``; ``file`` names the space in a :class:`SpaceError`."""
    return _make("pruner", cfg, file)


def check_components(study: StudySpec, file: str | Path, grid: dict[str, list[Any]] | None = None) -> None:
    """Build the study's sampler and pruner once, so that a value Optuna refuses stops the run before any storage is opened."""
    make_sampler(study.sampler, grid=grid, file=file)
    make_pruner(study.pruner, file=file)
