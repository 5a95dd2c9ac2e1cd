"""What pruning saves: one space, seed and trial count, run with its pruner and without.

    python -m benchmarks.pruning [--space benchmarks/spaces/pruning.yaml] [--trials 20] [--set k=v ...]
    python -m benchmarks.pruning --space benchmarks/spaces/pareto_pruning.yaml --trials 16   (two objectives)

Both studies run here, one after the other, through :func:`search.optimize` into a temporary
folder (nothing is written under ``studies/``). For each: the epochs trained (the sum over trials
of their recorded validation curves' lengths), the wall time and the best validation MSE found.
The target: at least 50% fewer epochs with pruning, for a best validation MSE within 5% of the
unpruned study's. In a study of several objectives (error and latent size, pruned by the project's
latent-percentile rule) the front is compared too: the lowest validation MSE at each latent bound,
and the hypervolume the front dominates. Results go to ``benchmarks/results/<space name>.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from benchmarks.common import SPACES, machine, write_result
from search.display import quiet_optuna
from search.run import optimize
from search.space import load_space
from search.trials.best import best_trial
from search.trials.objectives import best_val_mse
from search.trials.record import read_trial

NO_PRUNING = "study.pruner={type: none}"
LATENT_BOUNDS = (32, 64, 128, 256, 512)


def front_points(study: optuna.Study) -> list[tuple[int, float]]:
    """(latent size, best validation MSE) of the complete trials no other beats on both."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    points = sorted((r.latent_size, r.kept_val_mse) for t in complete if (r := read_trial(t)).latent_size is not None)
    front: list[tuple[int, float]] = []
    for latent, error in points:
        if not front or error < front[-1][1]:
            front.append((latent, error))
    return front


def hypervolume(front: list[tuple[int, float]], reference: tuple[float, float]) -> float:
    """The area a 2-D front dominates up to ``reference``, on (log2 latent, MSE) axes.

    Written here because Optuna's hypervolume lives in a private module (optuna._hypervolume); in
    two dimensions it is a sum of rectangles over the front sorted by its first objective.
    """
    area, right = 0.0, reference[0]
    for latent, error in sorted(front, reverse=True):
        x = np.log2(latent)
        if x < right and error < reference[1]:
            area += (right - x) * (reference[1] - error)
            right = x
    return float(area)


def study_figures(study: optuna.Study, seconds: float) -> dict[str, Any]:
    """Epochs trained, wall time, best validation MSE and trial states of a finished study."""
    trials = study.get_trials(deepcopy=False)
    states = {
        state.name.lower(): sum(t.state == state for t in trials) for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    best = best_trial(study)
    figures = {
        "epochs": sum(read_trial(t).epochs for t in trials),
        "seconds": seconds,
        "best_val_mse": None if best is None else best_val_mse(best),
        "best_trial": None if best is None else best.number,
        "best_params": None if best is None else best.params,
        "trials": states,
    }
    if len(study.directions) > 1:
        front = front_points(study)
        figures["front"] = front
        figures["best_within"] = {bound: min((e for s, e in front if s <= bound), default=None) for bound in LATENT_BOUNDS}
    return figures


def compare(pruned: dict[str, Any], unpruned: dict[str, Any]) -> dict[str, Any]:
    """The savings and the price: fraction of epochs saved, relative change of the best MSE, the targets."""
    saved = 1 - pruned["epochs"] / unpruned["epochs"]
    worse = pruned["best_val_mse"] / unpruned["best_val_mse"] - 1
    result = {
        "epochs_saved": saved,
        "time_saved": 1 - pruned["seconds"] / unpruned["seconds"],
        "best_val_mse_change": worse,
        "target_epochs_saved_50pct": saved >= 0.5,
        "target_best_within_5pct": worse <= 0.05,
    }
    if "front" in pruned and "front" in unpruned:
        # one reference point for both fronts: past the largest latent and the worst front error of either
        fronts = pruned["front"] + unpruned["front"]
        reference = (np.log2(max(s for s, _ in fronts)) + 1, max(e for _, e in fronts) * 1.1)
        volumes = {key: hypervolume(f["front"], reference) for key, f in (("pruned", pruned), ("unpruned", unpruned))}
        result |= {"hypervolume": volumes, "hypervolume_ratio": volumes["pruned"] / volumes["unpruned"] if volumes["unpruned"] else None}
    return result


def run_one(space: Path, name: str, trials: int, overrides: list[str], folder: Path, console: Console) -> dict[str, Any]:
    storage = f"sqlite:///{folder / f'{name}.db'}"
    start = time.perf_counter()
    study = optimize(space, trials=trials, study_name=name, storage=storage, overrides=overrides, console=console)
    seconds = time.perf_counter() - start
    return study_figures(study, seconds)


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
    if "hypervolume" in comparison:
        fronts = Table(title="the fronts: lowest val MSE at each latent bound, and the hypervolume each dominates")
        fronts.add_column("")
        for bound in LATENT_BOUNDS:
            fronts.add_column(f"latent ≤ {bound}", justify="right")
        fronts.add_column("hypervolume", justify="right")
        for key, f in figures.items():
            cells = [f"{v:.5f}" if v is not None else "—" for v in f["best_within"].values()]
            fronts.add_row(key, *cells, f"{comparison['hypervolume'][key]:.4f}")
        console.print(fronts)
        console.print(f"pruned front's hypervolume: {100 * comparison['hypervolume_ratio']:.1f}% of the unpruned one's", highlight=False)
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
        "pruning" if space.stem == "pruning" else space.stem,
        {"machine": machine(), "settings": settings, "studies": figures, "comparison": comparison},
        folder=args.out,
    )
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
