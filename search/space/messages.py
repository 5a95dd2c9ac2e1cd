"""How the space parser says what is wrong: one :class:`SpaceError` naming the file, the key and what was expected,
with a "did you mean" for near misses.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class SpaceError(ValueError):
    """A space that cannot be used: ``file: key: what was expected``."""

    def __init__(self, file: str | Path, key: str, expected: str) -> None:
        super().__init__(f"{file}: {key}: {expected}")
        self.file, self.key, self.expected = str(file), key, expected


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


def check_keys(file: Path, where: str, mapping: dict[str, Any], allowed: tuple[str, ...] | list[str]) -> None:
    for key in mapping:
        if key not in allowed:
            prefix = f"{where}.{key}" if where else str(key)
            raise SpaceError(file, prefix, f"unknown key{did_you_mean(allowed, key)}; expected one of {', '.join(allowed)}")


def mapping(file: Path, key: str, value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpaceError(file, key, f"expected a mapping of {what}, got {show(value)}")
    return value


def show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping {" + ", ".join(map(str, value)) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(map(show, value)) + "]"
    return repr(value)
