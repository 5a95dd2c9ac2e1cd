"""How the space parser says what is wrong: one :class:`SpaceError` naming the file, the key and what was expected,
with a "did you mean" for near misses.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# A value shown in a message is cut to this many characters: a 10 MB study name or a list of a
# million items still makes a line that fits a terminal.
SHOWN_CHARACTERS = 80
# The whole of what a message says after ``file: key:``; the longest the parser writes is about 250.
MESSAGE_CHARACTERS = 600


def excerpt(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` as it is when it has at most ``limit`` characters, else its first ``limit`` characters,
    ``…`` and its length: every message that shows a value shows at most this bounded excerpt.

        >>> excerpt("x" * 10_000_000)[-30:]
        'xxxxx… (10,000,000 characters)'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


class SpaceError(ValueError):
    """A space that cannot be used: ``file: key: what was expected``, each part bounded (:func:`excerpt`)."""

    def __init__(self, file: str | Path, key: str, expected: str) -> None:
        key, expected = excerpt(str(key)), excerpt(expected, MESSAGE_CHARACTERS)
        super().__init__(f"{excerpt(str(file), MESSAGE_CHARACTERS)}: {key}: {expected}")
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
        # a word far longer than every name is close to none of them, and difflib's work grows with its length
        close = difflib.get_close_matches(str(word)[: 2 * SHOWN_CHARACTERS], list(names), n=1)
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


def show(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``value`` as a message shows it: a scalar's repr, a list's items, a mapping's keys, in at most about
    ``limit`` characters (:func:`excerpt`). Only what is shown is visited, so a huge or deeply shared
    value costs no more than a small one."""
    if isinstance(value, dict | list):
        items = value.keys() if isinstance(value, dict) else value
        opening, closing = ("a mapping {", "}") if isinstance(value, dict) else ("[", "]")
        parts: list[str] = []
        used = len(opening)
        for item in items:
            room = limit - used
            if room < 10:  # too little room for another item to say anything
                parts.append(f"… {len(value) - len(parts):,} more")
                break
            part = excerpt(str(item), room) if isinstance(value, dict) else show(item, room)
            parts.append(part)
            used += len(part) + 2
        return opening + ", ".join(parts) + closing
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return excerpt(repr(value), limit)


def check_count(call: str, name: str, value: Any, minimum: int, maximum: float = math.inf, unit: str = "") -> None:
    """Refuse (:class:`SpaceError` naming ``name=`` of ``call``) a ``value`` that is not an integer from ``minimum`` to ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= value <= maximum:
        bound = f"from {minimum} to {maximum:g}" if maximum < math.inf else f"≥ {minimum}"
        raise SpaceError(call, f"{name}=", f"expected an integer {bound}{unit}, got {show(value)}")
