"""Optuna samplers and pruners from a space's ``study:`` section: small factories, nothing re-implemented.

    >>> make_pruner({"type": "median", "n_startup_trials": 5, "n_warmup_steps": 2})
    <optuna.pruners._median.MedianPruner object at ...>

Keys other than ``type`` are the Optuna class's own keyword arguments, checked against its
signature so that a typo is refused with a "did you mean" instead of a TypeError.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna

from search.latent_pruner import LatentPercentilePruner
from search.space import did_you_mean

SAMPLERS: dict[str, type] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "qmc": optuna.samplers.QMCSampler,
    "grid": optuna.samplers.GridSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}
PRUNERS: dict[str, type] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "none": optuna.pruners.NopPruner,
    # the project's own: it reads the trials' recorded curves, so it prunes multi-objective studies too
    "latent_percentile": LatentPercentilePruner,
}
REGISTRIES = {"sampler": SAMPLERS, "pruner": PRUNERS}
# Our spaces are conditional (per-stage channels exist only for the sampled depth): TPE's
# multivariate+group mode models those joint, define-by-run parameters instead of ignoring them.
TPE_DEFAULTS = {"seed": 0, "multivariate": True, "group": True}
# The grid sampler's grid is the space's own choices (search.space_check.grid_search_space), never
# written twice; a placeholder stands in while its other settings are checked.
DERIVED = {("sampler", "grid"): {"search_space": {"placeholder": [0]}}}


def _arguments(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls).parameters if p != "self"]


def check_component(kind: str, cfg: dict[str, Any]) -> tuple[str | None, str] | None:
    """``None`` when ``cfg`` makes a valid sampler or pruner, else ``(sub-key or None, what was expected)``."""
    registry = REGISTRIES[kind]
    name = cfg.get("type")
    if name not in registry:
        return "type", f"expected one of {', '.join(registry)}, got {name!r}{did_you_mean(registry, name)}"
    derived = DERIVED.get((kind, name), {})
    allowed = [a for a in _arguments(registry[name]) if a not in derived]
    for key in cfg:
        if key != "type" and key not in allowed:
            return key, f"unknown {name} {kind} setting{did_you_mean(allowed, key)}; expected one of {', '.join(allowed)}"
    try:
        _make(kind, cfg | derived)
    except Exception as error:  # Optuna's own validation: ValueError, TypeError
        return None, f"expected valid {name} {kind} settings ({str(error).splitlines()[0]})"
    return None


def _make(kind: str, cfg: dict[str, Any], seed_offset: int = 0) -> Any:
    name = cfg["type"]
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    if kind == "sampler" and name == "tpe":
        kwargs = TPE_DEFAULTS | kwargs
    if isinstance(kwargs.get("seed"), int):
        kwargs["seed"] += seed_offset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return REGISTRIES[kind][name](**kwargs)


def make_sampler(cfg: dict[str, Any], *, seed_offset: int = 0, grid: dict[str, list[Any]] | None = None) -> optuna.samplers.BaseSampler:
    """The sampler of ``cfg``; ``seed_offset`` (trials already in the study) keeps a resumed run
    from replaying the random start-up draws of the first run; ``grid`` is the grid sampler's
    search space (parameter name → values)."""
    return _make("sampler", cfg | ({"search_space": grid} if cfg.get("type") == "grid" else {}), seed_offset)


def make_pruner(cfg: dict[str, Any]) -> optuna.pruners.BasePruner:
    return _make("pruner", cfg)
