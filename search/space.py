"""Search spaces: the YAML format of ``spaces/*.yaml``, parsed and validated into a :class:`Space`.

A space has four sections (``study``, ``data``, ``train``, ``model``). In ``train`` and ``model``
every scalar may be a constant or a distribution:

- ``kernel: 3``                                   constant
- ``kernel: {choice: [3, 5, 7]}``                 categorical
- ``depth: {int: [1, 4]}``                        integer (optional ``step``, ``log: true``)
- ``lr: {float: [1.0e-4, 1.0e-2], log: true}``    float (optional ``step``, ``log``)

Everything is checked here, before any training: unknown keys (with a "did you mean"), wrong
types, empty choices, reversed ranges. Each problem is one :class:`SpaceError` naming the file,
the key and what was expected. ``spaces/README.md`` documents every key.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cae.chroma_bins import PAPER_REBALANCE, PAPER_TEMPERATURE
from cae.data import DATASETS, DataConfig
from cae.schedule import SCHEDULES
from cae.spec import ACTIVATIONS, NORMS, OUTPUT_ACTIVATIONS, Architecture
from cae.tasks import TASK_NAMES
from cae.training import DEVICES, LOSSES, OPTIMIZERS, PRECISIONS, TrainConfig

DOWNSAMPLING = ("maxpool", "stride")
UPSAMPLING = ("nearest", "bilinear", "transpose")
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class SpaceError(ValueError):
    """A space that cannot be used: ``file: key: what was expected``."""

    def __init__(self, file: str | Path, key: str, expected: str) -> None:
        super().__init__(f"{file}: {key}: {expected}")
        self.file, self.key, self.expected = str(file), key, expected


# ---------------------------------------------------------------- distributions


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


# ---------------------------------------------------------------- value kinds


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

    @property
    def expected(self) -> str:
        return f"an integer ≥ {self.minimum}"

    def coerce(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
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
class Padding(Kind):
    """A convolution's padding: pixels, or ``same`` (``kernel // 2``, the size-keeping padding)."""

    @property
    def expected(self) -> str:
        return "an integer ≥ 0 or same"

    def coerce(self, value: Any) -> int | None:
        if value == "same":
            return None  # the layer's own default, kernel // 2
        return Int(0).coerce(value)


@dataclass(frozen=True)
class Key:
    kind: Kind
    default: Any = None
    tunable: bool = True


# ---------------------------------------------------------------- schema

TRAIN_KEYS: dict[str, Key] = {
    "epochs": Key(Int(1), TrainConfig.epochs),
    "batch_size": Key(Int(1), TrainConfig.batch_size),
    "lr": Key(Float(0.0), TrainConfig.lr),
    "optimizer": Key(Enum(OPTIMIZERS), TrainConfig.optimizer),
    "schedule": Key(Enum(SCHEDULES), TrainConfig.schedule),
    "warmup": Key(Float(0.0, strict=False), TrainConfig.warmup),
    "weight_decay": Key(Float(0.0, strict=False), TrainConfig.weight_decay),
    "momentum": Key(Float(0.0, strict=False), TrainConfig.momentum),
    "loss": Key(Enum(LOSSES), TrainConfig.loss),
    "seed": Key(Int(0), TrainConfig.seed, tunable=False),
    "device": Key(Enum(DEVICES), TrainConfig.device, tunable=False),
    "precision": Key(Enum(PRECISIONS), TrainConfig.precision, tunable=False),
    "compile": Key(Bool(), TrainConfig.compile, tunable=False),
}
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
    "activation": Key(Enum(ACTIVATIONS), "relu"),
    "output": Key(Enum(OUTPUT_ACTIVATIONS), "sigmoid"),
    "max_latent": Key(Int(1), None, tunable=False),
    "max_params": Key(Int(1), None, tunable=False),
}
PER_STAGE_KEYS = ("channels", "kernel", "downsample", "upsample", "activation", "blocks")
# Bounds that any model form may set: checked on every drawn architecture before it trains.
BOUND_KEYS = ("max_latent", "max_params")
# Explicit layers: the kind key holds the layer's main number; the rest are options.
LAYER_KEYS: dict[str, dict[str, Key]] = {
    "conv": {
        "conv": Key(Int(1)),
        "kernel": Key(Int(1), 3),
        "stride": Key(Int(1), 1),
        "padding": Key(Padding(), None),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "transpose": {
        "transpose": Key(Int(1)),
        "kernel": Key(Int(1), 2),
        "stride": Key(Int(1), 2),
        "padding": Key(Int(0), 0),
        "output_padding": Key(Int(0), 0),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "residual": {
        "residual": Key(Int(1)),
        "kernel": Key(Int(1), 3),
        "activation": Key(Enum(ACTIVATIONS), None),
        "norm": Key(Enum(NORMS), None),
    },
    "maxpool": {"maxpool": Key(Int(1)), "stride": Key(Int(1), None)},
    "upsample": {"upsample": Key(Int(1)), "mode": Key(Enum(("nearest", "bilinear")), "nearest")},
    "dense": {"dense": Key(Int(1)), "activation": Key(Enum(ACTIVATIONS), None)},
    "reshape": {"reshape": Key(Int(1)), "size": Key(Int(1))},
}
SECTIONS = ("study", "data", "train", "model")
TOP_KEYS = (*SECTIONS, "task", "start", "classes")
STUDY_KEYS = ("name", "objectives", "sampler", "pruner")
# What a study may minimise: the error always, and with it the code's size or the model's.
# A colorizer may instead maximise its colourfulness (validation images, as a share of the truth's).
OBJECTIVES = ("val_mse", "latent_size", "n_params", "colourfulness")
# Optuna's pruners read intermediate values, which multi-objective trials cannot report (optuna
# #3450); these are the pruners that work there (search/latent_pruner.py reads the curves instead).
MULTI_OBJECTIVE_PRUNERS = ("latent_percentile", "none")
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
DATA_KEYS = ("dataset", "root", "split", "subset", "seed")


# ---------------------------------------------------------------- parsed space


@dataclass(frozen=True)
class StudySpec:
    name: str
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    objectives: tuple[str, ...] = ("val_mse",)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass(frozen=True)
class TemplateModel:
    """The compact form: ``depth`` stages of conv + down-sampling, a bottleneck conv, and a mirror."""

    params: dict[str, Any]  # TEMPLATE_KEYS → constant or distribution
    per_stage: tuple[str, ...] = ("channels",)
    channel_list: tuple[Any, ...] | None = None  # ``channels: [8, 16]``: one entry per stage


@dataclass(frozen=True)
class ExplicitModel:
    """Layer lists; each layer is its kind plus options, any of them constant or a distribution."""

    encoder: tuple[dict[str, Any], ...]
    decoder: tuple[dict[str, Any], ...]
    activation: Any = "relu"
    output: Any = "sigmoid"
    norm: Any = "none"  # the default of every conv, transpose and residual layer that names none
    linear_skip: Any = False
    max_latent: int | None = None
    max_params: int | None = None


@dataclass(frozen=True)
class StartedModel:
    """The architecture of another study's trial (``start: {study: NAME}``), optionally widened and deepened."""

    architecture: Architecture
    width: Any = 1.0  # every hidden layer's channels × width
    origin: str = ""  # "study recon, trial 32", for messages
    context: Any = 0  # extra down-sampling stages (cae.spec.deepen): more context for a colorizer


@dataclass(frozen=True)
class Start:
    """What a finished study hands on: its best trial's architecture and training, and its data."""

    architecture: Architecture
    train: dict[str, Any]
    data: DataConfig
    origin: str


@dataclass(frozen=True)
class Space:
    path: Path
    study: StudySpec
    data: DataConfig
    train: dict[str, Any]  # TrainConfig fields → constant or distribution
    model: TemplateModel | ExplicitModel | StartedModel
    text: str = ""  # the file as read, for the study's record
    overrides: tuple[str, ...] = field(default=())
    task: Any = "reconstruction"  # a task name (cae.tasks) or a choice of them
    classes: dict[str, Any] = field(default_factory=lambda: {k: key.default for k, key in CLASSES_KEYS.items()})

    def distributions(self) -> dict[str, Distribution]:
        """Named distributions that are always present (conditional ones are named by sampling)."""
        found = {k: v for k, v in self.train.items() if is_distribution(v)}
        if isinstance(self.model, TemplateModel):
            found |= {k: v for k, v in self.model.params.items() if is_distribution(v)}
        return found


# ---------------------------------------------------------------- parsing helpers


# Names people write for keys and values that this format spells otherwise: a typo of the long
# name (``lerning_rate``) is still close to it, while it is far from ``lr``.
ALIASES = {
    "learning_rate": "lr",
    "batch": "batch_size",
    "batchsize": "batch_size",
    "n_epochs": "epochs",
    "num_epochs": "epochs",
    "max_epochs": "epochs",
    "optimiser": "optimizer",
    "kernel_size": "kernel",
    "filters": "channels",
    "n_layers": "depth",
    "num_layers": "depth",
    "layers": "depth",
    "stages": "depth",
    "pooling": "downsample",
    "downsampling": "downsample",
    "upsampling": "upsample",
    "latent": "latent_channels",
    "experiment": "study",
    "dataset": "data",
    "training": "train",
    "network": "model",
    "asha": "successive_halving",
    "nop": "none",
}


def did_you_mean(options: Iterable[str], *words: Any) -> str:
    """`` (did you mean X?)`` for the first of ``words`` close to one of ``options`` (or to an alias of one), else ``""``."""
    names = {str(o): str(o) for o in options}
    names |= {alias: name for alias, name in ALIASES.items() if name in names and alias not in names}
    for word in words:
        close = difflib.get_close_matches(str(word), list(names), n=1)
        if close:
            return f" (did you mean {names[close[0]]}?)"
    return ""


def _check_keys(file: Path, where: str, mapping: dict[str, Any], allowed: tuple[str, ...] | list[str]) -> None:
    for key in mapping:
        if key not in allowed:
            prefix = f"{where}.{key}" if where else str(key)
            raise SpaceError(file, prefix, f"unknown key{did_you_mean(allowed, key)}; expected one of {', '.join(allowed)}")


def _mapping(file: Path, key: str, value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpaceError(file, key, f"expected a mapping of {what}, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping {" + ", ".join(map(str, value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_show, value)) + "]"
    return repr(value)


def _coerce(file: Path, key: str, kind: Kind, value: Any, context: str = "") -> Any:
    try:
        return kind.coerce(value)
    except (TypeError, ValueError):
        raise SpaceError(file, key, f"expected {kind.expected}{context}, got {_show(value)}") from None


def _bounds(file: Path, key: str, spec: dict[str, Any], name: str) -> tuple[Any, Any]:
    bounds = spec[name]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SpaceError(file, key, f"expected {{{name}: [low, high]}}, got {{{name}: {_show(bounds)}}}")
    return bounds[0], bounds[1]


def parse_param(file: Path, key: str, raw: Any, spec: Key) -> Any:
    """A constant (checked against the key's kind) or a distribution over its values."""
    kind = spec.kind
    if raw is None and spec.default is None and spec.kind is not None:
        return None  # ``max_latent: null``: the key's "none", as when it is left out
    if isinstance(raw, list):
        # ``lr: [1e-4, 1e-2]``: a range or a choice written without its distribution
        shown = _show(raw)
        dist = "int" if isinstance(kind, Int) else "float" if isinstance(kind, Float) else None
        ranges = f"{{{dist}: {shown}}} for a range or " if dist and len(raw) == 2 else ""
        hint = f"write {ranges}{{choice: {shown}}} for a choice"
        raise SpaceError(file, key, f"expected {kind.expected} or a distribution, got {shown} ({hint})")
    if not isinstance(raw, dict):
        return _coerce(file, key, kind, raw)
    present = [k for k in DISTRIBUTION_KEYS if k in raw]
    if len(present) != 1:
        typo = did_you_mean(DISTRIBUTION_KEYS, *raw)
        raise SpaceError(
            file,
            key,
            f"expected {kind.expected} or one distribution ({{choice: [...]}}, {{int: [low, high]}} or "
            f"{{float: [low, high]}}), got {_show(raw)}{typo}",
        )
    if not spec.tunable:
        raise SpaceError(file, key, f"expected a constant ({kind.expected}): this key cannot be searched")
    dist = present[0]
    options = ("step", "log") if dist != "choice" else ()
    _check_keys(file, key, {k: v for k, v in raw.items() if k != dist}, options)
    if dist == "choice":
        values = raw["choice"]
        if not isinstance(values, list) or not values:
            raise SpaceError(file, key, f"expected {{choice: [...]}} with at least one value, got {{choice: {_show(values)}}}")
        return Choice(tuple(_coerce(file, key, kind, v, " for every choice value") for v in values))
    low, high = _bounds(file, key, raw, dist)
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(file, f"{key}.log", f"expected true or false, got {_show(log)}")
    if dist == "int":
        if not isinstance(kind, Int):
            raise SpaceError(file, key, f"expected {kind.expected}: an {{int: [low, high]}} range does not apply here")
        low, high = (_coerce(file, key, kind, b, " for the int bounds") for b in (low, high))
        step = _coerce(file, f"{key}.step", Int(1), raw.get("step", 1))
        result: Distribution = IntRange(low, high, step, log)
    else:
        if not isinstance(kind, Float):
            hint = " (use {int: [low, high]})" if isinstance(kind, Int) else ""
            raise SpaceError(file, key, f"expected {kind.expected}: a {{float: [low, high]}} range does not apply here{hint}")
        low, high = (_coerce(file, key, kind, b, " for the float bounds") for b in (low, high))
        step = raw.get("step")
        if step is not None:
            step = _coerce(file, f"{key}.step", Float(0.0), step)
        result = FloatRange(low, high, step, log)
    if low > high:
        raise SpaceError(file, key, f"expected {{{dist}: [low, high]}} with low ≤ high, got [{low:g}, {high:g}]")
    if log and result.step not in (None, 1):
        raise SpaceError(file, key, "expected either log or step, not both (Optuna samples log ranges without steps)")
    if log and low <= 0:
        raise SpaceError(file, key, f"expected a positive low bound with log: true, got {low:g}")
    return result


def _section(file: Path, name: str, raw: dict[str, Any], keys: dict[str, Key]) -> dict[str, Any]:
    _check_keys(file, name, raw, list(keys))
    return {k: parse_param(file, f"{name}.{k}", raw[k], spec) if k in raw else spec.default for k, spec in keys.items()}


# ---------------------------------------------------------------- sections


def _parse_study(file: Path, raw: dict[str, Any]) -> StudySpec:
    from search.factories import check_component  # optuna only where the study is made

    _check_keys(file, "study", raw, STUDY_KEYS)
    name = raw.get("name", file.stem)
    check_study_name(name, file, "study.name")
    objectives = _parse_objectives(file, raw.get("objectives", ["val_mse"]))
    multi = len(objectives) > 1
    sampler = _mapping(file, "study.sampler", raw.get("sampler", {"type": "tpe", "seed": 0}), "sampler settings")
    default_pruner = {"type": "latent_percentile"} if multi else {"type": "median"}
    pruner = _mapping(file, "study.pruner", raw.get("pruner", default_pruner), "pruner settings")
    if multi and pruner.get("type") not in MULTI_OBJECTIVE_PRUNERS:
        raise SpaceError(
            file,
            "study.pruner.type",
            f"expected one of {', '.join(MULTI_OBJECTIVE_PRUNERS)} in a study of several objectives, got {pruner.get('type')!r} "
            "(Optuna's pruners need reported values, which a multi-objective trial cannot report: optuna #3450)",
        )
    for key, component in (("study.sampler", sampler), ("study.pruner", pruner)):
        problem = check_component(key.split(".")[1], component)
        if problem is not None:
            sub, message = problem
            raise SpaceError(file, f"{key}.{sub}" if sub else key, message)
    return StudySpec(name, sampler, pruner, objectives)


def _parse_objectives(file: Path, raw: Any) -> tuple[str, ...]:
    expected = f"a list of distinct objectives from {', '.join(OBJECTIVES)}, val_mse among them"
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or "val_mse" not in raw or len(set(map(str, raw))) != len(raw):
        raise SpaceError(file, "study.objectives", f"expected {expected}, got {_show(raw)}")
    for value in raw:
        if value not in OBJECTIVES:
            raise SpaceError(
                file, "study.objectives", f"unknown objective {_show(value)}{did_you_mean(OBJECTIVES, value)}; expected {expected}"
            )
    return tuple(raw)


def check_study_name(name: Any, file: str | Path, key: str) -> str:
    """Study names become file names (``studies/<name>.db``), so they may not hold ``/`` or ``..``."""
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name) or ".." in name:
        raise SpaceError(file, key, f"expected a name of letters, digits, '_', '-' and '.' (no '/' or '..'), got {_show(name)}")
    return name


def _parse_data(file: Path, raw: dict[str, Any]) -> DataConfig:
    _check_keys(file, "data", raw, DATA_KEYS)
    dataset = _coerce(file, "data.dataset", Enum(DATASETS), raw.get("dataset", "cifar10"))
    root = raw.get("root")
    if root is not None and not isinstance(root, str):
        raise SpaceError(file, "data.root", f"expected a folder path or null, got {_show(root)}")
    split = raw.get("split", [0.8, 0.1, 0.1])
    ok = isinstance(split, list) and len(split) == 3
    ok = ok and all(not isinstance(f, bool) and isinstance(f, int | float) and 0 < f < 1 for f in split)
    if not ok or abs(sum(split) - 1) > 1e-6:
        raise SpaceError(file, "data.split", f"expected three fractions in (0, 1) summing to 1 (train, val, test), got {_show(split)}")
    subset = raw.get("subset")
    if subset is not None:
        subset = _coerce(file, "data.subset", Int(10), subset, " or null (all images)")
    seed = _coerce(file, "data.seed", Int(0), raw.get("seed", 0))
    return DataConfig(dataset=dataset, root=root, split=tuple(split), subset=subset, seed=seed)


def _parse_template(file: Path, raw: dict[str, Any]) -> TemplateModel:
    _check_keys(file, "model", raw, [*TEMPLATE_KEYS, "per_stage"])
    per_stage = raw.get("per_stage", ["channels"])
    if not isinstance(per_stage, list) or any(k not in PER_STAGE_KEYS for k in per_stage):
        raise SpaceError(file, "model.per_stage", f"expected a list drawn from {', '.join(PER_STAGE_KEYS)}, got {_show(per_stage)}")
    channels = raw.get("channels")
    channel_list = None
    if isinstance(channels, list):
        if not channels:
            raise SpaceError(file, "model.channels", "expected one entry per stage, got an empty list")
        spec = TEMPLATE_KEYS["channels"]
        channel_list = tuple(parse_param(file, f"model.channels.{i}", c, spec) for i, c in enumerate(channels))
        depth = raw.get("depth", len(channels))
        if depth != len(channels):
            raise SpaceError(file, "model.depth", f"expected {len(channels)} (one stage per entry of model.channels), got {_show(depth)}")
        raw = {k: v for k, v in raw.items() if k != "channels"} | {"depth": len(channels)}
    params = _section(file, "model", {k: v for k, v in raw.items() if k != "per_stage"}, TEMPLATE_KEYS)
    return TemplateModel(params, tuple(dict.fromkeys(per_stage)), channel_list)


def _parse_layer(file: Path, key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SpaceError(file, key, f"expected a layer mapping such as {{conv: 8, kernel: 3}}, got {_show(raw)}")
    kinds = [k for k in LAYER_KEYS if k in raw]
    if len(kinds) != 1:
        typo = did_you_mean(LAYER_KEYS, *raw)
        raise SpaceError(file, key, f"expected exactly one layer kind ({', '.join(LAYER_KEYS)}), got {_show(raw)}{typo}")
    kind = kinds[0]
    return {"kind": kind} | _section(file, key, raw, LAYER_KEYS[kind])


def _parse_explicit(file: Path, raw: dict[str, Any]) -> ExplicitModel:
    _check_keys(file, "model", raw, ["encoder", "decoder", "activation", "output", "norm", "linear_skip", *BOUND_KEYS])
    parts = {}
    for part in ("encoder", "decoder"):
        layers = raw.get(part)
        if not isinstance(layers, list) or not layers:
            raise SpaceError(file, f"model.{part}", f"expected a non-empty list of layers, got {_show(layers)}")
        parts[part] = tuple(_parse_layer(file, f"model.{part}.{i}", layer) for i, layer in enumerate(layers))
    activation = parse_param(file, "model.activation", raw.get("activation", "relu"), TEMPLATE_KEYS["activation"])
    output = parse_param(file, "model.output", raw.get("output", "sigmoid"), TEMPLATE_KEYS["output"])
    norm = parse_param(file, "model.norm", raw.get("norm", "none"), TEMPLATE_KEYS["norm"])
    skip = parse_param(file, "model.linear_skip", raw.get("linear_skip", False), TEMPLATE_KEYS["linear_skip"])
    bounds = {k: parse_param(file, f"model.{k}", raw[k], TEMPLATE_KEYS[k]) for k in BOUND_KEYS if k in raw}
    return ExplicitModel(parts["encoder"], parts["decoder"], activation, output, norm, skip, **bounds)


def _parse_model(file: Path, raw: Any) -> TemplateModel | ExplicitModel:
    if not isinstance(raw, dict) or not raw:
        raise SpaceError(
            file, "model", f"expected a mapping with template keys ({', '.join(TEMPLATE_KEYS)}) or encoder/decoder lists, got {_show(raw)}"
        )
    explicit = "encoder" in raw or "decoder" in raw
    template = [k for k in raw if k in TEMPLATE_KEYS and k not in ("activation", "output", "norm", "linear_skip", *BOUND_KEYS)]
    if explicit and template:
        raise SpaceError(file, "model", f"expected either encoder/decoder lists or template keys, not both (found {', '.join(template)})")
    return _parse_explicit(file, raw) if explicit else _parse_template(file, raw)


# ---------------------------------------------------------------- overrides and loading


def apply_override(file: Path, raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set key.path=value`` to the raw YAML mapping (the value is read as YAML).

    Missing mappings on the way are created (``--set data.subset=512`` works without a data
    section); what the new value means is checked afterwards with the rest of the space.
    """
    path, sep, text = assignment.partition("=")
    if not sep or not path or any(not part for part in path.split(".")):
        raise SpaceError(file, "--set", f"expected key.path=value, got {assignment!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise SpaceError(file, path, f"--set value {text!r} is not valid YAML") from None
    *parents, last = path.split(".")
    node: Any = raw
    for depth, part in enumerate(parents):
        container, slot = _slot(file, path, node, parents[:depth], part)
        if isinstance(container, dict) and container.get(slot) is None:
            container[slot] = {}
        node = container[slot]
    container, slot = _slot(file, path, node, parents, last)
    container[slot] = value


def _slot(file: Path, path: str, node: Any, above: list[str], part: str) -> tuple[Any, Any]:
    """Where ``part`` lives inside ``node`` (a mapping key or a list index), checked."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise SpaceError(
                file, f"--set {path}", f"expected a list index from 0 to {len(node) - 1} after {'.'.join(above)}, got {part!r}"
            )
        return node, int(part)
    if not isinstance(node, dict):
        raise SpaceError(file, f"--set {path}", f"{'.'.join(above)} is {_show(node)}, not a mapping or list")
    if not above and part not in TOP_KEYS:
        raise SpaceError(file, f"--set {path}", f"unknown section{did_you_mean(TOP_KEYS, part)}; expected one of {', '.join(TOP_KEYS)}")
    return node, part


def read_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpaceError(path, "file", "no such file (expected a space such as spaces/recon.yaml)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SpaceError(path, "file", f"cannot be read ({error.__class__.__name__}: {error})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpaceError(path, where, f"expected valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else _show(raw)
        raise SpaceError(path, "file", f"expected a mapping with sections {', '.join(TOP_KEYS)}, got {got}")
    return text, raw


def _parse_start(file: Path, raw: Any) -> Start:
    from search.start import best_start  # reads another study: optuna only where needed

    raw = _mapping(file, "start", raw, "the study to start from ({study: NAME})")
    _check_keys(file, "start", raw, START_KEYS)
    if "study" not in raw:
        raise SpaceError(file, "start.study", "missing: expected the name of a finished study, e.g. start: {study: recon}")
    name = check_study_name(raw["study"], file, "start.study")
    storage = raw.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise SpaceError(file, "start.storage", f"expected an Optuna storage URL, got {_show(storage)}")
    if "trial" in raw and "latent" in raw:
        raise SpaceError(file, "start", "expected trial or latent, not both (a trial number, or the front's trial nearest a latent size)")
    trial = _coerce(file, "start.trial", Int(0), raw["trial"]) if "trial" in raw else None
    latent = _coerce(file, "start.latent", Int(1), raw["latent"]) if "latent" in raw else None
    try:
        return best_start(name, storage, trial=trial, latent=latent)
    except ValueError as error:  # StorageError: no such study, no finished trial
        raise SpaceError(file, "start.study", f"expected a study with a finished trial: {error}") from None


def _parse_started(file: Path, raw: dict[str, Any], start: Start) -> StartedModel:
    _check_keys(file, "model", raw, ["width", "context"])
    width = parse_param(file, "model.width", raw.get("width", 1.0), WIDTH_KEY)
    context = parse_param(file, "model.context", raw.get("context", 0), CONTEXT_KEY)
    return StartedModel(start.architecture, width, start.origin, context)


def parse_space(path: Path, text: str, raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Validate an already read space mapping (``text`` is kept as the study's record of it)."""
    for assignment in overrides:
        apply_override(path, raw, assignment)
    try:
        return _parse_space(path, text, raw, overrides)
    except SpaceError as error:
        # a problem in a value that came from the command line says so: the file itself is fine there
        source = _override_of(error.key, overrides)
        if source is None:
            raise
        raise SpaceError(error.file, error.key, f"{error.expected} (from --set {source})") from None


def _override_of(key: str, overrides: list[str] | tuple[str, ...]) -> str | None:
    """The last ``--set`` assignment that wrote ``key`` or a mapping holding it, if any."""
    for assignment in reversed(overrides):
        path = assignment.partition("=")[0]
        if key == path or key.startswith(f"{path}."):
            return assignment
    return None


def _parse_space(path: Path, text: str, raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> Space:
    _check_keys(path, "", raw, TOP_KEYS)
    start = _parse_start(path, raw["start"]) if "start" in raw else None
    if "model" not in raw and start is None:
        raise SpaceError(path, "model", "missing: every space needs a model section (or start: {study: NAME})")
    for name in SECTIONS:
        if name != "model":
            raw[name] = _mapping(path, name, raw.get(name), f"{name} settings")
    study = _parse_study(path, raw["study"])
    data = _parse_data(path, raw["data"])
    train = _section(path, "train", raw["train"], TRAIN_KEYS)
    warmup, epochs = train["warmup"], train["epochs"]
    if not is_distribution(warmup) and not is_distribution(epochs) and warmup >= epochs:
        raise SpaceError(path, "train.warmup", f"expected fewer epochs of warm-up than train.epochs ({epochs}), got {warmup:g}")
    task = parse_param(path, "task", raw.get("task", TASK_KEY.default), TASK_KEY)
    if "colourfulness" in study.objectives and "reconstruction" in (task.values if isinstance(task, Choice) else (task,)):
        raise SpaceError(path, "study.objectives", "expected colourfulness only in a space whose every task is a colorization")
    classes = _section(path, "classes", _mapping(path, "classes", raw.get("classes", {}), "chroma class settings"), CLASSES_KEYS)
    if start is not None:
        # the started trial's training is the default of every train key the space leaves out
        train = start.train | {k: v for k, v in train.items() if k in raw["train"]}
        started = _mapping(path, "model", raw.get("model"), "model settings (width, context)")
        model: TemplateModel | ExplicitModel | StartedModel = _parse_started(path, started, start)
    else:
        model = _parse_model(path, raw["model"])
    return Space(path, study, data, train, model, text, tuple(overrides), task, classes)


def load_space(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Read, override and validate a space file; raise :class:`SpaceError` on the first problem."""
    path = Path(path)
    text, raw = read_yaml(path)
    return parse_space(path, text, raw, overrides)
