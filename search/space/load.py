"""A space file read, overridden and parsed into a :class:`~search.space.values.Space`; nothing else is opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from search.space.messages import SpaceError, check_keys, mapping, show
from search.space.models import _parse_model
from search.space.overrides import apply_override, override_of
from search.space.params import Choice, is_distribution, parse_param, section
from search.space.schema import CLASSES_KEYS, SECTIONS, TASK_KEY, TOP_KEYS, TRAIN_KEYS
from search.space.sections import _parse_data, _parse_start, _parse_started, _parse_study
from search.space.values import ExplicitModel, Space, StartedModel, TemplateModel


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
        got = "an empty file" if raw is None else show(raw)
        raise SpaceError(path, "file", f"expected a mapping with sections {', '.join(TOP_KEYS)}, got {got}")
    return text, raw


def parse_space(path: Path, text: str, raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Space:
    """Validate an already read space mapping (``text`` is kept as the study's record of it)."""
    for assignment in overrides:
        apply_override(path, raw, assignment)
    try:
        return _parse_space(path, text, raw, overrides)
    except SpaceError as error:
        # a problem in a value that came from the command line says so: the file itself is fine there
        source = override_of(error.key, overrides)
        if source is None:
            raise
        raise SpaceError(error.file, error.key, f"{error.expected} (from --set {source})") from None


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
