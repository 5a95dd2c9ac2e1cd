"""Constraints declared on a dataclass's fields, the one place a layer kind's or a train option's
rules are written.

A field made with :func:`option` carries its bounds. :func:`check_fields` enforces them when a value is
made (so a bad ``Conv`` cannot exist), and the space parser (:mod:`search.space.schema`) reads the
same declarations to derive the keys a space may hold, their kinds and their defaults. No torch here.

    >>> @dataclass(frozen=True)
    ... class Pool:
    ...     kernel: int = option(2, minimum=1)
    ...     def __post_init__(self) -> None:
    ...         check_fields(self)
    >>> Pool(0)
    Traceback (most recent call last):
    ...
    ValueError: Pool.kernel must be an integer ≥ 1, got 0
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import MISSING, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Rule:
    """What a field accepts beyond its type: bounds, whether a study may search it, and the word a
    space writes for ``None`` (``padding: same``)."""

    minimum: float | None = None
    maximum: float | None = None
    strict: bool = False  # the value must be above minimum, not at it
    tunable: bool = True
    none_word: str | None = None


def option(
    default: Any = MISSING,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
    tunable: bool = True,
    none_word: str | None = None,
) -> Any:
    """A dataclass field with its :class:`Rule` (``default`` left out: a required field)."""
    return dataclasses.field(default=default, metadata={"rule": Rule(minimum, maximum, strict, tunable, none_word)})


@dataclass(frozen=True)
class FieldSpec:
    """One field as a parser sees it: its value type, its choices (for a ``Literal``), its rule and default."""

    name: str
    type: type  # int, float, bool or str
    choices: tuple[Any, ...] | None
    optional: bool  # None is allowed (it means "the layer's own default")
    rule: Rule
    default: Any  # dataclasses.MISSING when required


def _resolve(hint: Any) -> tuple[type, tuple[Any, ...] | None, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            kind, choices, _ = _resolve(inner[0])
            return kind, choices, True
    if typing.get_origin(hint) is Literal:
        return type(args[0]), args, False
    return hint, None, False


@functools.cache
def field_specs(cls: type) -> tuple[FieldSpec, ...]:
    """The fields of dataclass ``cls`` with a scalar type (int, float, bool or a ``Literal``), in order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        kind, choices, optional = _resolve(hints[f.name])
        if kind in (int, float, bool, str):
            specs.append(FieldSpec(f.name, kind, choices, optional, f.metadata.get("rule", Rule()), f.default))
    return tuple(specs)


def expected(spec: FieldSpec) -> str:
    """The phrase for what ``spec`` accepts, as errors say it (``an integer ≥ 1``)."""
    rule = spec.rule
    if spec.choices is not None:
        return "one of " + ", ".join(map(str, spec.choices))
    if spec.type is bool:
        return "true or false"
    if spec.type is int:
        if rule.minimum is not None and rule.maximum is not None:
            return f"an integer from {rule.minimum:g} to {rule.maximum:g}"
        return f"an integer ≥ {rule.minimum:g}" if rule.minimum is not None else "an integer"
    if rule.minimum is not None and rule.maximum is not None:
        return f"a number in [{rule.minimum:g}, {rule.maximum:g}]"
    return f"a number {'>' if rule.strict else '≥'} {rule.minimum:g}" if rule.minimum is not None else "a number"


def accepts(spec: FieldSpec, value: Any) -> bool:
    """Whether ``value`` is one ``spec`` takes (``None`` only where the field is optional)."""
    if value is None:
        return spec.optional
    if spec.choices is not None:
        return value in spec.choices
    if spec.type is bool or isinstance(value, bool):
        return spec.type is bool and isinstance(value, bool)
    number = int if spec.type is int else int | float
    if not isinstance(value, number) or not math.isfinite(value):
        return False
    low, high, rule = spec.rule.minimum, spec.rule.maximum, spec.rule
    return not ((low is not None and (value < low or (rule.strict and value == low))) or (high is not None and value > high))


def check_fields(value: Any, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the first field of dataclass ``value`` that breaks its declaration."""
    for spec in field_specs(type(value)):
        got = getattr(value, spec.name)
        if not accepts(spec, got):
            raise error(f"{type(value).__name__}.{spec.name} must be {expected(spec)}, got {got!r}")
