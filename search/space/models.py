"""Parsing of the ``model`` section: the compact template form or explicit layer lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cae.spec import Architecture, ArchitectureError
from search.space.messages import SpaceError, check_keys, did_you_mean, mapping, show
from search.space.params import is_distribution, parse_param, section
from search.space.schema import BOUND_KEYS, LAYER_KEYS, PER_STAGE_KEYS, TEMPLATE_KEYS, TRAIN_KEYS
from search.space.values import Design, DesignsModel, ExplicitModel, TemplateModel


def _parse_template(file: Path, raw: dict[str, Any]) -> TemplateModel:
    check_keys(file, "model", raw, [*TEMPLATE_KEYS, "per_stage"])
    per_stage = raw.get("per_stage", ["channels"])
    if not isinstance(per_stage, list) or any(k not in PER_STAGE_KEYS for k in per_stage):
        raise SpaceError(file, "model.per_stage", f"expected a list drawn from {', '.join(PER_STAGE_KEYS)}, got {show(per_stage)}")
    channels = raw.get("channels")
    channel_list = None
    if isinstance(channels, list):
        if not channels:
            raise SpaceError(file, "model.channels", "expected one entry per stage, got an empty list")
        spec = TEMPLATE_KEYS["channels"]
        channel_list = tuple(parse_param(file, f"model.channels.{i}", c, spec) for i, c in enumerate(channels))
        depth = raw.get("depth", len(channels))
        if depth != len(channels):
            raise SpaceError(file, "model.depth", f"expected {len(channels)} (one stage per entry of model.channels), got {show(depth)}")
        raw = {k: v for k, v in raw.items() if k != "channels"} | {"depth": len(channels)}
    params = section(file, "model", {k: v for k, v in raw.items() if k != "per_stage"}, TEMPLATE_KEYS)
    return TemplateModel(params, tuple(dict.fromkeys(per_stage)), channel_list)


def _parse_layer(file: Path, key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SpaceError(file, key, f"expected a layer mapping such as {{conv: 8, kernel: 3}}, got {show(raw)}")
    kinds = [k for k in LAYER_KEYS if k in raw]
    if len(kinds) != 1:
        typo = did_you_mean(LAYER_KEYS, *raw)
        raise SpaceError(file, key, f"expected exactly one layer kind ({', '.join(LAYER_KEYS)}), got {show(raw)}{typo}")
    kind = kinds[0]
    return {"kind": kind} | section(file, key, raw, LAYER_KEYS[kind])


def _parse_explicit(file: Path, raw: dict[str, Any]) -> ExplicitModel:
    check_keys(file, "model", raw, ["encoder", "decoder", "activation", "output", "norm", "linear_skip", *BOUND_KEYS])
    parts = {}
    for part in ("encoder", "decoder"):
        layers = raw.get(part)
        if not isinstance(layers, list) or not layers:
            raise SpaceError(file, f"model.{part}", f"expected a non-empty list of layers, got {show(layers)}")
        parts[part] = tuple(_parse_layer(file, f"model.{part}.{i}", layer) for i, layer in enumerate(layers))
    activation = parse_param(file, "model.activation", raw.get("activation", "relu"), TEMPLATE_KEYS["activation"])
    output = parse_param(file, "model.output", raw.get("output", "sigmoid"), TEMPLATE_KEYS["output"])
    norm = parse_param(file, "model.norm", raw.get("norm", "none"), TEMPLATE_KEYS["norm"])
    skip = parse_param(file, "model.linear_skip", raw.get("linear_skip", False), TEMPLATE_KEYS["linear_skip"])
    bounds = {k: parse_param(file, f"model.{k}", raw[k], TEMPLATE_KEYS[k]) for k in BOUND_KEYS if k in raw}
    return ExplicitModel(parts["encoder"], parts["decoder"], activation, output, norm, skip, **bounds)


def _parse_design(file: Path, key: str, raw: Any) -> Design:
    raw = mapping(file, key, raw, "a design ({architecture: ..., train: ..., lineage: ...})")
    check_keys(file, key, raw, ["architecture", "train", "lineage"])
    try:
        architecture = Architecture.from_dict(raw["architecture"])
    except KeyError as error:
        raise SpaceError(file, f"{key}.architecture", f"expected an architecture record (Architecture.to_dict), missing {error}") from None
    except (ArchitectureError, TypeError, ValueError, AttributeError) as error:
        raise SpaceError(file, f"{key}.architecture", f"expected an architecture record that builds: {error}") from None
    written = mapping(file, f"{key}.train", raw.get("train", {}), "training settings")
    train = section(file, f"{key}.train", written, TRAIN_KEYS)
    searched = [k for k in written if is_distribution(train[k])]
    if searched:
        raise SpaceError(file, f"{key}.train.{searched[0]}", "expected a constant: a design is one configuration")
    lineage = mapping(file, f"{key}.lineage", raw.get("lineage", {}), "where the design came from")
    return Design(architecture, {k: train[k] for k in written}, dict(lineage))


def _parse_designs(file: Path, raw: dict[str, Any]) -> DesignsModel:
    check_keys(file, "model", raw, ["designs"])
    designs = raw["designs"]
    if not isinstance(designs, list) or not designs:
        raise SpaceError(file, "model.designs", f"expected a non-empty list of designs, got {show(designs)}")
    return DesignsModel(tuple(_parse_design(file, f"model.designs.{i}", d) for i, d in enumerate(designs)))


def _parse_model(file: Path, raw: Any) -> TemplateModel | ExplicitModel | DesignsModel:
    if isinstance(raw, dict) and "designs" in raw:
        return _parse_designs(file, raw)
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(
            file, "model", f"expected a mapping with template keys ({', '.join(TEMPLATE_KEYS)}) or encoder/decoder lists, got {show(raw)}"
        )
    explicit = "encoder" in raw or "decoder" in raw
    template = [k for k in raw if k in TEMPLATE_KEYS and k not in ("activation", "output", "norm", "linear_skip", *BOUND_KEYS)]
    if explicit and template:
        raise SpaceError(file, "model", f"expected either encoder/decoder lists or template keys, not both (found {', '.join(template)})")
    return _parse_explicit(file, raw) if explicit else _parse_template(file, raw)
