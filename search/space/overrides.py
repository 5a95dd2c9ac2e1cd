"""``overrides=["key.path=value"]`` (the command line's ``--set key.path=value``): assignments applied to the raw YAML
before it is parsed. Their errors name the parameter, ``overrides= key.path``, which the command line words as its flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from search.space.messages import SpaceError, did_you_mean, show
from search.space.schema import TOP_KEYS


def overridden(path: str) -> str:
    """The key of an error in the override of ``path``: ``overrides= model.kernel`` (``--set model.kernel`` on the command line)."""
    return f"overrides= {path}"


def apply_override(file: Path, raw: dict[str, Any], assignment: str) -> None:
    """Apply one override, ``key.path=value``, to the raw YAML mapping (the value is read as YAML).

    Missing mappings on the way are created (``--set data.subset=512`` works without a data
    section); what the new value means is checked afterwards with the rest of the space.
    """
    path, sep, text = assignment.partition("=")
    if not sep or not path or any(not part for part in path.split(".")):
        raise SpaceError(file, "overrides=", f"expected key.path=value, got {assignment!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise SpaceError(file, path, f"overrides= value {text!r} is not valid YAML") from None
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
                file, overridden(path), f"expected a list index from 0 to {len(node) - 1} after {'.'.join(above)}, got {part!r}"
            )
        return node, int(part)
    if not isinstance(node, dict):
        raise SpaceError(file, overridden(path), f"{'.'.join(above)} is {show(node)}, not a mapping or list")
    if not above and part not in TOP_KEYS:
        raise SpaceError(file, overridden(path), f"unknown section{did_you_mean(TOP_KEYS, part)}; expected one of {', '.join(TOP_KEYS)}")
    return node, part


def override_of(key: str, overrides: list[str] | tuple[str, ...]) -> str | None:
    """The last override that wrote ``key`` or a mapping holding it, if any."""
    for assignment in reversed(overrides):
        path = assignment.partition("=")[0]
        if key == path or key.startswith(f"{path}."):
            return assignment
    return None
