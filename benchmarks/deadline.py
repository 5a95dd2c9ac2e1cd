"""What a deadline costs a trial: stopped where it is, or its plan shortened and its learning rate annealed.

    python -m benchmarks.deadline [--size 64] [--epochs 8] [--left 5] [--at 2 4] [--subset 12000]

A run's deadline (``search run --deadline S``) can leave a trial fewer epochs than it planned. The flagship's network of
``--size`` values (its refit's design, started from PCA's code, one-cycle schedule) is trained on the official split
(``--subset`` images in all) in one process, four ways that all end after ``--left`` of ``--epochs`` planned epochs:

- ``stopped``: trained to plan and stopped after epoch ``--left`` (``cae.training.StopTraining``: what a deadline did
  before, its learning rate then still high);
- ``shortened at E``: for each E of ``--at``, told after epoch E that only ``--left`` epochs fit
  (``cae.training.ShortenTraining``: the rate annealed over the epochs left);
- ``planned``: ``--left`` epochs planned from the start (what the budget would have chosen had it known).

Reported: the validation PSNR of the weights kept, each against ``planned``. Writes ``deadline.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import machine, write_result
from benchmarks.levers import design
from benchmarks.networks import FLAGSHIP_SIZES
from cae.data import DataConfig, load_splits
from cae.metrics import psnr
from cae.pca import linear_code, start_from_linear_code
from cae.training import EpochReport, ShortenTraining, StopTraining, train


def raising_after(epoch: int, stop: Exception) -> Callable[[EpochReport], None]:
    """An ``on_epoch`` that raises ``stop`` (a StopTraining or a ShortenTraining) after epoch ``epoch``."""

    def on_epoch(report: EpochReport) -> None:
        if report.epoch == epoch:
            raise stop

    return on_epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.deadline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, choices=FLAGSHIP_SIZES)
    parser.add_argument("--epochs", type=int, default=8, help="the epochs planned (8)")
    parser.add_argument("--left", type=int, default=5, help="the epochs the deadline leaves (5)")
    parser.add_argument("--at", type=int, nargs="+", default=[2, 4], help="the epochs after which the shortened plans learn it (2 4)")
    parser.add_argument("--subset", type=int, default=12000, help="images of the official split, train, val and test together")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    if not 1 <= args.left < args.epochs or not all(1 <= at < args.left for at in args.at):
        parser.error("expected 1 <= --left < --epochs and every --at below --left")
    console = Console(width=140)
    data = load_splits(DataConfig(split="official", subset=args.subset))
    code = linear_code(data.train.images)
    arch, cfg = design(args.size, ["model.blocks=2"])
    cfg = replace(cfg, flip=True)
    ways: list[tuple[str, int, Callable[[EpochReport], None] | None]] = [
        ("stopped", args.epochs, raising_after(args.left, StopTraining(f"stopped after epoch {args.left}"))),
        *(
            (f"shortened at {at}", args.epochs, raising_after(at, ShortenTraining(args.left, f"shortened to {args.left} after epoch {at}")))
            for at in args.at
        ),
        ("planned", args.left, None),
    ]
    rows: list[dict[str, Any]] = []
    for name, epochs, on_epoch in ways:
        _, result = train(arch, data, replace(cfg, epochs=epochs), on_epoch=on_epoch, init=lambda m: start_from_linear_code(m, code))
        rows.append({"way": name, "epochs_trained": len(result.val_mse), "val_psnr": psnr(result.best_val_mse), "val_mse": result.val_mse})
        console.print(f"{name}: {rows[-1]['epochs_trained']} epochs, validation {rows[-1]['val_psnr']:.3f} dB", highlight=False)
    planned = rows[-1]["val_psnr"]
    table = Table(title=f"latent {args.size}: {args.left} of {args.epochs} planned epochs, {len(data.train):,} training images")
    for column in ("way", "epochs", "validation PSNR", "against planned"):
        table.add_column(column, justify="right")
    for row in rows:
        row["against_planned_db"] = row["val_psnr"] - planned
        table.add_row(row["way"], str(row["epochs_trained"]), f"{row['val_psnr']:.3f}", f"{row['against_planned_db']:+.3f}")
    console.print(table)
    settings = {k: getattr(args, k) for k in ("size", "epochs", "left", "at", "subset")}
    path = write_result("deadline", {"machine": machine(), "settings": settings, "rows": rows}, folder=args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
