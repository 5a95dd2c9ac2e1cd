"""The walk a reader follows from ``search.optimize`` to the first training step (issue 33).

    python -m benchmarks.call_walk [--out benchmarks/results/call_walk.txt]

Runs a one-trial, one-epoch study of ``spaces/tiny.yaml`` (or ``--space``) on 600 images in a temporary folder with a profile hook
that records every call of the project's own functions (``cae``, ``search``, ``analysis``; not module bodies, class
bodies, comprehensions or lambdas) until the first training step (``fit`` calling ``cae.training.to_unit`` on its first
batch). It reports two walks:

- the *chain*: the stack of project functions at that first step, outermost first: what a reader follows down
  from ``optimize`` to the step, and how often it re-enters a file it had already left;
- the *walk*: every project function called on the way, in order of first call (what a reader who reads each
  function once meets), and how often that order comes back to a file it had visited, then left.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(str(ROOT / name) + os.sep for name in ("cae", "search", "analysis"))


FIRST_STEP = ("cae/training.py", "to_unit")  # the first thing fit's batch loop calls


class _Reached(Exception):
    """The first training step was called: the walk ends there."""


_FUNCTION = inspect.CO_OPTIMIZED | inspect.CO_NEWLOCALS  # set on functions, not on module or class bodies
_SKIPPED = ("<listcomp>", "<genexpr>", "<dictcomp>", "<setcomp>", "<lambda>")


def _where(frame: FrameType) -> tuple[str, str] | None:
    code = frame.f_code
    if not code.co_filename.startswith(PACKAGES) or code.co_flags & _FUNCTION != _FUNCTION or code.co_name in _SKIPPED:
        return None
    return str(Path(code.co_filename).relative_to(ROOT)), code.co_qualname


def _reentries(files: list[str]) -> int:
    """How often ``files`` (in order) comes back to a file it had visited and then left."""
    seen: set[str] = set()
    count, last = 0, None
    for name in files:
        if name != last and name in seen:
            count += 1
        seen.add(name)
        last = name
    return count


def walk(space: Path = ROOT / "spaces" / "tiny.yaml") -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The chain at the first training step and every project call before it."""
    import search

    calls: list[tuple[str, str]] = []
    chain: list[tuple[str, str]] = []

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event != "call":
            return
        where = _where(frame)
        if where is None:
            return
        calls.append(where)
        if where == FIRST_STEP and not chain and frame.f_back is not None and _where(frame.f_back) == ("cae/training.py", "fit"):
            stack, f = [], frame
            while f is not None:
                if (w := _where(f)) is not None:
                    stack.append(w)
                f = f.f_back
            chain.extend(reversed(stack))
            raise _Reached

    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite:///{folder}/walk.db"
        sys.setprofile(profile)
        try:
            search.optimize(space, trials=1, storage=storage, overrides=["train.epochs=1", "data.subset=600"], artifacts=folder)
        except _Reached:
            pass
        except Exception:  # the objective catches _Reached as a trial's crash: the chain is recorded all the same
            pass
        finally:
            sys.setprofile(None)
    return chain, calls


def report(chain: list[tuple[str, str]], calls: list[tuple[str, str]]) -> str:
    first: dict[tuple[str, str], None] = dict.fromkeys(calls)
    counts = Counter(calls)
    lines = [
        f"chain at the first training step: {len(chain)} functions, {len({f for f, _ in chain})} files, "
        f"{_reentries([f for f, _ in chain])} re-entries into a file already left",
        *(f"  {i:2d}. {f}:{name}" for i, (f, name) in enumerate(chain, 1)),
        "",
        f"walk before the first training step: {len(first)} project functions in {len({f for f, _ in calls})} files, "
        f"{_reentries([f for f, _ in first])} re-entries into a file already left (in order of first call); "
        f"{len(calls)} calls, {sum(count for (f, _), count in counts.items() if f.startswith('search/'))} of them in search/",
        *(f"  {f}:{name}" + (f" ×{counts[f, name]}" if counts[f, name] > 1 else "") for f, name in first),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "call_walk.txt")
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "tiny.yaml", help="the space run (default spaces/tiny.yaml)")
    args = parser.parse_args(argv)
    text = report(*walk(args.space.resolve()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text.split("\n\n")[0].splitlines()[0])
    print(text.split("\n\n")[1].splitlines()[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
