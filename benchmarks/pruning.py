"""What pruning saves: one space, seed and trial count, run with its pruner and without.

    python -m benchmarks.pruning [--space benchmarks/spaces/pruning.yaml] [--trials 20] [--set k=v ...]

Both studies run here, one after the other, through :func:`search.run.run_study` into a temporary
folder (nothing is written under ``studies/``). For each: the epochs trained (the sum over trials
of their recorded validation curves' lengths), the wall time and the best validation MSE found.
The target: at least 50% fewer epochs with pruning, for a best validation MSE within 5% of the
unpruned study's. Results go to ``benchmarks/results/pruning.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from benchmarks.common import SPACES, machine, write_result
from search.display import quiet_optuna
from search.run import run_study
from search.space import load_space

NO_PRUNING = "study.pruner={type: none}"


def study_figures(study: optuna.Study, seconds: float) -> dict[str, Any]:
    """Epochs trained, wall time, best validation MSE and trial states of a finished study."""
    trials = study.get_trials(deepcopy=False)
    states = {
        state.name.lower(): sum(t.state == state for t in trials) for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return {
        "epochs": sum(len(t.user_attrs.get("val_mse", [])) for t in trials),
        "seconds": seconds,
        "best_val_mse": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
        "best_params": None if best is None else best.params,
        "trials": states,
    }


def compare(pruned: dict[str, Any], unpruned: dict[str, Any]) -> dict[str, Any]:
    """The savings and the price: fraction of epochs saved, relative change of the best MSE, the targets."""
    saved = 1 - pruned["epochs"] / unpruned["epochs"]
    worse = pruned["best_val_mse"] / unpruned["best_val_mse"] - 1
    return {
        "epochs_saved": saved,
        "time_saved": 1 - pruned["seconds"] / unpruned["seconds"],
        "best_val_mse_change": worse,
        "target_epochs_saved_50pct": saved >= 0.5,
        "target_best_within_5pct": worse <= 0.05,
    }


def run_one(space: Path, name: str, trials: int, overrides: list[str], folder: Path, console: Console) -> dict[str, Any]:
    storage = f"sqlite:///{folder / f'{name}.db'}"
    start = time.perf_counter()
    code = run_study(space, trials=trials, study_name=name, storage=storage, overrides=overrides, console=console)
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"study {name} ended with exit code {code}")
    return study_figures(optuna.load_study(study_name=name, storage=storage), seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pruning", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", type=Path, default=SPACES / "pruning.yaml")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override for both studies")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    console = Console()
    quiet_optuna()
    space = args.space.resolve()
    pruner = load_space(space, args.overrides).study.pruner
    old = Path.cwd()
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="cae-pruning-") as tmp:
        os.chdir(tmp)  # studies/<name>/ (artifacts, curves) goes here, not into the project
        try:
            figures["pruned"] = run_one(space, "pruned", args.trials, args.overrides, Path(tmp), console)
            figures["unpruned"] = run_one(space, "unpruned", args.trials, [*args.overrides, NO_PRUNING], Path(tmp), console)
        finally:
            os.chdir(old)
    comparison = compare(figures["pruned"], figures["unpruned"])
    table = Table(title=f"pruning: {space.name}, {args.trials} trials, same seed")
    for column in ("", "epochs trained", "wall time", "best val MSE", "complete / pruned / failed"):
        table.add_column(column, justify="right")
    for key, f in figures.items():
        states = f["trials"]
        table.add_row(
            f"{key} ({pruner['type'] if key == 'pruned' else 'none'})",
            str(f["epochs"]),
            f"{f['seconds']:.0f} s",
            f"{f['best_val_mse']:.5f}",
            f"{states['complete']} / {states['pruned']} / {states['fail']}",
        )
    table.add_row(
        "pruned vs unpruned",
        f"{-100 * comparison['epochs_saved']:+.0f}%",
        f"{-100 * comparison['time_saved']:+.0f}%",
        f"{100 * comparison['best_val_mse_change']:+.1f}%",
        "",
    )
    console.print(table)
    console.print(
        f"targets: ≥ 50% fewer epochs: {'met' if comparison['target_epochs_saved_50pct'] else 'not met'}; "
        f"best val MSE within 5%: {'met' if comparison['target_best_within_5pct'] else 'not met'}"
    )
    settings = {
        "space": str(args.space),
        "space_text": space.read_text(),
        "trials": args.trials,
        "overrides": args.overrides,
        "pruner": pruner,
    }
    path = write_result(
        "pruning",
        {"machine": machine(), "settings": settings, "studies": figures, "comparison": comparison},
        folder=args.out,
    )
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
