"""A space file read, overridden and parsed into a :class:`~search.space.values.Space`; nothing else is opened."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from search.space.messages import SpaceError, check_keys, mapping, show
from search.space.models import _parse_model
from search.space.overrides import apply_override, overridden, override_of
from search.space.params import Choice, is_distribution, parse_param, section
from search.space.schema import CLASSES_KEYS, SECTIONS, TASK_KEY, TOP_KEYS, TRAIN_KEYS
from search.space.sections import _parse_data, _parse_start, _parse_started, _parse_study
from search.space.values import ExplicitModel, Space, StartedModel, TemplateModel

# The largest space in spaces/ is under 3 KB; a file far beyond that is not a space, and its text is
# recorded with every study it runs (optuna-dashboard ships it with every study listing).
MAX_SPACE_BYTES = 64 * 1024
# Values after expanding YAML aliases: a real space has a few hundred, an alias bomb ("billion laughs",
# 9 levels of 9 aliases) has 9⁹ from a few hundred bytes, which any walk over the values would expand.
MAX_SPACE_VALUES = 100_000


def _expanded(value: object, sizes: dict[int, int]) -> int:
    """How many values ``value`` (a YAML node, or what it became: dicts, lists and scalars) holds once every
    alias is expanded; counted once per distinct object, so the count of an alias bomb costs as little as its text."""
    known = sizes.get(id(value))
    if known is not None:
        return known
    sizes[id(value)] = 1  # a recursive alias counts once instead of for ever
    if isinstance(value, yaml.MappingNode):
        children = [n for pair in value.value for n in pair]
    elif isinstance(value, yaml.SequenceNode):
        children = value.value
    elif isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    else:
        children = value if isinstance(value, list) else []
    total = 1 + sum(_expanded(child, sizes) for child in children)
    sizes[id(value)] = total
    return total


def _check_bounds(path: Path, text: str | None, value: object, key: str = "file") -> None:
    """Refuse a space whose text exceeds :data:`MAX_SPACE_BYTES` or whose values, aliases expanded, exceed :data:`MAX_SPACE_VALUES`."""
    if text is not None and len(text.encode()) > MAX_SPACE_BYTES:
        raise SpaceError(path, key, f"expected a space of at most {MAX_SPACE_BYTES:,} bytes, got {len(text.encode()):,}")
    try:
        values = _expanded(value, {})
    except RecursionError:
        raise SpaceError(path, key, "expected values nested a few levels deep, got nesting beyond Python's recursion limit") from None
    if values > MAX_SPACE_VALUES:
        raise SpaceError(
            path,
            key,
            f"expected at most {MAX_SPACE_VALUES:,} values once YAML aliases (*name) are expanded, got {values:,}: "
            "write the values out instead of nesting aliases",
        )


def _bounded_yaml(path: Path, text: str) -> object:
    """``yaml.safe_load(text)``, refusing a document whose aliases expand beyond :data:`MAX_SPACE_VALUES` values
    before anything is built from it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_bounds(path, None, node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of the space file ``path`` and its mapping; :class:`SpaceError` for a missing, oversized,
    unreadable or invalid file, refused before the expensive part (parsing, expanding aliases) starts."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SPACE_BYTES + 1)
    except FileNotFoundError:
        raise SpaceError(path, "file", "no such file (expected a space such as spaces/recon.yaml)") from None
    except OSError as error:
        raise SpaceError(path, "file", f"cannot be read ({error.__class__.__name__}: {error.strerror or error})") from None
    if len(data) > MAX_SPACE_BYTES:
        size = path.stat().st_size if path.is_file() else None
        got = f"{size:,} bytes" if size is not None else "more"
        raise SpaceError(path, "file", f"expected a space file of at most {MAX_SPACE_BYTES:,} bytes, got {got}")
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        raise SpaceError(path, "file", f"cannot be read (not UTF-8 text: {error.reason} at byte {error.start})") from None
    try:
        raw = _bounded_yaml(path, text)
    except RecursionError:  # PyYAML composes nested collections recursively
        raise SpaceError(path, "file", "expected YAML nested a few levels deep, got nesting beyond Python's recursion limit") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpaceError(path, where, f"expected valid YAML ({problem})") from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else show(raw)
        raise SpaceError(path, "file", f"expected a mapping with sections {', '.join(TOP_KEYS)}, got {got}")
    return text, raw


def parse_space(path: Path, text: str, raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Validate an already read space mapping (``text`` is kept as the study's record of it); ``raw`` is not changed."""
    raw = copy.deepcopy(raw)  # overrides and defaults are written into the copy, never into the caller's mapping
    for assignment in overrides:
        apply_override(path, raw, assignment)
        _check_bounds(path, None, raw, overridden(assignment.partition("=")[0]))
    # a mapping from a notebook is bounded like a file: its text is recorded with the study
    _check_bounds(path, text, raw)
    try:
        return _parse_space(path, text, raw, overrides)
    except SpaceError as error:
        # a problem in a value that came from the command line says so: the file itself is fine there
        source = override_of(error.key, overrides)
        if source is None:
            raise
        raise SpaceError(error.file, error.key, f"{error.expected} (from overrides={source!r})") from None


def _parse_space(path: Path, text: str, raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> Space:
    check_keys(path, "", raw, TOP_KEYS)
    start = _parse_start(path, raw["start"]) if "start" in raw else None
    if "model" not in raw and start is None:
        raise SpaceError(path, "model", "missing: every space needs a model section (or start: {study: NAME})")
    for name in SECTIONS:
        if name != "model":
            raw[name] = mapping(path, name, raw.get(name), f"{name} settings")
    study = _parse_study(path, raw["study"])
    data = _parse_data(path, raw["data"])
    train = section(path, "train", raw["train"], TRAIN_KEYS)
    warmup, epochs = train["warmup"], train["epochs"]
    if not is_distribution(warmup) and not is_distribution(epochs) and warmup >= epochs:
        raise SpaceError(path, "train.warmup", f"expected fewer epochs of warm-up than train.epochs ({epochs}), got {warmup:g}")
    task = parse_param(path, "task", raw.get("task", TASK_KEY.default), TASK_KEY)
    if "colourfulness" in study.objectives and "reconstruction" in (task.values if isinstance(task, Choice) else (task,)):
        raise SpaceError(path, "study.objectives", "expected colourfulness only in a space whose every task is a colorization")
    classes = section(path, "classes", mapping(path, "classes", raw.get("classes", {}), "chroma class settings"), CLASSES_KEYS)
    if start is not None:
        started = mapping(path, "model", raw.get("model"), "model settings (width, context)")
        model: TemplateModel | ExplicitModel | StartedModel = _parse_started(path, started, start)
    else:
        model = _parse_model(path, raw["model"])
    return Space(path, study, data, train, model, text, tuple(overrides), task, classes, tuple(raw["train"]))


def load_space(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Read, override and validate a space file; raise :class:`SpaceError` on the first problem."""
    path = Path(path)
    text, raw = read_yaml(path)
    return parse_space(path, text, raw, overrides)


# What a mapping's errors and its study's record name as its file: no file exists.
MAPPING_SOURCE = Path("<mapping>")


def space_from_dict(raw: Mapping[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Validate a space written as a plain mapping (a notebook's dict), in the form of a space file; ``raw`` is not changed.

    Its ``study.name`` is required (no file name stands in for it); the YAML of the mapping is kept as the study's record.

        >>> space = space_from_dict({"study": {"name": "toy"}, "model": {"depth": 2, "channels": 8, "latent_channels": 4}})
        >>> space.study.name
        'toy'
    """
    if not isinstance(raw, Mapping):
        raise SpaceError(MAPPING_SOURCE, "file", f"expected a mapping with sections {', '.join(TOP_KEYS)}, got {show(raw)}")
    study = raw.get("study")
    if not isinstance(study, Mapping) or "name" not in study:
        raise SpaceError(MAPPING_SOURCE, "study.name", "missing: a space given as a mapping names its study (study: {name: ...})")
    plain = copy.deepcopy(dict(raw))
    return parse_space(MAPPING_SOURCE, yaml.safe_dump(plain, sort_keys=False), plain, overrides)
