"""The flagship, search then refit, judged at the sizes people compare (64, 128, 256 values).

    python -m benchmarks.flagship [--search-minutes 30] [--search-subset 12000] [--refit-minutes 45] [--sizes 64 128 256]

1. Search: ``spaces/pareto.yaml`` (two objectives, latent sizes on a grid of choices that holds 64, 128
   and 256, multi-fidelity pruning by ``pareto_halving``) on a subset of the images for
   ``--search-minutes``: many designs, each judged at rungs of 1, 3 and 9 epochs.
2. Refit: the front's nearest design at each of ``--sizes``, built at exactly that size, trained on the
   whole training split (48,000 images) for as many epochs as ``--refit-minutes`` allows, estimated from
   each design's own epoch time in the search scaled by the images.
3. What it found: test PSNR at each size beside PCA's at the same size on the same split and the
   published long-trained CAE's, the compute each phase cost, and the hypervolume against training
   seconds (``search.trials.front``), written to ``benchmarks/results/flagship.json`` and, as small tables,
   ``benchmarks/results/flagship/`` (both studies' trials, every trial's validation curve, the anytime curve).

The studies are ``studies/flagship.db`` and ``studies/flagship-refit.db``: the command resumes them.
``--phases`` with nothing after it only writes the report from stored studies, and then ``--refit-into``
may name several refits that ran side by side (e.g. one ``search refit`` per size, each with its own
epochs: their wall time is counted once, from the first start to the last end).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState
from rich.console import Console

import search
from analysis.published import long_trained_psnr
from benchmarks.common import RESULTS, ROOT, machine, write_result
from search.refits import choose_designs
from search.runtime.storage import default_storage
from search.trials.front import anytime_hypervolume, compute_hours, study_hypervolume
from search.trials.record import read_trial

SEARCH, REFIT = "flagship", "flagship-refit"
# Evaluation after each epoch (validation and, at the end, test images) on top of the training seconds.
EVAL_MARGIN = 1.2


def _curves(study: optuna.Study) -> pd.DataFrame:
    rows = [
        {"study": study.study_name, "trial": t.number, "state": t.state.name.lower(), "epoch": i + 1, "val_mse": v}
        for t in study.get_trials(deepcopy=False)
        for i, v in enumerate(read_trial(t).val_mse or ())
    ]
    return pd.DataFrame(rows)


def _refit_epochs(
    parent: optuna.Study,
    sizes: list[int],
    trials: list[int],
    best: bool,
    within: float,
    minutes: float,
    search_images: int,
    full_images: int,
) -> int:
    """Epochs per design so that the refit of every size fits ``minutes``, from the designs' own epoch times."""
    designs = choose_designs(parent, latent=sizes, trials=trials, best=best, within=within)
    per_epoch = []
    for design in designs:
        trial = parent.trials[design["lineage"]["trial"]]
        seconds = read_trial(trial).epoch_seconds or ()
        per_epoch.append(statistics.median(seconds) * full_images / search_images * EVAL_MARGIN)
    return max(1, math.floor(minutes * 60 / sum(per_epoch)))


def _wall_seconds(*studies: optuna.Study) -> float:
    """From the first trial's start to the last one's end: the wall time the studies took, in whatever processes
    (refits run side by side count once)."""
    trials = [t for study in studies for t in study.get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete]
    if not trials:
        return 0.0
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()


def _at_sizes(refits: list[optuna.Study], sizes: list[int]) -> list[dict[str, Any]]:
    published = long_trained_psnr()
    complete = [(s.study_name, t) for s in refits for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    rows = []
    for size in sizes:
        found = [(name, t, r) for name, t in complete if (r := read_trial(t)).latent_size == size]
        if not found:
            rows.append({"latent": size, "test_psnr": None})
            continue
        name, trial, record = found[0]
        lineage = record.lineage or {}
        test_psnr = math.nan if record.test_psnr is None else record.test_psnr
        pca = math.nan if record.pca_psnr is None else record.pca_psnr
        target = max(published.get(size, -math.inf), pca + 0.5)
        rows.append(
            {
                "latent": size,
                "study": name,
                "trial": trial.number,
                "parent_trial": record.parent_trial,
                "parent_latent": lineage.get("parent_latent"),
                "epochs": record.epochs,
                "test_psnr": record.test_psnr,
                "pca_psnr": pca,
                "gain_db": record.gain_db,
                "published_psnr": published.get(size),
                "target_psnr": target,
                "short_by_db": max(0.0, target - test_psnr),
                "train_hours": record.compute_seconds / 3600,
            }
        )
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flagship", description=__doc__.split("\n\n")[0])
    parser.add_argument("--search-minutes", type=float, default=30)
    parser.add_argument("--search-subset", type=int, default=12000, help="images of the search (train, val and test together)")
    parser.add_argument("--search-trials", type=int, default=200, help="an upper bound; the minutes end the search first")
    parser.add_argument("--search-epochs", type=int, help="the search's train.epochs, its largest budget (default the space's)")
    parser.add_argument("--search-workers", type=int, default=1, metavar="K", help="worker processes of the search (default 1)")
    parser.add_argument("--refit-minutes", type=float, default=45)
    parser.add_argument("--refit-epochs", type=int, help="epochs per design (default: what --refit-minutes allows)")
    parser.add_argument("--refit-subset", type=int, help="images of the refit (default: all of them)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument(
        "--refit-trials",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="refit these search trials' designs at every size (default: the front's nearest design at each size)",
    )
    parser.add_argument(
        "--refit-best",
        action="store_true",
        help="refit the search's design best against PCA (search.refits.best_against_pca) at every size",
    )
    parser.add_argument(
        "--refit-within",
        type=float,
        default=0.0,
        metavar="F",
        help="with --refit-best: the cheapest per epoch of the designs within a factor 1+F of the best (search refit --within)",
    )
    parser.add_argument(
        "--refit-workers", type=int, default=1, metavar="K", help="worker processes of the refit, one thread each on two cores (default 1)"
    )
    parser.add_argument(
        "--refit-into",
        nargs="+",
        default=[REFIT],
        metavar="NAME",
        help=f"the refit's study (default {REFIT}); without the refit phase, several refits that ran side by side can be read",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--storage", help="default sqlite:///studies/flagship.db and sqlite:///studies/flagship-refit.db")
    parser.add_argument(
        "--phases",
        nargs="*",
        choices=("search", "refit"),
        default=["search", "refit"],
        help="run only these (each in its own process, e.g. with its own thread count); the others' studies are read "
        "(none: only the report, from the stored studies)",
    )
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if "refit" in args.phases and len(args.refit_into) > 1:
        parser.error("--refit-into: expected one study for the refit phase (several are read only without it)")
    return args


def _search(args: argparse.Namespace, console: Console) -> optuna.Study:
    """The search phase, or its stored study when the phase is not asked for."""
    if "search" not in args.phases:
        return optuna.load_study(study_name=SEARCH, storage=args.storage or default_storage(SEARCH))
    return search.optimize(
        ROOT / "spaces" / "pareto.yaml",
        trials=args.search_trials,
        timeout=args.search_minutes * 60,
        study_name=SEARCH,
        storage=args.storage,
        workers=args.search_workers,
        overrides=[f"data.subset={args.search_subset}", *([f"train.epochs={args.search_epochs}"] if args.search_epochs else [])],
        console=console,
    )


def _refits(args: argparse.Namespace, study: optuna.Study, console: Console) -> list[optuna.Study]:
    """The refit phase's study, or the stored refits of ``--refit-into`` when the phase is not asked for."""
    if "refit" not in args.phases:
        return [optuna.load_study(study_name=name, storage=args.storage or default_storage(name)) for name in args.refit_into]
    train_share = 0.8  # the space's split
    refit_images = (args.refit_subset or 60_000) * train_share
    epochs = args.refit_epochs or _refit_epochs(
        study,
        args.sizes,
        args.refit_trials,
        args.refit_best,
        args.refit_within,
        args.refit_minutes,
        args.search_subset * train_share,
        refit_images,
    )
    console.print(f"refit: {epochs} epochs for each of the sizes {args.sizes}", highlight=False)
    refit = search.refit(
        SEARCH,
        latent=args.sizes,
        trials=args.refit_trials,
        best=args.refit_best,
        within=args.refit_within,
        epochs=epochs,
        into=args.refit_into[0],
        storage=args.storage,
        workers=args.refit_workers,
        overrides=[f"data.subset={args.refit_subset or 'null'}"],
        console=console,
    )
    return [refit]


def _write_tables(folder: Path, study: optuna.Study, refits: list[optuna.Study]) -> None:
    """Both studies' trials, every trial's validation curve and the anytime hypervolume, as CSV files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    search.trials_table(study).to_csv(folder / "search_trials.csv", index=False)
    pd.concat([search.trials_table(r).assign(study=r.study_name) for r in refits]).to_csv(folder / "refit_trials.csv", index=False)
    pd.concat([_curves(s) for s in (study, *refits)]).to_csv(folder / "curves.csv", index=False)
    anytime = pd.DataFrame(
        [{"study": s.study_name, "train_seconds": sec, "hypervolume": hv} for s in (study, *refits) for sec, hv in anytime_hypervolume(s)]
    )
    anytime.to_csv(folder / "anytime.csv", index=False)


def _collect(args: argparse.Namespace, study: optuna.Study, refits: list[optuna.Study]) -> dict[str, Any]:
    """``flagship.json``'s document: the machine, what each phase cost and found, and the refits at each size."""
    wall = {"search": _wall_seconds(study), "refit": _wall_seconds(*refits)}
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in (TrialState.COMPLETE, TrialState.PRUNED)}
    return {
        "machine": machine(),
        "search": {
            "subset": args.search_subset,
            "wall_minutes": wall["search"] / 60,
            "train_hours": compute_hours(study),
            "trials": counts,
            "epochs": int(sum(read_trial(t).epochs for t in study.trials)),
            "hypervolume": study_hypervolume(study),
        },
        "refit": {
            "studies": [r.study_name for r in refits],
            "epochs": max((read_trial(t).epochs for r in refits for t in r.trials), default=0),
            "wall_minutes": wall["refit"] / 60,
            "train_hours": sum(compute_hours(r) for r in refits),
            "hypervolume": study_hypervolume(*refits),
        },
        "at_sizes": _at_sizes(refits, args.sizes),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    console = Console(width=160)
    study = _search(args, console)
    refits = _refits(args, study, console)
    folder = args.out / "flagship"
    _write_tables(folder, study, refits)
    result = _collect(args, study, refits)
    path = write_result("flagship", result, folder=args.out)
    console.print(pd.DataFrame(result["at_sizes"]).to_string(index=False), highlight=False)
    console.print(f"wrote {path} and {folder}/", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
