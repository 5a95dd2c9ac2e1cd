"""A parameter's value: a constant of a kind (an integer ≥ 1, one of some names, ...) or a distribution over it
(``{choice: [...]}``, ``{int: [low, high]}``, ``{float: [low, high]}``), checked with a message that names the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cae.options import FieldSpec
from search.space.messages import SpaceError, check_keys, did_you_mean, show


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    step: float | None = None
    log: bool = False


Distribution = Choice | IntRange | FloatRange


DISTRIBUTION_KEYS = ("choice", "int", "float")


def is_distribution(value: Any) -> bool:
    return isinstance(value, Choice | IntRange | FloatRange)


class Kind:
    """What one key accepts; ``expected`` is the phrase used in error messages."""

    @property
    def expected(self) -> str:
        raise NotImplementedError

    def coerce(self, value: Any) -> Any:
        """The accepted form of ``value``, or raise ``ValueError``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Kind):
    minimum: int = 1
    maximum: float = math.inf  # inclusive

    @property
    def expected(self) -> str:
        if self.maximum < math.inf:
            return f"an integer from {self.minimum} to {self.maximum:g}"
        return f"an integer ≥ {self.minimum}"

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise ValueError
        return value


@dataclass(frozen=True)
class Float(Kind):
    minimum: float = 0.0
    strict: bool = True  # value must be > minimum rather than ≥
    maximum: float = math.inf  # inclusive

    @property
    def expected(self) -> str:
        if self.maximum < math.inf:
            return f"a number in [{self.minimum:g}, {self.maximum:g}]"
        return f"a number {'>' if self.strict else '≥'} {self.minimum:g}"

    def coerce(self, value: Any) -> float:
        # PyYAML reads ``1e-3`` (no dot) as a string; accept it as the number everyone means.
        if isinstance(value, str):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError
        if value < self.minimum or (self.strict and value == self.minimum) or value > self.maximum:
            raise ValueError
        return float(value)


@dataclass(frozen=True)
class Enum(Kind):
    values: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        return "one of " + ", ".join(self.values)

    def coerce(self, value: Any) -> str:
        if value not in self.values:
            raise ValueError
        return value


@dataclass(frozen=True)
class Bool(Kind):
    @property
    def expected(self) -> str:
        return "true or false"

    def coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError
        return value


@dataclass(frozen=True)
class OrWord(Kind):
    """A kind, or a word for the field's own default (``padding: same`` is ``kernel // 2``)."""

    kind: Kind
    word: str

    @property
    def expected(self) -> str:
        return f"{self.kind.expected} or {self.word}"

    def coerce(self, value: Any) -> Any:
        return None if value == self.word else self.kind.coerce(value)


def field_kind(spec: FieldSpec) -> Kind:
    """The kind of a declared dataclass field (:mod:`cae.options`): what a space may write for it."""
    rule = spec.rule
    if spec.choices is not None:
        kind: Kind = Enum(spec.choices)
    elif spec.type is bool:
        kind = Bool()
    elif spec.type is int:
        kind = Int(int(rule.minimum) if rule.minimum is not None else -(2**63), rule.maximum if rule.maximum is not None else math.inf)
    else:
        kind = Float(rule.minimum if rule.minimum is not None else -math.inf, rule.strict, rule.maximum or math.inf)
    return OrWord(kind, rule.none_word) if rule.none_word else kind


@dataclass(frozen=True)
class Key:
    kind: Kind
    default: Any = None
    tunable: bool = True


def coerce(file: Path, key: str, kind: Kind, value: Any, context: str = "") -> Any:
    try:
        return kind.coerce(value)
    except (TypeError, ValueError):
        raise SpaceError(file, key, f"expected {kind.expected}{context}, got {show(value)}") from None


def _bounds(file: Path, key: str, spec: dict[str, Any], name: str) -> tuple[Any, Any]:
    bounds = spec[name]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SpaceError(file, key, f"expected {{{name}: [low, high]}}, got {{{name}: {show(bounds)}}}")
    return bounds[0], bounds[1]


def parse_param(file: Path, key: str, raw: Any, spec: Key) -> Any:
    """A constant (checked against the key's kind) or a distribution over its values."""
    kind = spec.kind
    if raw is None and spec.default is None and spec.kind is not None:
        return None  # ``max_latent: null``: the key's "none", as when it is left out
    if isinstance(raw, list):
        # ``lr: [1e-4, 1e-2]``: a range or a choice written without its distribution
        shown = show(raw)
        dist = "int" if isinstance(kind, Int) else "float" if isinstance(kind, Float) else None
        ranges = f"{{{dist}: {shown}}} for a range or " if dist and len(raw) == 2 else ""
        hint = f"write {ranges}{{choice: {shown}}} for a choice"
        raise SpaceError(file, key, f"expected {kind.expected} or a distribution, got {shown} ({hint})")
    if not isinstance(raw, dict):
        return coerce(file, key, kind, raw)
    present = [k for k in DISTRIBUTION_KEYS if k in raw]
    if len(present) != 1:
        typo = did_you_mean(DISTRIBUTION_KEYS, *raw)
        raise SpaceError(
            file,
            key,
            f"expected {kind.expected} or one distribution ({{choice: [...]}}, {{int: [low, high]}} or "
            f"{{float: [low, high]}}), got {show(raw)}{typo}",
        )
    if not spec.tunable:
        raise SpaceError(file, key, f"expected a constant ({kind.expected}): this key cannot be searched")
    dist = present[0]
    options = ("step", "log") if dist != "choice" else ()
    check_keys(file, key, {k: v for k, v in raw.items() if k != dist}, options)
    if dist == "choice":
        values = raw["choice"]
        if not isinstance(values, list) or not values:
            raise SpaceError(file, key, f"expected {{choice: [...]}} with at least one value, got {{choice: {show(values)}}}")
        return Choice(tuple(coerce(file, key, kind, v, " for every choice value") for v in values))
    low, high = _bounds(file, key, raw, dist)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(file, f"{key}.log", f"expected true or false, got {show(log)}")
    if dist == "int":
        if not isinstance(kind, Int):
            raise SpaceError(file, key, f"expected {kind.expected}: an {{int: [low, high]}} range does not apply here")
        low, high = (coerce(file, key, kind, b, " for the int bounds") for b in (low, high))
        step = coerce(file, f"{key}.step", Int(1), raw.get("step", 1))
        result: Distribution = IntRange(low, high, step, log)
    else:
        if not isinstance(kind, Float):
            hint = " (use {int: [low, high]})" if isinstance(kind, Int) else ""
            raise SpaceError(file, key, f"expected {kind.expected}: a {{float: [low, high]}} range does not apply here{hint}")
        low, high = (coerce(file, key, kind, b, " for the float bounds") for b in (low, high))
        step = raw.get("step")
        if step is not None:
            step = coerce(file, f"{key}.step", Float(0.0), step)
        result = FloatRange(low, high, step, log)
    if low > high:
        raise SpaceError(file, key, f"expected {{{dist}: [low, high]}} with low ≤ high, got [{low:g}, {high:g}]")
    if log and result.step not in (None, 1):
        raise SpaceError(file, key, "expected either log or step, not both (Optuna samples log ranges without steps)")
    if log and low <= 0:
        raise SpaceError(file, key, f"expected a positive low bound with log: true, got {low:g}")
    return result


def section(file: Path, name: str, raw: dict[str, Any], keys: dict[str, Key]) -> dict[str, Any]:
    check_keys(file, name, raw, list(keys))
    return {k: parse_param(file, f"{name}.{k}", raw[k], spec) if k in raw else spec.default for k, spec in keys.items()}
