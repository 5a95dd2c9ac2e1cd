"""Per-trial time outside training: sampling, storage writes, test evaluation, artifacts.

    python -m benchmarks.overhead [--trials 3] [--subset 12000] [--epochs 10] [--space spaces/reference.yaml]

Runs a small study of the reference network in-process (through :func:`search.optimize`, in a
temporary folder) with timers wrapped around the pieces of a trial, and compares each trial's
duration in the storage (``datetime_complete − datetime_start``) with its training passes (the
user attribute ``epoch_seconds``) and its validation passes (every call of
:func:`cae.training.evaluate` but the trial's last, which is the test evaluation).

How it counts: *training* is the training passes plus the validation passes (both run every
epoch, and both scale with the epochs); *overhead* is everything else in the trial. The table
also shows the overhead with validation counted as overhead. Timers are exclusive: time spent
in a nested timer (a storage write inside an artifact upload) counts once, in the inner one.
The progress bar's per-batch update runs inside the training passes and is shown apart.
Results go to ``benchmarks/results/overhead.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import optuna
from rich.console import Console
from rich.table import Table

from benchmarks.common import REFERENCE_SPACE, machine, write_result
from search.display import quiet_optuna
from search.trials.record import read_trial

# (module, attribute, category): what is timed. Missing attributes are skipped, so that the
# benchmark survives the objective's refactorings (it then reports them under "other").
PIECES: tuple[tuple[str, str, str], ...] = (
    ("search.trials.objective", "sample", "sampling"),
    ("search.trials.objective", "train", "train() outside its passes"),
    ("cae.training", "evaluate", "evaluate"),
    ("search.trials.objective.Objective", "_upload", "artifacts (grid, checkpoint, upload)"),
    ("search.trials.objective", "save_note", "storage: the trial's note (save_note)"),
    ("optuna.trial.Trial", "set_user_attr", "storage: set_user_attr"),
    ("optuna.trial.Trial", "report", "storage: report"),
    ("optuna.trial.Trial", "should_prune", "storage: should_prune"),
    ("search.display.Display", "batch", "progress bar per batch"),
)


class Timers:
    """Exclusive wall time per category, per trial: a nested timer's time is not also its parent's."""

    def __init__(self) -> None:
        self.trials: list[dict[str, float]] = []
        self.calls: list[dict[str, int]] = []
        self.evaluations: list[list[float]] = []
        self._stack: list[list[float]] = []  # [start, time spent in children]

    def new_trial(self) -> None:
        self.trials.append(defaultdict(float))
        self.calls.append(defaultdict(int))
        self.evaluations.append([])

    @contextmanager
    def timing(self, category: str) -> Iterator[None]:
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            elapsed = time.perf_counter() - frame[0]
            if self._stack:
                self._stack[-1][1] += elapsed
            if self.trials:
                self.trials[-1][category] += elapsed - frame[1]
                self.calls[-1][category] += 1
                if category == "evaluate":
                    self.evaluations[-1].append(elapsed - frame[1])

    def wrap(self, function: Callable, category: str) -> Callable:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timing(category):
                return function(*args, **kwargs)

        return timed


def _resolve(path: str) -> Any:
    """``package.module`` or ``package.module.Class`` as an object."""
    import importlib

    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


@contextmanager
def instrumented(timers: Timers) -> Iterator[None]:
    """Wrap :data:`PIECES` and the objective's ``__call__`` (which starts a trial's accounting)."""
    from search.trials.objective import Objective

    with ExitStack() as stack:
        for owner_path, name, category in PIECES:
            owner = _resolve(owner_path)
            original = getattr(owner, name, None)
            if original is None:
                continue
            setattr(owner, name, timers.wrap(original, category))
            stack.callback(setattr, owner, name, original)
        call = Objective.__call__

        @functools.wraps(call)
        def objective(self: Objective, trial: optuna.Trial) -> float:
            timers.new_trial()
            return call(self, trial)

        Objective.__call__ = objective
        stack.callback(setattr, Objective, "__call__", call)
        yield


def breakdown(trial: optuna.trial.FrozenTrial, timed: dict[str, float], evaluations: list[float]) -> dict[str, Any]:
    """One trial's seconds: total, training passes, validation passes, and where the rest went."""
    total = (trial.datetime_complete - trial.datetime_start).total_seconds()
    record = read_trial(trial)
    train_passes = sum(record.epoch_seconds or ())
    has_test = record.test_mse is not None
    val = evaluations[:-1] if has_test else evaluations
    test = evaluations[-1] if has_test and evaluations else 0.0
    inside_passes = timed.get("progress bar per batch", 0.0)  # runs within the training passes
    pieces = {k: v for k, v in timed.items() if k not in ("evaluate", "progress bar per batch")}
    pieces["train() outside its passes"] = pieces.get("train() outside its passes", 0.0) - (train_passes - inside_passes)
    pieces["test evaluation"] = test
    overhead = total - train_passes - sum(val)
    pieces["optuna and the rest (ask, tell, heartbeat, …)"] = overhead - sum(pieces.values())
    return {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "epochs": len(record.epoch_seconds or ()),
        "seconds": total,
        "training_passes": train_passes,
        "validation_passes": sum(val),
        "progress_bar_inside_training": inside_passes,
        "overhead": overhead,
        "overhead_share": overhead / total,
        "overhead_share_with_validation": (overhead + sum(val)) / total,
        "pieces": pieces,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=REFERENCE_SPACE)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--subset", type=int, default=12000, help="data.subset (default 12000)")
    parser.add_argument("--epochs", type=int, default=10, help="train.epochs (default 10, the reference space's own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    from search.run import optimize

    console = Console()
    quiet_optuna()
    space = args.space.resolve()
    overrides = [f"data.subset={args.subset}", f"train.epochs={args.epochs}", *args.overrides]
    timers = Timers()
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="cae-overhead-") as tmp:
        storage = f"sqlite:///{Path(tmp) / 'overhead.db'}"
        os.chdir(tmp)
        try:
            start = time.perf_counter()
            with instrumented(timers):
                optimize(space, trials=args.trials, study_name="overhead", storage=storage, overrides=overrides, console=console)
            wall = time.perf_counter() - start
        finally:
            os.chdir(old)
        trials = [t for t in optuna.load_study(study_name="overhead", storage=storage).get_trials() if t.datetime_complete]
    rows = [breakdown(t, timed, evaluations) for t, timed, evaluations in zip(trials, timers.trials, timers.evaluations, strict=False)]
    for row, calls in zip(rows, timers.calls, strict=False):
        row["calls"] = dict(calls)

    table = Table(title=f"seconds per trial: {space.name}, data.subset={args.subset}, {args.epochs} epochs")
    for column in ("trial", "total", "training passes", "validation passes", "overhead", "overhead share", "with validation"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            str(row["trial"]),
            f"{row['seconds']:.2f}",
            f"{row['training_passes']:.2f}",
            f"{row['validation_passes']:.2f}",
            f"{row['overhead']:.3f}",
            f"{100 * row['overhead_share']:.2f}%",
            f"{100 * row['overhead_share_with_validation']:.2f}%",
        )
    console.print(table)
    pieces = Table(title="where the overhead goes (mean seconds per trial)")
    pieces.add_column("piece")
    pieces.add_column("seconds", justify="right")
    pieces.add_column("share of trial", justify="right")
    pieces.add_column("calls per trial", justify="right")
    mean_total = sum(r["seconds"] for r in rows) / len(rows)
    names = list(dict.fromkeys(k for r in rows for k in r["pieces"]))
    means = {k: sum(r["pieces"].get(k, 0.0) for r in rows) / len(rows) for k in names}
    calls = {k: sum(r["calls"].get(k, 0) for r in rows) / len(rows) for k in {k for r in rows for k in r["calls"]}}
    for name, seconds in sorted(means.items(), key=lambda item: -item[1]):
        pieces.add_row(name, f"{seconds:.3f}", f"{100 * seconds / mean_total:.2f}%", f"{calls[name]:g}" if name in calls else "")
    bar = sum(r["progress_bar_inside_training"] for r in rows) / len(rows)
    name = "progress bar per batch"
    pieces.add_row(f"(inside the training passes) {name}", f"{bar:.3f}", f"{100 * bar / mean_total:.2f}%", f"{calls.get(name, 0):g}")
    console.print(pieces)
    share = sum(r["overhead"] for r in rows) / sum(r["seconds"] for r in rows)
    between = wall - sum(r["seconds"] for r in rows)
    console.print(
        f"overhead: {100 * share:.2f}% of trial time (target < 2%: {'met' if share < 0.02 else 'not met'}); "
        f"outside any trial (data loading, study creation, between trials, final table): {between:.1f} s of {wall:.1f} s",
        highlight=False,
    )
    settings = {"space": str(args.space), "trials": args.trials, "overrides": overrides}
    path = write_result(
        "overhead",
        {
            "machine": machine(),
            "settings": settings,
            "trials": rows,
            "mean_pieces": means,
            "overhead_share": share,
            "wall_seconds": wall,
            "outside_trials_seconds": between,
        },
        folder=args.out,
    )
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
