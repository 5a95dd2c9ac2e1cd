"""The flagship's levers, each measured against the refit as it trains today, in one process on the same images.

    python -m benchmarks.levers [--sizes 64 256] [--epochs 8] [--subset 24000] [--levers base wide fp32 batch256 lr_low]

Each size's network is the design the 95-minute flagship run refitted there (``spaces/pareto.yaml`` with that
search trial's parameters, built at exactly the size: :func:`benchmarks.networks.flagship`), trained on the official split
of the JPEG export (``--subset`` images in all, the 846 original-pixel test images never among them) from PCA's code,
as a refit trains it. Every lever is one change to that training:

- ``base``: the refit as it is (``precision: auto``, batch 128, one-cycle), with ``train.ema`` on, so that the same run
  validates both the trained weights and their average: the averaging lever, measured without a second run;
- ``wide``: every hidden convolution's channels × ``--width`` (the vocabulary the searched design lacked);
- ``fp32``: the forward pass in float32 where ``auto`` chose bfloat16 (what bfloat16 costs in dB);
- ``batch256``: batch 256 at the learning rate × √2;
- ``lr_low`` and ``lr_high``: the learning rate ÷ and × ``--lr-factor`` (3): the search chose it from 2-epoch trials,
  near the low end of its range, and a refit trains 25 to 70 epochs;
- ``latent32``: the encoder's last convolution 32 channels instead of 8 (``model.latent_channels``): its nonlinear path
  reaches the dense code through 4 × 4 × 8 = 128 values, fewer than a 256-value code holds;
- ``blocks2``: two convolutions per stage (``model.blocks``), deeper at every resolution; ``blocks3`` three;
- ``residual2``: three convolutions per stage as ``blocks3``, the last two a residual block (``model.residual``);
- ``flip``: a random half of every training batch mirrored left to right (``train.flip``).

``--space-set`` changes every lever's design alike (``model.blocks=2``: the levers of the flagship's networks as
it searches them now).

Reported per size and lever: validation PSNR of the trained weights and of their average at the last epoch, PSNR
of the kept weights on the original-pixel test images, seconds per epoch, and each one's difference from ``base``.
Timings are those of this process, one lever after another on the same cores: run it with nothing else running.
Results go to ``benchmarks/results/levers.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from benchmarks.common import ROOT, machine, write_result
from benchmarks.networks import FLAGSHIP_SIZES, PARETO_SPACE, flagship, space_config
from cae.data import DataConfig, load_splits, open_source
from cae.metrics import psnr
from cae.pca import linear_code, start_from_linear_code
from cae.settings import TrainConfig
from cae.spec import Architecture, at_latent_size, widen
from cae.training import evaluate, train
from search.evaluation import images_config

LEVERS = ("base", "wide", "fp32", "batch256", "lr_low", "lr_high", "latent32", "blocks2", "blocks3", "residual2", "flip")
# the levers that are a change to the space: its overrides
SPACE_LEVERS = {
    "latent32": ["model.latent_channels=32"],
    "blocks2": ["model.blocks=2"],
    "blocks3": ["model.blocks=3"],
    "residual2": ["model.blocks=2", "model.residual=true"],
}
ORIGINALS = ROOT.parent / "shared" / "data" / "cifar10-original-sample" / "test"
EMA = 0.999


def design(size: int, more: Sequence[str] = ()) -> tuple[Architecture, TrainConfig]:
    """The flagship refit's network and training at ``size`` values (:func:`benchmarks.networks.flagship`), with ``more``
    overrides of ``spaces/pareto.yaml``."""
    config = space_config(PARETO_SPACE, flagship(size).params, more)
    return at_latent_size(config.architecture, size), config.train


def lever(name: str, arch: Architecture, cfg: TrainConfig, width: float, lr_factor: float = 3.0) -> tuple[Architecture, TrainConfig]:
    """``arch`` and ``cfg`` with lever ``name`` pulled (the base keeps both, averaging on)."""
    cfg = replace(cfg, ema=EMA)
    if name == "wide":
        return widen(arch, width), cfg
    if name == "fp32":
        return arch, replace(cfg, precision="fp32")
    if name == "batch256":
        return arch, replace(cfg, batch_size=256, lr=cfg.lr * math.sqrt(2))
    if name == "flip":
        return arch, replace(cfg, flip=True)
    if name in ("lr_low", "lr_high"):
        return arch, replace(cfg, lr=cfg.lr / lr_factor if name == "lr_low" else cfg.lr * lr_factor)
    if name == "base" or name in SPACE_LEVERS:
        return arch, cfg
    raise ValueError(f"--levers: expected some of {', '.join(LEVERS)}, got {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.levers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], choices=FLAGSHIP_SIZES)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--subset", type=int, default=24000, help="images of the official split, train, val and test together")
    parser.add_argument("--levers", nargs="+", default=list(LEVERS), choices=LEVERS)
    parser.add_argument("--width", type=float, default=1.5, help="the wide lever's factor on every hidden convolution (1.5)")
    parser.add_argument("--lr-factor", type=float, default=3.0, help="lr_low divides the learning rate by it, lr_high multiplies (3)")
    parser.add_argument("--space-set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides of every lever's design")
    parser.add_argument("--originals", type=Path, default=ORIGINALS)
    parser.add_argument("--name", default="levers", help="the result file's name (default levers)")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    console = Console(width=160)

    data = load_splits(DataConfig(split="official", subset=args.subset))
    originals_cfg = images_config(args.originals, DataConfig())
    source = open_source(originals_cfg)
    originals = source.read(torch.arange(source.n))[0]
    code = linear_code(data.train.images)
    console.print(
        f"{len(data.train):,} training, {len(data.val):,} validation images (official split, JPEG export); "
        f"{len(originals):,} original-pixel test images; {args.epochs} epochs each",
        highlight=False,
    )
    settings = {
        "epochs": args.epochs,
        "subset": args.subset,
        "width": args.width,
        "lr_factor": args.lr_factor,
        "space_set": args.space_set,
        "ema": EMA,
        "train_images": len(data.train),
    }
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for name in args.levers:
            arch, cfg = design(size, [*args.space_set, *SPACE_LEVERS.get(name, ())])
            pulled, pulled_cfg = lever(name, arch, replace(cfg, epochs=args.epochs), args.width, args.lr_factor)
            started = time.perf_counter()
            model, result = train(pulled, data, pulled_cfg, init=lambda m: start_from_linear_code(m, code))
            rows.append(
                {
                    "latent": size,
                    "lever": name,
                    "n_params": pulled.n_params,
                    "precision": result.precision,
                    "batch": pulled_cfg.batch_size,
                    "lr": pulled_cfg.lr,
                    "epoch_seconds": sum(result.epoch_seconds) / len(result.epoch_seconds),
                    "wall_seconds": time.perf_counter() - started,
                    "val_psnr_trained": psnr(result.raw_val_mse[-1]),
                    "val_psnr_average": psnr(result.val_mse[-1]),
                    "originals_psnr": psnr(evaluate(model, originals)),
                    "val_mse_trained": result.raw_val_mse,
                    "val_mse_average": result.val_mse,
                }
            )
            row = rows[-1]
            # written after every lever, so that a long run stopped part-way keeps what it measured
            write_result(args.name, {"machine": machine(), "settings": settings, "rows": rows}, folder=args.out)
            console.print(
                f"latent {size} {name:9s}: val {row['val_psnr_trained']:.3f} dB trained, {row['val_psnr_average']:.3f} averaged; "
                f"originals {row['originals_psnr']:.3f} dB; {row['epoch_seconds']:.1f} s/epoch",
                highlight=False,
            )
    base = {r["latent"]: r for r in rows if r["lever"] == "base"}
    for r in rows:
        b = base.get(r["latent"])
        r["vs_base"] = (
            None
            if b is None
            else {
                "val_db": r["val_psnr_average"] - b["val_psnr_average"],
                "originals_db": r["originals_psnr"] - b["originals_psnr"],
                "epoch_time_ratio": r["epoch_seconds"] / b["epoch_seconds"],
            }
        )
    table = Table(title=f"levers at {args.epochs} epochs on {len(data.train):,} images (vs base: the refit as it trains today)")
    for column in (
        "latent",
        "lever",
        "params",
        "val trained",
        "val averaged",
        "averaging gain",
        "originals",
        "vs base",
        "s/epoch",
        "× time",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        vs = r["vs_base"] or {}
        table.add_row(
            str(r["latent"]),
            r["lever"],
            f"{r['n_params']:,}",
            f"{r['val_psnr_trained']:.3f}",
            f"{r['val_psnr_average']:.3f}",
            f"{r['val_psnr_average'] - r['val_psnr_trained']:+.3f}",
            f"{r['originals_psnr']:.3f}",
            f"{vs.get('originals_db', math.nan):+.3f}",
            f"{r['epoch_seconds']:.1f}",
            f"{vs.get('epoch_time_ratio', math.nan):.2f}",
        )
    console.print(table)
    path = write_result(args.name, {"machine": machine(), "settings": settings, "rows": rows}, folder=args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
