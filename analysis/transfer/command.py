"""``python -m analysis.transfer``: the command line of both questions."""

from __future__ import annotations

import argparse

from rich.console import Console

from analysis.cli import nonnegative_int, output_dir, print_written, run, study_parser
from analysis.transfer.data import LABELS, SEEDS
from analysis.transfer.front import compute_front
from analysis.transfer.front_report import front_reading, render_front
from analysis.transfer.pretraining import compute
from analysis.transfer.reading import reading
from analysis.transfer.report import render
from analysis.transfer.tables import accuracy_table
from search.command_line import number_flag, positive_int

fraction_flag = number_flag(float, "a fraction of the labels in (0, 1]", maximum=1)


def command(args: argparse.Namespace, console: Console) -> int:
    if args.front:
        front = compute_front(args.study, storage=args.storage, fractions=args.labels, seeds=args.seeds, console=console)
        files = render_front(front, output_dir(args))
        console.print(front.table().round(4).to_string(index=False), highlight=False)
        console.print(front_reading(front), highlight=False)
    else:
        result = compute(args.study, storage=args.storage, trials=args.trial, fractions=args.labels, seeds=args.seeds, console=console)
        files = render(result, output_dir(args))
        for info in result.trials:
            console.print(f"{info.name}, test accuracy (%):", highlight=False)
            console.print(accuracy_table(result, info).to_string(index=False), highlight=False)
            console.print(reading(result, info), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser(
        "python -m analysis.transfer",
        "A trial's encoder as a classifier of the data's classes at several label budgets: frozen (linear, MLP), fine-tuned, against "
        "scratch, PCA and pixels; or, with --front, the frozen probe of every trial against latent size and PSNR.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", type=nonnegative_int, nargs="+", metavar="N", help="the trials to look at (default: the best)")
    which.add_argument("--front", action="store_true", help="the frozen linear probe of every complete trial, with Spearman's ρ")
    parser.add_argument(
        "--labels",
        type=fraction_flag,
        nargs="+",
        default=list(LABELS),
        metavar="F",
        help="fractions of the train split (default 0.01 0.1 1)",
    )
    parser.add_argument("--seeds", type=positive_int, default=SEEDS, metavar="K", help="labelled subsets per fraction below 1 (default 3)")
    return run(command, parser, argv, fractions="--labels", trials="--trial")
