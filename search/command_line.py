"""What the project's command lines share: exit codes, number flags, one-line errors, and flags for parameters.

The library speaks Python: its errors name what to change as a parameter, ``storage='sqlite:///x.db'``,
``study_name='recon'``, ``method='umap'``. The commands speak flags: :func:`flag_words` turns those
names into the command's own flags (``--storage sqlite:///x.db``), so that one error reads right in a
notebook and on a terminal. Used by ``python -m search`` (:mod:`search.cli`) and every
``python -m analysis.<question>`` (:mod:`analysis.cli`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping
from typing import NoReturn

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# Library parameters whose flag is not ``--`` + their name: the study's name is its flag's value.
PARAMETER_ALIASES = {"study_name": "--study"}


def number_flag(
    kind: type[int] | type[float], expected: str, *, inclusive: bool = False, minimum: float = 0, maximum: float = float("inf")
) -> Callable[[str], int | float]:
    """An argparse type accepting ``kind`` values > ``minimum`` (≥ when ``inclusive``) and ≤ ``maximum``;
    anything else says what was expected."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        # written so that NaN fails too
        if value is None or not (value > minimum or (inclusive and value == minimum)) or not value <= maximum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = number_flag(int, "an integer ≥ 1")
positive_float = number_flag(float, "a number of seconds > 0")


class OneLineParser(argparse.ArgumentParser):
    """argparse, with bad flags reported as one line (the project's rule) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see {self.prog} -h)\n")


def parser_flags(parser: argparse.ArgumentParser, **aliases: str) -> dict[str, str]:
    """Each flag of ``parser`` by the name of what it sets (``overrides`` → ``--set``), with :data:`PARAMETER_ALIASES`
    and ``aliases`` (a library parameter named other than the flag's destination: ``fractions="--labels"``)."""
    flags = {action.dest: action.option_strings[-1] for action in parser._actions if action.option_strings and action.dest != "help"}
    return {**flags, **PARAMETER_ALIASES, **aliases}


def flag_words(message: str, flags: Mapping[str, str]) -> str:
    """``message`` with each ``name=value`` whose name has a flag in ``flags`` written as that flag: ``--name value``.

    >>> flag_words("storage='studies/x': is a folder", {"storage": "--storage"})
    '--storage studies/x: is a folder'
    >>> flag_words("method='umap': not installed; choose method='pca'", {"method": "--method"})
    '--method umap: not installed; choose --method pca'
    >>> flag_words("train.lr=0.1 is data.subset=3", {"lr": "--lr", "subset": "--subset"})  # keys of a space stay as they are
    'train.lr=0.1 is data.subset=3'
    >>> flag_words("leave out image= for the first", {"image": "--image"})  # a name alone is its flag alone
    'leave out --image for the first'
    """
    if not flags:
        return message
    names = "|".join(re.escape(name) for name in sorted(flags, key=len, reverse=True))
    # a quoted value loses its quotes (a flag's value is not Python); a name inside a dotted key is not a parameter
    pattern = re.compile(rf"(?<![\w.\-])({names})=(?:'([^']*)'|\"([^\"]*)\")?")

    def flag(match: re.Match[str]) -> str:
        quoted = match.group(2) if match.group(2) is not None else match.group(3)
        if quoted is not None:
            return f"{flags[match.group(1)]} {quoted}"
        alone = match.end() == len(message) or message[match.end()] in " ,;:)"
        return flags[match.group(1)] + ("" if alone else " ")

    return pattern.sub(flag, message)
