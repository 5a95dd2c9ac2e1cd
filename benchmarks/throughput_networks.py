"""``python -m benchmarks.throughput --networks``: our training loop alone on named networks (:mod:`benchmarks.networks`),
at each precision, batch size and ``train.ema``, each rate a share of this run's matrix-multiply rate in its precision.

Every network trains with its space's own settings (optimizer, schedule, learning rate, loss) for one epoch of
``--images`` images, timed as :func:`benchmarks.throughput.measure_ours` times it (from seeded weights, not from
PCA's code as a ``linear_skip`` trial starts: the same work per step). bfloat16 is measured only where
the device has it natively (a GPU that says so, a CPU with AVX512-BF16 or AMX); elsewhere the run says it was skipped.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import asdict
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from benchmarks.common import ROOT, machine
from benchmarks.networks import Network, networks
from benchmarks.throughput import check_enough, matmul_gflops, measure_ours, sampled_images, training_flops
from cae.builder import build
from cae.data import ImageSet, resolve_root
from cae.training import TrainConfig, cpu_has_native_bf16

PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# a network's own training settings; epochs, batch, precision and ema are the benchmark's
SPACE_TRAINING = ("lr", "optimizer", "schedule", "warmup", "weight_decay", "momentum", "loss")


def loop_options(network: Network, precision: str, ema: float) -> dict[str, Any]:
    """The :class:`~cae.training.TrainConfig` fields that train ``network`` as its space does, in ``precision``, with ``ema``."""
    train = asdict(network.config.train)
    # ema 0 is TrainConfig's default (no average): left out, the "before" run trains exactly as the loop did without it
    return {key: train[key] for key in SPACE_TRAINING} | {"precision": precision} | ({"ema": ema} if ema else {})


def bf16_missing(device: torch.device) -> str | None:
    """Why ``device`` does not train in bfloat16 (emulated, it is slower than float32), or ``None`` where it does natively."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else f"{torch.cuda.get_device_name(device)} has no native bfloat16"
    return None if cpu_has_native_bf16() else "this CPU has no native bfloat16 (neither AVX512-BF16 nor AMX)"


def measure_networks(
    chosen: list[Network],
    *,
    images: ImageSet,
    batches: list[int],
    precisions: list[str],
    emas: list[float],
    device: torch.device,
    warmup: int,
    matmul: dict[str, float],
    console: Console,
) -> tuple[dict[str, dict], list[dict]]:
    """Each network described, and one row per network × precision × batch × ema: our loop's rate and its share of
    ``matmul[precision]`` (GFLOP/s)."""
    described, rows = {}, []
    for network in chosen:
        arch = network.config.architecture
        flops = training_flops(build(arch))
        described[network.name] = {
            "space": str(network.space.relative_to(ROOT)),
            "params": network.params,
            "architecture": arch.to_dict(),
            "n_params": arch.n_params,
            "latent_size": arch.latent_size,
            "training_flops_per_image": flops,
        }
        console.print(f"{network.name}: {arch.n_params:,} parameters, {flops / 1e6:,.2f} MFLOP to train on one image", highlight=False)
        for precision, batch, ema in itertools.product(precisions, batches, emas):
            check_enough(len(images), warmup, batch)
            measured = measure_ours(arch, images, batch, device, warmup, **loop_options(network, precision, ema))
            achieved = measured.rate * flops / 1e9
            row = {"network": network.name, "precision": precision, "batch": batch, "ema": ema, "images/s": measured.rate}
            rows.append(
                row
                | {"GFLOP/s": achieved, "share of matmul rate": achieved / matmul[precision], "training FLOPs per image": flops}
                | {"timed images": measured.images, "seconds": measured.seconds}
            )
            console.print(f"  {network.name}, {precision}, batch {batch}, ema {ema:g}: {measured.rate:,.0f} images/s", highlight=False)
    return described, rows


def networks_table(title: str, rows: list[dict]) -> Table:
    out = Table(title=title, caption="share: of this run's torch.mm rate in the loop's precision; FLOPs: convolutions and matrix products")
    for column in ("network", "precision", "batch", "ema", "images/s", "GFLOP/s", "of matmul", "MFLOP/image"):
        out.add_column(column, justify="left" if column == "network" else "right", no_wrap=True)
    for row in rows:
        out.add_row(
            row["network"],
            row["precision"],
            str(row["batch"]),
            format(row["ema"], "g"),
            format(row["images/s"], ",.0f"),
            format(row["GFLOP/s"], ".1f"),
            format(100 * row["share of matmul rate"], ".1f") + "%",
            format(row["training FLOPs per image"] / 1e6, ",.2f"),
        )
    return out


def run(args: argparse.Namespace, device: torch.device, console: Console) -> dict[str, Any]:
    """``--networks``: our loop alone on each network, precision, batch and ema; each rate a share of the matmul rate in its precision."""
    try:
        chosen = networks(args.networks)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    try:  # a bad --ema is refused before minutes of measuring
        for network, precision, ema in itertools.product(chosen, args.precisions, args.ema):
            TrainConfig(**loop_options(network, precision, ema))
    except ValueError as error:
        raise SystemExit(f"--ema: {error}") from None
    missing = bf16_missing(device) if "bf16" in args.precisions else None
    precisions = [p for p in args.precisions if not (p == "bf16" and missing)]
    if missing:
        console.print(f"bf16 skipped: {missing}", highlight=False)
    images, _ = sampled_images(args.images, resolve_root(None) / "train")
    console.print(f"measuring the matmul rates on {device} with {torch.get_num_threads()} threads …", highlight=False)
    matmul = {p: matmul_gflops(device, n=args.matmul_size, dtype=PRECISION_DTYPES[p]) for p in precisions}
    console.print(
        f"matmul (torch.mm {args.matmul_size}×{args.matmul_size}): " + ", ".join(f"{p} {v:,.1f} GFLOP/s" for p, v in matmul.items()),
        highlight=False,
    )
    described, rows = measure_networks(
        chosen,
        images=images,
        batches=args.batches,
        precisions=precisions,
        emas=args.ema,
        device=device,
        warmup=args.warmup,
        matmul=matmul,
        console=console,
    )
    console.print(networks_table(f"our loop's images/s ({args.images:,} images, {device}, {torch.get_num_threads()} threads)", rows))
    settings = {
        "images": args.images,
        "batches": args.batches,
        "warmup_batches": args.warmup,
        "networks": args.networks,
        "precisions": args.precisions,
        "ema": args.ema,
        "threads": torch.get_num_threads(),
        "matmul_size": args.matmul_size,
    }
    skipped = {"bf16": missing} if missing else {}
    return {
        "machine": machine(device),
        "settings": settings,
        "matmul_gflops": matmul,
        "networks": described,
        "rows": rows,
        "skipped": skipped,
    }
