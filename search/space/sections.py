"""Parsing of the ``study``, ``data`` and ``start`` sections (and the model of a started space)."""

from __future__ import annotations

from dataclasses import MISSING
from pathlib import Path
from typing import Any

from cae.datasets import DATASETS, REGISTRY
from cae.settings import OFFICIAL, VAL_EXPECTED, DataConfig, valid_val
from search.space.messages import SpaceError, check_keys, did_you_mean, mapping, show
from search.space.params import Enum, Int, coerce, parse_param
from search.space.schema import (
    COMPONENTS,
    CONTEXT_KEY,
    DATA_KEYS,
    OBJECTIVES,
    START_KEYS,
    STUDY_KEYS,
    STUDY_NAME,
    WIDTH_KEY,
)
from search.space.values import StartedModel, StartRef, StudySpec


def _parse_study(file: Path, raw: dict[str, Any]) -> StudySpec:
    check_keys(file, "study", raw, STUDY_KEYS)
    name = raw.get("name", file.stem)
    check_study_name(name, file, "study.name")
    objectives = _parse_objectives(file, raw.get("objectives", ["val_mse"]))
    multi = len(objectives) > 1
    sampler = mapping(file, "study.sampler", raw.get("sampler", {"type": "tpe", "seed": 0}), "sampler settings")
    default_pruner = {"type": "latent_percentile"} if multi else {"type": "median"}
    pruner = mapping(file, "study.pruner", raw.get("pruner", default_pruner), "pruner settings")
    multi_objective_pruners = [candidate for candidate, component in COMPONENTS["pruner"].items() if component.multi_objective]
    if multi and pruner.get("type") not in multi_objective_pruners:
        raise SpaceError(
            file,
            "study.pruner.type",
            f"expected one of {', '.join(multi_objective_pruners)} in a study of several objectives, got {pruner.get('type')!r} "
            "(Optuna's pruners need reported values, which a multi-objective trial cannot report: optuna #3450)",
        )
    _check_component(file, "sampler", sampler)
    _check_component(file, "pruner", pruner)
    return StudySpec(name, sampler, pruner, objectives)


def _check_component(file: Path, kind: str, cfg: dict[str, Any]) -> None:
    """The names and keys of ``study.sampler`` / ``study.pruner`` against the registry (schema.COMPONENTS);
    Optuna judges the values when the run builds the object (search.factories)."""
    registry, key = COMPONENTS[kind], f"study.{kind}"
    name = cfg.get("type")
    if name not in registry:
        raise SpaceError(file, f"{key}.type", f"expected one of {', '.join(registry)}, got {show(name)}{did_you_mean(registry, name)}")
    settings = registry[name].settings
    for setting in cfg:
        if setting != "type" and setting not in settings:
            expected = f"; expected one of {', '.join(settings)}" if settings else f"; the {name} {kind} takes none"
            raise SpaceError(file, f"{key}.{setting}", f"unknown {name} {kind} setting{did_you_mean(settings, setting)}{expected}")
    for setting, default in settings.items():
        if default is MISSING and setting not in cfg:
            raise SpaceError(file, f"{key}.{setting}", f"missing: the {name} {kind} needs its {setting}")


def _parse_objectives(file: Path, raw: Any) -> tuple[str, ...]:
    expected = f"a list of distinct objectives from {', '.join(OBJECTIVES)}, val_mse among them"
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or "val_mse" not in raw or len(set(map(str, raw))) != len(raw):
        raise SpaceError(file, "study.objectives", f"expected {expected}, got {show(raw)}")
    for value in raw:
        if value not in OBJECTIVES:
            raise SpaceError(
                file, "study.objectives", f"unknown objective {show(value)}{did_you_mean(OBJECTIVES, value)}; expected {expected}"
            )
    return tuple(raw)


def check_study_name(name: Any, file: str | Path, key: str) -> str:
    """Study names become file names (``studies/<name>.db``), so they may not hold ``/`` or ``..``."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name) or ".." in name:
        raise SpaceError(file, key, f"expected a name of letters, digits, '_', '-' and '.' (no '/' or '..'), got {show(name)}")
    return name


def _parse_data(file: Path, raw: dict[str, Any]) -> DataConfig:
    check_keys(file, "data", raw, DATA_KEYS)
    dataset = coerce(file, "data.dataset", Enum(DATASETS), raw.get("dataset", "cifar10"))
    root = raw.get("root")
    if root is not None and not isinstance(root, str):
        raise SpaceError(file, "data.root", f"expected a folder path or null, got {show(root)}")
    split = raw.get("split", [0.8, 0.1, 0.1])
    if split != OFFICIAL:
        ok = isinstance(split, list) and len(split) == 3
        ok = ok and all(not isinstance(f, bool) and isinstance(f, int | float) and 0 < f < 1 for f in split)
        if not ok or abs(sum(split) - 1) > 1e-6:
            expected = f"three fractions in (0, 1) summing to 1 (train, val, test) or {OFFICIAL} (the dataset's own test part)"
            raise SpaceError(file, "data.split", f"expected {expected}, got {show(split)}")
        split = tuple(split)
    val = raw.get("val")
    if val is not None and split != OFFICIAL:
        raise SpaceError(file, "data.val", f"expected only with data.split: {OFFICIAL} (fractions set their own), got {show(val)}")
    if val is not None and not valid_val(val):
        raise SpaceError(file, "data.val", f"{VAL_EXPECTED}, got {show(val)}")
    subset = raw.get("subset")
    if subset is not None:
        subset = coerce(file, "data.subset", Int(10), subset, " or null (all images)")
    seed = coerce(file, "data.seed", Int(0), raw.get("seed", 0))
    parts = raw.get("parts")
    if parts is not None:
        known = REGISTRY[dataset].parts if dataset in REGISTRY else ("train", "test")
        if isinstance(parts, str):
            parts = [parts]
        if not isinstance(parts, list) or not parts or len(set(map(str, parts))) != len(parts) or not set(parts) <= set(known):
            raise SpaceError(file, "data.parts", f"expected a list of distinct parts of {dataset} ({', '.join(known)}), got {show(parts)}")
        parts = tuple(parts)
    image_size = raw.get("image_size")
    if image_size is not None:
        image_size = coerce(file, "data.image_size", Int(1), image_size, " or null (the images' own size)")
    channels = raw.get("channels")
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise SpaceError(file, "data.channels", f"expected 1 (gray), 3 (RGB) or null (the images' own channels), got {show(channels)}")
    return DataConfig(
        dataset=dataset, root=root, split=split, val=val, subset=subset, seed=seed, parts=parts, image_size=image_size, channels=channels
    )


def _parse_start(file: Path, raw: Any) -> StartRef:
    raw = mapping(file, "start", raw, "the study to start from ({study: NAME})")
    check_keys(file, "start", raw, START_KEYS)
    if "study" not in raw:
        raise SpaceError(file, "start.study", "missing: expected the name of a finished study, e.g. start: {study: recon}")
    name = check_study_name(raw["study"], file, "start.study")
    storage = raw.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise SpaceError(file, "start.storage", f"expected an Optuna storage URL, got {show(storage)}")
    if "trial" in raw and "latent" in raw:
        raise SpaceError(file, "start", "expected trial or latent, not both (a trial number, or the front's trial nearest a latent size)")
    trial = coerce(file, "start.trial", Int(0), raw["trial"]) if "trial" in raw else None
    latent = coerce(file, "start.latent", Int(1), raw["latent"]) if "latent" in raw else None
    return StartRef(name, storage, trial, latent)


def _parse_started(file: Path, raw: dict[str, Any], ref: StartRef) -> StartedModel:
    check_keys(file, "model", raw, ["width", "context"])
    width = parse_param(file, "model.width", raw.get("width", 1.0), WIDTH_KEY)
    context = parse_param(file, "model.context", raw.get("context", 0), CONTEXT_KEY)
    return StartedModel(ref, width, context)
