"""Every key a space may hold, its kind and its default: the one table that parsing, sampling and the
documentation (spaces/README.md) follow.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field
from typing import Any

import search.trials.objectives
from cae.chroma_bins import PAPER_REBALANCE, PAPER_TEMPERATURE
from cae.options import field_specs
from cae.settings import TASK_NAMES, TrainConfig
from cae.spec import ACTIVATIONS, LAYER_KINDS, NORMS, OUTPUT_ACTIVATIONS
from search.space.params import Bool, Enum, Float, Int, Key, field_kind

DOWNSAMPLING = ("maxpool", "stride")


UPSAMPLING = ("nearest", "bilinear", "transpose")


STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def declared_keys(cls: type, *, inherited: tuple[str, ...] = ()) -> dict[str, Key]:
    """A space's keys for dataclass ``cls``, derived from its declared fields (:mod:`cae.options`);
    the ``inherited`` ones default to None (the model's setting)."""
    return {
        spec.name: Key(field_kind(spec), None if spec.name in inherited or spec.default is MISSING else spec.default, spec.rule.tunable)
        for spec in field_specs(cls)
    }


TRAIN_KEYS: dict[str, Key] = declared_keys(TrainConfig)


TEMPLATE_KEYS: dict[str, Key] = {
    "depth": Key(Int(1), 2),
    "channels": Key(Int(1), 16),
    "kernel": Key(Int(1), 3),
    "downsample": Key(Enum(DOWNSAMPLING), "maxpool"),
    "upsample": Key(Enum(UPSAMPLING), "nearest"),
    "blocks": Key(Int(1), 1),
    "residual": Key(Bool(), False),
    "norm": Key(Enum(NORMS), "none"),
    "latent_channels": Key(Int(1), 16),
    "latent_dim": Key(Int(1), None),
    "linear_bottleneck": Key(Bool(), False),
    "linear_skip": Key(Bool(), False),
    "refine_depth": Key(Int(1), None),
    "activation": Key(Enum(ACTIVATIONS), "relu"),
    "output": Key(Enum(OUTPUT_ACTIVATIONS), "sigmoid"),
    "max_latent": Key(Int(1), None, tunable=False),
    "max_params": Key(Int(1), None, tunable=False),
}


PER_STAGE_KEYS = ("channels", "kernel", "downsample", "upsample", "activation", "blocks")


# Bounds that any model form may set: checked on every drawn architecture before it trains.
BOUND_KEYS = ("max_latent", "max_params")


# An explicit layer's keys that default to the model's own (``model.activation``, ``model.norm``;
# none for the decoder's last layer), wherever a layer kind has them.
INHERITED_KEYS = ("activation", "norm")


def _layer_keys(kind: str, cls: type) -> dict[str, Key]:
    """``{conv: 8, kernel: 3, ...}``: the kind's name holds the layer's first field, the rest are options."""
    first, *rest = declared_keys(cls, inherited=INHERITED_KEYS).items()
    return {kind: first[1]} | dict(rest)


# Explicit layers, derived from the layer classes of cae.spec.
LAYER_KEYS: dict[str, dict[str, Key]] = {kind: _layer_keys(kind, cls) for kind, cls in LAYER_KINDS.items()}


SECTIONS = ("study", "data", "train", "model")


TOP_KEYS = (*SECTIONS, "task", "start", "classes")


STUDY_KEYS = ("name", "objectives", "sampler", "pruner")


# What a study may minimise: the error always, and with it the code's size or the model's.
# A colorizer may instead maximise its colourfulness (validation images, as a share of the truth's).
OBJECTIVES = tuple(search.trials.objectives.OBJECTIVES)


@dataclass(frozen=True)
class Component:
    """A sampler or pruner a space may name in ``study.sampler`` / ``study.pruner``: the one declaration
    that the parser checks a space against and :mod:`search.factories` builds from.

    ``factory`` is a dotted path, imported only when a run builds the object, so that parsing a space
    imports neither Optuna nor torch. ``settings`` are the keys a space may write, each with the value
    passed when the space gives none: ``None`` leaves Optuna's own default, ``MISSING`` makes the key
    required. Keys that YAML cannot express (callables, sampler objects) are not offered.
    """

    factory: str
    settings: dict[str, Any] = field(default_factory=dict)
    # Optuna's pruners read intermediate values, which multi-objective trials cannot report (optuna #3450)
    multi_objective: bool = False
    # filled in by the run, never written in a space (the grid sampler's grid is the space's own choices)
    derived: tuple[str, ...] = ()


_PRUNER_STEPS = {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1, "n_min_trials": 1}
SAMPLERS: dict[str, Component] = {
    # Our spaces are conditional (per-stage channels exist only for the sampled depth): TPE's
    # multivariate+group mode models those joint, define-by-run parameters instead of ignoring them.
    "tpe": Component(
        "optuna.samplers.TPESampler",
        {"seed": 0, "multivariate": True, "group": True, "n_startup_trials": 10, "n_ei_candidates": 24, "constant_liar": True},
    ),
    "random": Component("optuna.samplers.RandomSampler", {"seed": None}),
    "qmc": Component(
        "optuna.samplers.QMCSampler",
        {"qmc_type": "sobol", "scramble": False, "seed": None, "warn_asynchronous_seeding": True, "warn_independent_sampling": True},
    ),
    "grid": Component("optuna.samplers.GridSampler", {"seed": None}, derived=("search_space",)),
    "nsga2": Component(
        "optuna.samplers.NSGAIISampler",
        {"population_size": 50, "mutation_prob": None, "crossover_prob": 0.9, "swapping_prob": 0.5, "seed": None},
    ),
}
PRUNERS: dict[str, Component] = {
    "median": Component("optuna.pruners.MedianPruner", _PRUNER_STEPS),
    "percentile": Component("optuna.pruners.PercentilePruner", {"percentile": MISSING} | _PRUNER_STEPS),
    "hyperband": Component(
        "optuna.pruners.HyperbandPruner", {"min_resource": 1, "max_resource": "auto", "reduction_factor": 3, "bootstrap_count": 0}
    ),
    "successive_halving": Component(
        "optuna.pruners.SuccessiveHalvingPruner",
        {"min_resource": "auto", "reduction_factor": 4, "min_early_stopping_rate": 0, "bootstrap_count": 0},
    ),
    # the project's own: it reads the trials' recorded curves, so it prunes multi-objective studies too
    "latent_percentile": Component(
        "search.pruning.latent_pruner.LatentPercentilePruner",
        {"percentile": 50.0, "latent_factor": 2.0, "n_startup_trials": 4, "n_warmup_steps": 1, "n_min_trials": 3},
        multi_objective=True,
    ),
    "none": Component("optuna.pruners.NopPruner", multi_objective=True),
    # asynchronous successive halving over the study's objectives (search/pruning/rungs.py)
    "pareto_halving": Component(
        "search.pruning.rungs.ParetoHalvingPruner", {"min_epochs": 1, "eta": 3, "n_min_trials": 3}, multi_objective=True
    ),
}
COMPONENTS: dict[str, dict[str, Component]] = {"sampler": SAMPLERS, "pruner": PRUNERS}


START_KEYS = ("study", "storage", "trial", "latent")


# Chroma classification (task colorization_classes, cae.chroma_bins): grid cells per axis, rebalancing, temperature.
CLASSES_KEYS: dict[str, Key] = {
    "bins": Key(Int(2), 16),
    "rebalance": Key(Float(0.0, strict=False, maximum=1.0), PAPER_REBALANCE),
    "temperature": Key(Float(0.0), PAPER_TEMPERATURE),
}


CONTEXT_KEY = Key(Int(0), 0)


TASK_KEY = Key(Enum(TASK_NAMES), "reconstruction")


WIDTH_KEY = Key(Float(0.0), 1.0)


DATA_KEYS = ("dataset", "root", "split", "val", "subset", "seed", "parts", "image_size", "channels")
