"""What each training option is worth: our epoch with one thing changed at a time, measured side by side.

    python -m benchmarks.options [--images 12000] [--batch 128] [--epochs 4] [--no-compile]

For the reference network, one epoch of :func:`cae.training.fit` on ``--images`` images
(images/s after warm-up batches) with:

- ``precision`` ``fp32`` against ``bf16`` (bfloat16 autocast of the forward pass; ``auto`` picks
  it where the device computes in bfloat16 natively), and ``auto`` as resolved here;
- ``compile``: ``torch.compile`` of the model (its compile time reported apart);
- 1 against the default number of intra-op threads (``torch.set_num_threads``);
- evaluation batches of 256 against 1,000 images (a validation pass over 6,000 images);

and the price of bfloat16: the validation MSE of the same seeded run after ``--epochs`` epochs in
fp32 and in bf16. Results go to ``benchmarks/results/options.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from benchmarks.common import machine, reference_architecture, write_result
from benchmarks.throughput import SEED, chosen_indices, measure_ours
from cae.builder import build
from cae.data import DataConfig, load_images, load_splits
from cae.training import TrainConfig, autocast_dtype, evaluate, resolve_device, train


def time_epoch(arch, images, batch: int, device: torch.device, warmup: int, **options) -> tuple[float, float]:
    """(images/s after the warm-up, seconds of the whole call, compile included) of one epoch of ``fit``."""
    start = time.perf_counter()
    measurement = measure_ours(arch, images, batch, device, warmup, **options)
    return measurement.rate, time.perf_counter() - start


def time_evaluation(arch, images: torch.Tensor, batch: int, repeats: int = 3) -> float:
    """Best seconds of :func:`cae.training.evaluate` over ``images`` in batches of ``batch``."""
    from cae import training

    model = build(arch).to(memory_format=torch.channels_last)
    original = training.EVAL_BATCH
    training.EVAL_BATCH = batch
    try:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            evaluate(model, images)
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        training.EVAL_BATCH = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.options", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="rounds over the variants; the best round counts (default 3)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the fp32 / bf16 accuracy comparison (0: skip it)")
    parser.add_argument("--subset", type=int, default=12000, help="data.subset of the accuracy comparison")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (tens of seconds of compiling)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    args = parser.parse_args(argv)
    console = Console()
    device = resolve_device(args.device)
    arch = reference_architecture()
    images = load_images(DataConfig(), chosen_indices(args.images, 50_000))
    auto = autocast_dtype("auto", device)
    console.print(f"precision auto on {device}: {'bf16' if auto is not None else 'fp32'}", highlight=False)

    variants: dict[str, dict] = {
        "fp32": {"precision": "fp32"},
        "bf16": {"precision": "bf16"},
        "auto": {"precision": "auto"},
    }
    if not args.no_compile:  # two epochs: the second runs compiled code only (the first also compiles the last, smaller batch)
        variants["fp32 + compile"] = {"precision": "fp32", "compile": True, "epochs": 2}
        variants["bf16 + compile"] = {"precision": "bf16", "compile": True, "epochs": 2}
    threads = torch.get_num_threads()
    if device.type == "cpu" and threads > 1:
        variants["auto, 1 thread"] = {"precision": "auto", "threads": 1}
        variants[f"auto, {threads} threads"] = {"precision": "auto", "threads": threads}
    rows: dict[str, dict] = {}
    for round_ in range(args.repeats):  # round-robin, best of the rounds: a busy machine slows some, never speeds any
        for name, options in variants.items():
            options = dict(options)
            torch.set_num_threads(options.pop("threads", threads))
            rate, seconds = time_epoch(arch, images, args.batch, device, args.warmup, **options)
            torch.set_num_threads(threads)
            row = rows.setdefault(name, {"options": variants[name], "images_per_s": 0.0, "rates": [], "call_seconds": seconds})
            row["rates"].append(rate)
            row["images_per_s"] = max(row["rates"])
            console.print(f"  round {round_ + 1}, {name}: {rate:,.0f} images/s ({seconds:.1f} s in all)", highlight=False)
    base = rows["fp32"]["images_per_s"]
    table = Table(title=f"reference network: one epoch of fit, batch {args.batch}, {args.images:,} images, {device}")
    for column in ("variant", "images/s (best round)", "vs fp32", "first call (compile included)"):
        table.add_column(column, justify="right")
    for name, row in rows.items():
        table.add_row(name, f"{row['images_per_s']:,.0f}", f"{row['images_per_s'] / base:.2f}×", f"{row['call_seconds']:.1f} s")
    console.print(table)

    val = images.images[:6000] if len(images) >= 6000 else images.images
    evaluation = {str(b): time_evaluation(arch, val, b) for b in (256, 1000)}
    console.print(
        f"validation pass over {len(val):,} images: {evaluation['256']:.3f} s in batches of 256, "
        f"{evaluation['1000']:.3f} s in batches of 1,000 ({evaluation['1000'] / evaluation['256']:.2f}×)",
        highlight=False,
    )

    accuracy = {}
    if args.epochs:
        data = load_splits(DataConfig(subset=args.subset))
        base_cfg = TrainConfig(epochs=args.epochs, batch_size=64, seed=SEED, device=device.type)
        for precision in ("fp32", "bf16"):
            _, result = train(arch, data, dataclasses.replace(base_cfg, precision=precision))
            accuracy[precision] = {"val_mse": result.val_mse, "test_mse": result.test_mse, "epoch_seconds": result.epoch_seconds}
        change = accuracy["bf16"]["test_mse"] / accuracy["fp32"]["test_mse"] - 1
        accuracy["bf16_test_mse_change"] = change
        console.print(
            f"after {args.epochs} epochs on data.subset={args.subset} (batch 64): test MSE fp32 {accuracy['fp32']['test_mse']:.5f}, "
            f"bf16 {accuracy['bf16']['test_mse']:.5f} ({100 * change:+.1f}%)",
            highlight=False,
        )
    settings = {
        "images": args.images,
        "batch": args.batch,
        "warmup_batches": args.warmup,
        "repeats": args.repeats,
        "accuracy_epochs": args.epochs,
        "accuracy_subset": args.subset,
    }
    path = write_result(
        "options",
        {
            "machine": machine(device),
            "settings": settings,
            "auto_precision": "bf16" if auto is not None else "fp32",
            "epochs": rows,
            "evaluation_seconds": evaluation,
            "accuracy": accuracy,
        },
        folder=args.out,
    )
    console.print(f"written: {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
