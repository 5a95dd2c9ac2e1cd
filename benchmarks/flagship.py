"""The flagship as one command: search, then refit at the sizes people compare (64, 128, 256 values), within a budget.

    python -m benchmarks.flagship --budget-minutes 150 [--sizes 64 128 256] [--split official] [--search-subset 12000]

1. Plan: ``--search-share`` of the minutes for the search, ``--reserve-share`` kept for the refit's setup and the
   report, the rest for the refit (:mod:`benchmarks.flagship_plan`); printed before anything is spent.
2. Search: ``spaces/pareto.yaml`` on ``--search-subset`` images of ``--split``, every trial ``--search-epochs`` (2)
   epochs and no pruning (the replay's shortfall measure: a short fixed budget finds the full budget's designs, no
   pruning rule does better at equal epochs), until its share of the minutes is spent.
3. Refit: the front's nearest design at each of ``--sizes`` (or ``--refit-trials``, ``--refit-best``), built at exactly
   that size, on the whole training split (``--refit-subset`` for fewer), its training as the search's but a random
   half of every batch mirrored (``train.flip=true``) and what ``--refit-set`` writes. Each design's passes are first
   timed on the refit's images as the refit will run them (:mod:`benchmarks.flagship_calibration`), and each size gets
   the epochs that end all sizes within what is left of the budget; a deadline at the budget's end less its reserve
   stops a size that runs long after its last epoch that fits (``search refit --deadline``). The searched networks have two convolutions per
   stage (``model.blocks=2``: measured, see ``docs/results.md``); ``--search-set`` changes the searched space (e.g.
   ``model.blocks=1``, the space's own).
4. Report (:mod:`benchmarks.flagship_report`): a table per size of test PSNR on the study's own test split, the
   official test split (JPEG export) and ``--originals`` (original pixels), each beside PCA of the same size on the
   same images, in both PSNR conventions where measured anew; on the originals also from each image's code fitted to
   the decoder by ``--fit-steps`` Adam steps (:mod:`cae.code_fit`; 0 for none); published points only beside the
   column measured as they were (the encoder's one pass, as the published CAE encodes); the issue's targets on the
   originals met or missed by how much, for the encoder's codes and the fitted ones; the wall time against the budget.
   Written to ``benchmarks/results/flagship.json`` and ``benchmarks/results/flagship/`` (``flagship.md``, both
   studies' trials, every trial's validation curve, the anytime curve).

The studies are ``studies/flagship.db`` and ``studies/flagship-refit.db``: the command resumes them.
``--phases`` with nothing after it only writes the report from stored studies, and then ``--refit-into``
may name several refits that ran side by side (their wall time is counted once, from the first start to the last end).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import yaml
from optuna.trial import TrialState
from rich.console import Console

import search
from analysis.cli import add_fit_flags
from benchmarks.common import RESULTS, ROOT, machine, write_result
from benchmarks.flagship_calibration import TIMED_BATCHES, WARM_BATCHES, pass_cost
from benchmarks.flagship_plan import Budget, RefitPlan, plan_epochs, training_indices
from benchmarks.flagship_report import columns, markdown, measure, targets
from cae.code_fit import CodeFit
from cae.data import load_images
from cae.settings import TrainConfig
from cae.spec import Architecture
from search.refits import choose_designs
from search.runtime.storage import default_storage
from search.trials.front import anytime_hypervolume, compute_hours, study_hypervolume
from search.trials.record import read_trial
from search.trials.start import recorded_data

SEARCH, REFIT = "flagship", "flagship-refit"
# 30 Adam steps per image's code: on validation images of the blocks2 run's networks the first 30 gain 0.44 / 0.51 /
# 0.60 dB at 64 / 128 / 256 values and the next 70 another 0.07 / 0.02 / 0.01 for 3.3x the time
# (benchmarks/results/code-fit.json); 846 images take about 1 / 1.5 / 1.5 minutes here
FIT_STEPS = 30
ORIGINALS = ROOT.parent / "shared" / "data" / "cifar10-original-sample" / "test"  # 846 official test images, original pixels


def _curves(study: optuna.Study) -> pd.DataFrame:
    rows = [
        {"study": study.study_name, "trial": t.number, "state": t.state.name.lower(), "epoch": i + 1, "val_mse": v}
        for t in study.get_trials(deepcopy=False)
        for i, v in enumerate(read_trial(t).val_mse or ())
    ]
    return pd.DataFrame(rows)


def _designs(parent: optuna.Study, args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """The design the refit will train at each size, as ``search.refit`` chooses it."""
    designs = choose_designs(parent, latent=args.sizes, trials=args.refit_trials, best=args.refit_best, within=args.refit_within)
    return {d["lineage"]["latent_asked"]: d for d in designs}


def _search_epoch_seconds(parent: optuna.Study, designs: dict[int, dict[str, Any]]) -> dict[int, float]:
    """Each size's design's median training pass in the search (the trial it is built from, at that trial's size)."""
    return {
        size: statistics.median(read_trial(parent.trials[d["lineage"]["trial"]]).epoch_seconds or [float("nan")])
        for size, d in designs.items()
    }


def _refit_overrides(args: argparse.Namespace) -> list[str]:
    """What the refit writes over each design's training: mirrored images (``train.flip``: +0.025 dB at 64 and 128 values
    in 8 epochs for no time measurable, docs/results.md), then ``--refit-set`` (later settings win)."""
    return ["train.flip=true", *args.refit_set]


def _refit_train(design: dict[str, Any], refit_set: list[str]) -> TrainConfig:
    """The training the refit gives ``design``: its own settings but what ``--refit-set train.KEY=VALUE`` writes."""
    written = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in refit_set)}
    train = design["train"] | {k.removeprefix("train."): v for k, v in written.items() if k.startswith("train.")}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in train.items() if k in known})


def _wall_seconds(*studies: optuna.Study) -> float:
    """From the first trial's start to the last one's end: the wall time the studies took, in whatever processes
    (refits run side by side count once)."""
    trials = [t for study in studies for t in study.get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete]
    if not trials:
        return 0.0
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flagship", description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=150, help="the wall time of the whole command (default 150)")
    parser.add_argument("--search-share", type=float, default=1 / 3, help="the search's share of the budget (default a third)")
    parser.add_argument(
        "--reserve-share", type=float, default=0.08, help="kept for the refit's data and PCA and the report's evaluations (default 0.08)"
    )
    parser.add_argument("--split", choices=("official", "random"), default="official", help="data.split of the search and refit")
    parser.add_argument("--search-subset", type=int, default=12000, help="images of the search (train, val and test together)")
    parser.add_argument("--search-trials", type=int, default=200, help="an upper bound; the budget ends the search first")
    parser.add_argument("--search-epochs", type=int, default=2, help="every search trial's epochs, none pruned (default 2)")
    parser.add_argument(
        "--search-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="spaces/pareto.yaml but this setting (as search run --set; e.g. model.latent_channels=32), after the command's own",
    )
    parser.add_argument("--search-workers", type=int, default=1, metavar="K", help="worker processes of the search (default 1)")
    parser.add_argument(
        "--refit-epochs", type=int, nargs="+", metavar="E", help="epochs per design, or one per --sizes (default: what the budget allows)"
    )
    parser.add_argument("--refit-subset", type=int, help="images of the refit (default: all of them)")
    parser.add_argument(
        "--refit-set",
        action="append",
        default=[],
        metavar="train.KEY=VALUE",
        help="the refit's training but this setting (as search refit --set; e.g. train.ema=0.999), after the refit's own "
        "train.flip=true; timed and planned with it",
    )
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
        "--refit-workers",
        type=int,
        default=1,
        metavar="K",
        help="worker processes of the refit (default 1; the plan assumes the sizes train one after another)",
    )
    parser.add_argument(
        "--refit-into",
        nargs="+",
        default=[REFIT],
        metavar="NAME",
        help=f"the refit's study (default {REFIT}); without the refit phase, several refits that ran side by side can be read",
    )
    parser.add_argument(
        "--originals",
        type=Path,
        default=ORIGINALS if ORIGINALS.is_dir() else None,
        help=f"original-pixel test images to evaluate on (default {ORIGINALS} where it exists)",
    )
    add_fit_flags(
        parser,
        steps=FIT_STEPS,
        steps_help=f"on the originals, also score each network from codes fitted to its decoder by S Adam steps (cae.code_fit; "
        f"default {FIT_STEPS}, 0: none)",
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
    if args.refit_epochs and len(args.refit_epochs) not in (1, len(args.sizes)):
        parser.error(f"--refit-epochs: expected one number, or one per size of --sizes ({len(args.sizes)}), got {len(args.refit_epochs)}")
    try:
        args.budget = Budget(args.budget_minutes, args.search_share, args.reserve_share)
    except ValueError as error:
        parser.error(str(error))
    return args


def _search_overrides(args: argparse.Namespace) -> list[str]:
    # every trial the same short budget, none pruned: "study.pruner.type=none" would keep pareto_halving's other keys
    split = ["data.split=official"] if args.split == "official" else []
    own = [f"data.subset={args.search_subset}", "study.pruner={type: none}", f"train.epochs={args.search_epochs}", *split]
    # two convolutions per stage: the one lever of benchmarks.levers worth its cost (+0.22 dB at 256 values in 8 epochs
    # for 1.7x a step, where 2x the width gave +0.03 and twice the epochs +0.05; docs/results.md, like for like)
    return [*own, "model.blocks=2", *args.search_set]


def _plan_lines(args: argparse.Namespace) -> list[str]:
    """What the command will spend, said before it spends anything."""
    budget = args.budget
    lines = [f"budget {budget.minutes:g} min on this machine ({args.split} split):"]
    if "search" in args.phases:
        lines.append(
            f"  search {budget.search_seconds / 60:.1f} min: spaces/pareto.yaml on {args.search_subset:,} images, every trial "
            f"{args.search_epochs} epochs, none pruned ({' '.join('--set ' + o for o in _search_overrides(args))})"
        )
    if "refit" in args.phases:
        images = f"{args.refit_subset:,} images" if args.refit_subset else "the whole training split"
        lines.append(
            f"  refit what is left but {budget.reserve_seconds / 60:.1f} min kept for its setup and the report: sizes "
            f"{' '.join(map(str, args.sizes))} on {images}, each size's epochs from its design's epoch, timed here before the refit"
        )
    return lines


def _search(args: argparse.Namespace, console: Console) -> optuna.Study:
    """The search phase, or its stored study when the phase is not asked for."""
    if "search" not in args.phases:
        return optuna.load_study(study_name=SEARCH, storage=args.storage or default_storage(SEARCH))
    return search.optimize(
        ROOT / "spaces" / "pareto.yaml",
        trials=args.search_trials,
        timeout=args.budget.search_seconds,
        study_name=SEARCH,
        storage=args.storage,
        workers=args.search_workers,
        overrides=_search_overrides(args),
        console=console,
    )


def _refit_plan(args: argparse.Namespace, study: optuna.Study, started: float, console: Console) -> RefitPlan:
    """Each size's epochs within what the budget has left once each design's epoch is timed on the refit's images."""
    refit_data = dataclasses.replace(recorded_data(study.user_attrs), subset=args.refit_subset)
    designs = _designs(study, args)
    train, val, _ = training_indices(refit_data)
    n_train, n_val = len(train), len(val)
    sample_cfgs = {size: _refit_train(d, _refit_overrides(args)) for size, d in designs.items()}
    needed = max(((WARM_BATCHES + TIMED_BATCHES) * cfg.batch_size for cfg in sample_cfgs.values()), default=0)
    sample = load_images(refit_data, train[:needed]).images
    console.print(f"refit: timing each design on {len(sample):,} of its training images", highlight=False)
    epoch = {
        size: pass_cost(Architecture.from_dict(d["architecture"]), sample_cfgs[size], sample).epoch_seconds(
            n_train, n_val, averaged=sample_cfgs[size].ema > 0
        )
        for size, d in designs.items()
    }
    return plan_epochs(
        epoch,
        refit_images=n_train,
        seconds=args.budget.refit_seconds(time.monotonic() - started),
        search_epoch_seconds=_search_epoch_seconds(study, designs),
    )


def _refits(args: argparse.Namespace, study: optuna.Study, started: float, console: Console) -> tuple[list[optuna.Study], RefitPlan | None]:
    """The refit phase's study and its plan, or the stored refits of ``--refit-into`` when the phase is not asked for."""
    if "refit" not in args.phases:
        return [optuna.load_study(study_name=name, storage=args.storage or default_storage(name)) for name in args.refit_into], None
    plan = _refit_plan(args, study, started, console)
    for line in plan.lines():
        console.print(line, highlight=False)
    epochs: int | dict[int, int] = plan.epochs
    if args.refit_epochs:
        epochs = args.refit_epochs[0] if len(args.refit_epochs) == 1 else dict(zip(args.sizes, args.refit_epochs, strict=True))
        console.print(f"refit: --refit-epochs {' '.join(map(str, args.refit_epochs))} instead of the plan's", highlight=False)
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
        overrides=([f"data.subset={args.refit_subset}"] if args.refit_subset else []) + _refit_overrides(args),
        # the plan's epochs can still run long where the machine slows down (it did by 21 min once): each size ends by
        # the budget's end less its reserve, its plan shortened to the epochs that fit, and the report says which
        deadline=max(args.budget.refit_seconds(time.monotonic() - started), 1.0),
        console=console,
    )
    return [refit], plan


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


def _collect(args: argparse.Namespace, study: optuna.Study, refits: list[optuna.Study], plan: RefitPlan | None) -> dict[str, Any]:
    """``flagship.json``'s document but the report's: the machine, what each phase cost and found, the refit's plan."""
    wall = {"search": _wall_seconds(study), "refit": _wall_seconds(*refits)}
    counts = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in (TrialState.COMPLETE, TrialState.PRUNED)}
    epochs = {
        read_trial(t).latent_size: read_trial(t).epochs for r in refits for t in r.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    }
    return {
        "machine": machine(),
        "split": args.split,
        "search": {
            "subset": args.search_subset,
            "epochs_each": args.search_epochs,
            "wall_minutes": wall["search"] / 60,
            "train_hours": compute_hours(study),
            "trials": counts,
            "epochs": int(sum(read_trial(t).epochs for t in study.trials)),
            "hypervolume": study_hypervolume(study),
        },
        "refit": {
            "studies": [r.study_name for r in refits],
            "epochs": epochs,
            "plan": None if plan is None else [dataclasses.asdict(s) for s in plan.sizes],
            "planned_minutes": None if plan is None else plan.planned_seconds / 60,
            "allowed_minutes": None if plan is None else plan.seconds / 60,
            "wall_minutes": wall["refit"] / 60,
            "train_hours": sum(compute_hours(r) for r in refits),
            "hypervolume": study_hypervolume(*refits),
        },
    }


def _wall_words(args: argparse.Namespace, result: dict[str, Any], wall: float) -> str:
    phases = " + ".join(args.phases) or "the report alone"
    within = "within" if wall <= args.budget.minutes * 60 else "OVER"
    return (
        f"Wall time {wall / 60:.1f} min for {phases}, {within} the budget of {args.budget.minutes:g} min "
        f"(search {result['search']['wall_minutes']:.1f} min, refit {result['refit']['wall_minutes']:.1f} min, "
        f"the rest setup and evaluation) on {result['machine'].get('cpu', 'this machine')}."
    )


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = _parse(argv)
    console = Console(width=160)
    for line in _plan_lines(args):
        console.print(line, highlight=False)
    study = _search(args, console)
    refits, plan = _refits(args, study, started, console)
    folder = args.out / "flagship"
    _write_tables(folder, study, refits)
    result = _collect(args, study, refits, plan)
    fit = CodeFit(args.fit_steps, args.fit_lr) if args.fit_steps else None
    if fit is not None and args.originals is not None:
        console.print(f"report: on the originals, also {fit.words()}", highlight=False)
    rows = measure(refits, args.sizes, args.originals, args.storage, fit=fit)
    judged = targets(rows)
    wall = time.monotonic() - started
    cols = columns(refits, args.originals)
    result |= {
        "budget": {"minutes": args.budget.minutes, "wall_minutes": wall / 60, "within": wall <= args.budget.minutes * 60},
        "code_fit": None if fit is None else dataclasses.asdict(fit),
        "columns": [{"key": c.key, "title": c.title, "measured": c.measurement.words()} for c in cols],
        "at_sizes": [r.to_dict() for r in rows],
        "targets": judged,
    }
    path = write_result("flagship", result, folder=args.out)
    report = markdown(rows, cols, judged, _wall_words(args, result, wall), fit)
    (folder / "flagship.md").write_text(report)
    console.print(report, highlight=False, markup=False)
    console.print(f"wrote {path} and {folder}/", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
