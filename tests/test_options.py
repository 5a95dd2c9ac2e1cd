"""One schema (issue 13): a layer kind's and a train option's rules are declared once, on the dataclass,
and the constructor, the space parser, the sampler and the docs all follow that declaration."""

from __future__ import annotations

import dataclasses
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from cae.options import check_fields, expected, field_specs, option
from cae.settings import TrainConfig
from cae.spec import LAYER_KINDS, ArchitectureError
from search.sample import random_suggest, sample
from search.space import SpaceError, load_space
from search.space.params import Bool, Enum, Float, Int, OrWord
from search.space.schema import INHERITED_KEYS, LAYER_KEYS, TRAIN_KEYS, declared_keys

# A valid instance of each layer kind, to change one field of at a time.
VALID = {"conv": (8,), "transpose": (8,), "residual": (8,), "maxpool": (), "avgpool": (), "upsample": (), "dense": (8,), "reshape": (2, 2)}


def _bad_value(spec) -> object:
    """A value that breaks ``spec``'s declaration."""
    if spec.choices is not None:
        return "nope"
    if spec.type is bool:
        return 3
    return spec.rule.minimum - 1


@dataclass(frozen=True)
class Toy:
    count: int = option(minimum=2)
    rate: float = option(0.5, minimum=0.0, maximum=1.0)
    mode: Literal["a", "b"] = "a"
    flag: bool = option(False, tunable=False)
    gap: int | None = option(None, minimum=0, none_word="auto")

    def __post_init__(self) -> None:
        check_fields(self)


def test_a_declared_dataclass_gives_its_checks_and_its_space_keys() -> None:
    keys = declared_keys(Toy)
    assert keys["count"].kind == Int(2) and keys["count"].default is None
    assert keys["rate"].kind == Float(0.0, False, 1.0) and keys["rate"].default == 0.5
    assert keys["mode"].kind == Enum(("a", "b")) and keys["flag"].kind == Bool() and not keys["flag"].tunable
    assert keys["gap"].kind == OrWord(Int(0), "auto") and keys["gap"].kind.coerce("auto") is None
    assert Toy(2).gap is None
    for bad, message in (
        ({"count": 1}, "Toy.count must be an integer ≥ 2, got 1"),
        ({"count": True}, "Toy.count must be an integer ≥ 2, got True"),
        ({"count": 2, "rate": 1.5}, "Toy.rate must be a number in [0, 1], got 1.5"),
        ({"count": 2, "mode": "c"}, "Toy.mode must be one of a, b, got 'c'"),
        ({"count": 2, "flag": 1}, "Toy.flag must be true or false, got 1"),
        ({"count": 2, "gap": -1}, "Toy.gap must be an integer ≥ 0, got -1"),
    ):
        with pytest.raises(ValueError) as error:
            Toy(**bad)
        assert str(error.value) == message


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_every_layer_field_is_a_space_key_and_refused_alike_by_both(kind: str, tmp_path: Path) -> None:
    cls = LAYER_KINDS[kind]
    specs = field_specs(cls)
    first, *rest = [s.name for s in specs]
    # the kind's name holds the first field; every other field is an option under its own name
    assert list(LAYER_KEYS[kind]) == [kind, *rest]
    assert [f.name for f in dataclasses.fields(cls)] == [first, *rest]
    for spec in specs:
        bad = _bad_value(spec)
        args = dict(zip([s.name for s in specs], VALID[kind], strict=False)) | {spec.name: bad}
        with pytest.raises(ArchitectureError) as built:
            cls(**args)
        assert expected(spec) in str(built.value)
        key = kind if spec.name == first else spec.name
        layer = {kind: VALID[kind][0] if VALID[kind] else 2} | {key: bad}
        if kind == "reshape" and key != "size":
            layer["size"] = 2
        space = tmp_path / f"{kind}-{spec.name}.yaml"
        space.write_text(f"study: {{name: t}}\nmodel:\n  encoder: [{{conv: 8}}]\n  decoder: [{_flow(layer)}]\n")
        with pytest.raises(SpaceError) as parsed:
            load_space(space)
        assert f"model.decoder.0.{key}" in str(parsed.value) and expected(spec) in str(parsed.value)


def _flow(layer: dict) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in layer.items()) + "}"


def test_inherited_options_default_to_the_models_and_none_on_the_last_layer(tmp_path: Path) -> None:
    assert all(LAYER_KEYS[k][key].default is None for k in LAYER_KEYS for key in INHERITED_KEYS if key in LAYER_KEYS[k])
    space = tmp_path / "explicit.yaml"
    space.write_text(
        textwrap.dedent("""
        study: {name: t}
        model:
          activation: gelu
          norm: batch
          encoder: [{conv: 8, stride: 2}, {residual: 8, norm: none}, {conv: 4}]
          decoder: [{transpose: 8}, {conv: 3}]
        """)
    )
    arch = sample(load_space(space), random_suggest(random.Random(0))).architecture
    conv, residual, _ = arch.encoder
    transpose, last = arch.decoder
    assert (conv.activation, conv.norm, conv.stride, conv.padding) == ("gelu", "batch", 2, 1)
    assert (residual.activation, residual.norm) == ("gelu", "none")
    assert (transpose.activation, transpose.norm, transpose.kernel, transpose.stride) == ("gelu", "batch", 2, 2)
    assert (last.activation, last.norm) == ("none", "none")


def test_train_keys_are_train_configs_fields() -> None:
    assert list(TRAIN_KEYS) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert {k for k, key in TRAIN_KEYS.items() if not key.tunable} == {"seed", "device", "precision", "compile"}
    assert all(key.default == getattr(TrainConfig(), name) for name, key in TRAIN_KEYS.items())
    with pytest.raises(ValueError, match=r"TrainConfig.lr must be a number > 0, got 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match=r"TrainConfig.optimizer must be one of adam, adamw, sgd, got 'lion'"):
        TrainConfig(optimizer="lion")
