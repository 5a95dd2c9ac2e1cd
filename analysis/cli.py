"""What every ``python -m analysis.<question>`` command shares: its flags, its study, its exit codes.

Exit codes are the search's: 0 success, 2 bad input (no such study, no finished trial, weights that
cannot be read, bad flag) with one line on stderr, 3 an output folder that cannot be written (checked
before any computing, and again as the files are written), 130 on Ctrl-C. The analyses' functions
name their parameters in errors (``method='umap'``); :func:`run` words them as the command's flags (``--method umap``).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cae.code_fit import CodeFit
from cae.data import DataError
from cae.spec import ArchitectureError
from search.command_line import EXIT_BAD_INPUT, EXIT_INTERRUPTED, OneLineParser, flag_words, number_flag, parser_flags
from search.display import quiet_optuna
from search.runtime.storage import EXIT_STORAGE, StorageError, StorageWriteError, study_dir
from search.space import SpaceError, check_study_name

nonnegative_int = number_flag(int, "a trial number ≥ 0", inclusive=True)


def study_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with ``--study NAME``, ``--storage URL`` and ``--out DIR``."""
    parser = OneLineParser(prog=prog, description=description)
    parser.add_argument("--study", required=True, metavar="NAME", help="the study to analyse, e.g. recon")
    parser.add_argument("--storage", metavar="URL", help="Optuna storage URL (default sqlite:///studies/NAME.db)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where to write (default studies/NAME/analysis/)")
    return parser


def trial_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """:func:`study_parser` with ``--trial N`` (default: the study's best trial)."""
    parser = study_parser(prog, description)
    parser.add_argument("--trial", type=nonnegative_int, metavar="N", help="the trial to look at (default: the best)")
    return parser


def add_fit_flags(parser: argparse.ArgumentParser, *, steps: int | None, steps_help: str) -> None:
    """``--fit-steps S`` and ``--fit-lr LR``: codes fitted per image to a network's decoder (:mod:`cae.code_fit`)."""
    kind = number_flag(int, "a whole number of steps ≥ 0", inclusive=True)
    parser.add_argument("--fit-steps", type=kind, default=steps, metavar="S", help=steps_help)
    lr = number_flag(float, "a learning rate > 0")
    parser.add_argument("--fit-lr", type=lr, default=CodeFit(0).lr, metavar="LR", help="the code's learning rate (default %(default)g)")


def output_dir(args: argparse.Namespace) -> Path:
    out = args.out or study_dir(args.study) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_output_dir(out: Path | None, study: str) -> None:
    """Refuse, before any computing and without creating anything, an output folder that is a file or cannot be made.

    :class:`StorageError` for a file in the way (bad input), :class:`StorageWriteError` for a folder that
    cannot be written (no permission, a read-only or full disk).
    """
    folder, named = _output_folder(out, study)
    existing = folder
    try:
        while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
            existing = existing.parent
    except OSError as error:  # a folder on the way that may not be looked into
        raise StorageWriteError(f"{named}: cannot be reached ({error.strerror or error})") from None
    if not existing.is_dir():
        what = "a link to nothing" if existing.is_symlink() and not existing.exists() else "a file"
        where = f"is {what}" if existing == folder else f"cannot be made: {existing} is {what}"
        raise StorageError(f"{named}: {where}, expected a folder")
    try:  # a real write, not os.access: root passes that everywhere, and /proc or a full quota say no only when asked
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=existing))
    except OSError as error:
        where = "" if existing == folder else f"{existing}, where it would be made, "
        raise StorageWriteError(f"{named}: {where}cannot be written ({error.strerror or error})") from None


def _output_folder(out: Path | None, study: str) -> tuple[Path, str]:
    """The output folder, and how a message names it: the parameter given, or the default and how to choose another."""
    if out is not None:
        return out, f"out={str(out)!r}"
    folder = study_dir(study) / "analysis"
    return folder, f"the output folder {folder} (the default; give another with out=)"


# What a write says when the disk is full or read-only; a file object's write (PIL's, matplotlib's) names no file.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _written_under(error: OSError, out: Path) -> bool:
    """Whether ``error`` came from writing the output folder ``out``: a file under it, or a full or read-only disk."""
    if not error.filename:
        return error.errno in _WRITE_ERRNOS
    try:
        return Path(os.fsdecode(error.filename)).resolve().is_relative_to(out.resolve())
    except (OSError, ValueError):
        return False


def print_written(console: Console, files: dict[str, Path]) -> None:
    """The closing lines of every command: where its files are."""
    for path in files.values():
        console.print(f"wrote {path}", highlight=False)


def progress_bars(console: Console, *, quiet: bool) -> Progress:
    """The analyses' progress: a bar per task with its count, elapsed time and a ``status`` field (``quiet``: drawn nowhere)."""
    status = TextColumn("{task.fields[status]}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), status)
    return Progress(*columns, console=console, disable=quiet)


def console() -> Console:
    # Logs (CI, nohup, tee) get wide lines instead of rich's 80 columns, as in python -m search.
    return Console() if sys.stdout.isatty() else Console(width=200)


def run(
    command: Callable[[argparse.Namespace, Console], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    **aliases: str,
) -> int:
    """Parse ``argv``, run ``command`` and turn bad input into one line and exit code 2.

    The line words the library's ``name=value`` as the parser's flags (:func:`search.command_line.flag_words`);
    ``aliases`` name the flag of a parameter called other than the flag's destination (``fractions="--labels"``).

    The command's entry point: here, and only while the command runs, Optuna's log is quieted to
    errors and its experimental warnings hidden (the command prints its own lines); both are put
    back as they were, so that ``main(argv)`` called in-process leaves its caller's settings alone.
    """
    args = parser.parse_args(argv)
    flags = parser_flags(parser, **aliases)
    try:
        with quiet_optuna():
            check_study_name(args.study, "command line", "--study")
            check_output_dir(args.out, args.study)
            return command(args, console())
    except StorageWriteError as error:
        print(f"error: {flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_STORAGE
    except (SpaceError, StorageError, ArchitectureError) as error:  # the last: a trial that cannot become what is asked
        print(f"error: {flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as error:
        print(f"error: data of study {args.study}: {flag_words(str(error), flags)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        folder, named = _output_folder(args.out, args.study)
        if not _written_under(error, folder):
            raise
        # the disk filled up, or the folder was taken away, after the check
        written = f"{os.fsdecode(error.filename)} cannot be written" if error.filename else "writing its files failed"
        print(f"error: {flag_words(named, flags)}: {written} ({error.strerror or error})", file=sys.stderr)
        return EXIT_STORAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
