"""Images per second of one training epoch: our loop against a bare loop and the tutorial pipeline.

    python -m benchmarks.throughput [--images 12000] [--batches 64 128 256] [--study NAME] [--device auto]
    python -m benchmarks.throughput --networks flagship uva [--precisions fp32 bf16] [--ema 0 0.999] [--threads N] [--name NAME]

Three pipelines train the same network (same seeded initial weights, Adam, lr 1e-3, MSE) on the
same images, at each batch size:

- ``ours``: :func:`cae.training.fit` for one epoch (in-memory uint8 images converted per batch,
  channels-last, whatever else the training loop does);
- ``bare NCHW``: a plain loop over the images preloaded as one float32 N×C×H×W tensor, model in
  the default (NCHW) memory format: what a careful hand-written loop does;
- ``tutorial``: ``DataLoader(ImageFolder(train/, ToTensor + Normalize), shuffle=True,
  num_workers=2)``, as PyTorch's CIFAR-10 tutorial ("Training a Classifier") loads images.

Every measurement trains on ``--images`` images, the first ``--warmup`` batches untimed. The same
run measures the machine's float32 matrix-multiply rate (``torch.mm`` of 2048×2048 matrices) and
counts the network's training FLOPs per image (``FlopCounterMode`` over forward and backward:
convolutions and matrix products only), so that each rate is also a fraction of what the
machine's matmul reaches. Results go to ``benchmarks/results/<--name>.json`` (``throughput``).

With ``--networks flagship uva``, only our loop runs, on the flagship refit's networks and the UvA-sized one, at each
of ``--precisions``, ``--batches`` and ``--ema`` (:mod:`benchmarks.throughput_networks`).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Subset
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import best_architecture, machine, reference_architecture, sync, write_result
from benchmarks.networks import GROUPS, NAMES
from cae.builder import build
from cae.data import DataConfig, ImageSet, Splits, load_images, resolve_root
from cae.spec import Architecture
from cae.training import TrainConfig, autocast_dtype, fit, resolve_device

PIPELINES = ("ours", "bare NCHW", "tutorial")
TUTORIAL_WORKERS = 2  # PyTorch's CIFAR-10 tutorial: DataLoader(..., shuffle=True, num_workers=2)
TUTORIAL_MEAN = TUTORIAL_STD = (0.5, 0.5, 0.5)
LR = 1e-3
SEED = 0


@dataclass(frozen=True)
class Measurement:
    pipeline: str
    batch: int
    images: int  # images timed (those after the warm-up batches)
    seconds: float

    @property
    def rate(self) -> float:
        """Images per second."""
        return self.images / self.seconds


def seeded_model(arch: Architecture, device: torch.device) -> torch.nn.Module:
    """The network with the weights every pipeline starts from."""
    torch.manual_seed(SEED)
    return build(arch).to(device)


def chosen_indices(n_images: int, available: int, seed: int = SEED) -> torch.Tensor:
    """A seeded sample of ``n_images`` indices among the ``available`` training-folder images."""
    return torch.randperm(available, generator=torch.Generator().manual_seed(seed))[:n_images]


def measure_ours(
    arch: Architecture, images: ImageSet, batch: int, device: torch.device, warmup: int, /, *, epochs: int = 1, **options: Any
) -> Measurement:
    """The last of ``epochs`` epochs of :func:`cae.training.fit`, timed from the end of its batch
    ``warmup`` to the end of its last batch; ``options`` are further
    :class:`~cae.training.TrainConfig` fields (``precision="fp32"``; ``lr`` replaces :data:`LR`; ``warmup``, the
    schedule's, is free to pass because the batches' is positional). Two epochs measure a compiled
    model once it has also compiled the epoch's last, smaller batch."""
    if warmup < 1:
        raise ValueError("warmup: expected at least one untimed batch")
    marks: dict[int, float] = {}
    n_batches = math.ceil(len(images) / batch)
    first_timed = (epochs - 1) * n_batches + warmup
    calls = iter(range(1, epochs * n_batches + 1))

    def on_batch(step: int, total: int) -> None:
        call = next(calls)
        if call in (first_timed, epochs * n_batches):
            sync(device)
            marks[call] = time.perf_counter()

    one = ImageSet(images.images[:1], images.labels[:1])  # validation and test: one image, not timed
    data = Splits(images, one, one, classes=(), source="benchmark")
    torch.manual_seed(SEED)
    model = build(arch)
    cfg = TrainConfig(**{"lr": LR, "seed": SEED, **options, "epochs": epochs, "batch_size": batch, "device": device.type})
    fit(model, data, cfg, on_batch=on_batch)
    timed = len(images) - warmup * batch
    return Measurement("ours", batch, timed, marks[epochs * n_batches] - marks[first_timed])


def measure_bare(arch: Architecture, images: torch.Tensor, batch: int, device: torch.device, warmup: int) -> Measurement:
    """A plain loop over preloaded float32 NCHW images: index a batch, forward, MSE, backward, Adam step."""
    x_all = images.to(device).to(torch.float32).div_(255)  # preloaded once, outside the timing
    model = seeded_model(arch, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(SEED)).to(device)
    start = 0.0
    for step, first in enumerate(range(0, len(x_all), batch)):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        x = x_all[order[first : first + batch]]
        loss = F.mse_loss(model(x), x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    return Measurement("bare NCHW", batch, len(x_all) - warmup * batch, time.perf_counter() - start)


def tutorial_dataset(folder: Path, indices: torch.Tensor) -> Subset:
    """``ImageFolder(folder, ToTensor + Normalize)`` restricted to ``indices``: the tutorial's dataset."""
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(TUTORIAL_MEAN, TUTORIAL_STD)])
    return Subset(ImageFolder(str(folder), transform=transform), indices.tolist())


def measure_tutorial(
    arch: Architecture, dataset: Subset, batch: int, device: torch.device, warmup: int, workers: int = TUTORIAL_WORKERS
) -> Measurement:
    """The tutorial loop: a shuffling DataLoader decoding JPEGs in worker processes, NCHW model.

    The model sees the normalised images in [-1, 1] and reconstructs them in [0, 1] (its target
    is the image before ``Normalize``), so it learns what the other pipelines learn.
    """
    model = seeded_model(arch, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(SEED))
    start, seen = 0.0, 0
    for step, (x, _) in enumerate(loader):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        if step >= warmup:
            seen += len(x)
        x = x.to(device)
        loss = F.mse_loss(model(x), x * TUTORIAL_STD[0] + TUTORIAL_MEAN[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    return Measurement("tutorial", batch, seen, time.perf_counter() - start)


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """The machine's matrix-multiply rate in GFLOP/s (``torch.mm`` of two n×n matrices of ``dtype``)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(2):
        torch.mm(a, b, out=out)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b, out=out)
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def training_flops(model: torch.nn.Module, in_channels: int = 3, size: int = 32, batch: int = 4) -> float:
    """FLOPs to train ``model`` on one image: forward, MSE loss and backward, as ``FlopCounterMode``
    counts them (convolutions and matrix products, 2 FLOPs per multiply-add; element-wise work is
    not counted). The input needs no gradient, as in training."""
    x = torch.rand(batch, in_channels, size, size)
    with FlopCounterMode(display=False) as counter:
        out = model(x)
        F.mse_loss(out, torch.rand_like(out)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def check_enough(images: int, warmup: int, batch: int) -> None:
    """Refuse (``SystemExit``) a measurement with no timed part after its warm-up batches."""
    if images < (warmup + 2) * batch:
        raise SystemExit(f"--images {images}: too few for {warmup} warm-up batches of {batch} and a timed part")


def measure_architecture(
    name: str,
    arch: Architecture,
    *,
    images: ImageSet,
    dataset: Subset | None,
    batches: list[int],
    device: torch.device,
    warmup: int,
    workers: int,
    console: Console,
) -> list[Measurement]:
    rows = []
    for batch in batches:
        check_enough(len(images), warmup, batch)
        rows.append(measure_ours(arch, images, batch, device, warmup))
        rows.append(measure_bare(arch, images.images, batch, device, warmup))
        if dataset is not None:
            rows.append(measure_tutorial(arch, dataset, batch, device, warmup, workers))
        done = ", ".join(f"{m.pipeline} {m.rate:,.0f}" for m in rows[-3:] if m.batch == batch)
        console.print(f"  {name}, batch {batch}: {done} images/s", highlight=False)
    return rows


def summarise(measurements: list[Measurement], flops_per_image: float, matmul: float) -> list[dict]:
    """One row per batch size: each pipeline's rate, our ratios to the others, our share of the matmul rate."""
    rows = []
    for batch in sorted({m.batch for m in measurements}):
        rate = {m.pipeline: m.rate for m in measurements if m.batch == batch}
        row: dict = {"batch": batch, **{f"{p} images/s": rate.get(p) for p in PIPELINES}}
        ours = rate["ours"]
        row["ours / bare NCHW"] = ours / rate["bare NCHW"]
        row["ours / tutorial"] = ours / rate["tutorial"] if "tutorial" in rate else None
        row["ours GFLOP/s"] = ours * flops_per_image / 1e9
        row["ours share of matmul rate"] = ours * flops_per_image / 1e9 / matmul
        rows.append(row)
    return rows


def table(title: str, rows: list[dict]) -> Table:
    caption = "images per second; ratios: ours ÷ the other pipeline; GFLOP/s from the counted FLOPs, against the fp32 matmul"
    out = Table(title=title, caption=caption)
    for column in ("batch", *PIPELINES, "÷ bare", "÷ tutorial", "GFLOP/s", "of matmul"):
        out.add_column(column, justify="right")

    def cell(value: float | None, spec: str, unit: str = "") -> str:
        return "–" if value is None else format(value, spec) + unit

    for row in rows:
        out.add_row(
            str(row["batch"]),
            *(cell(row[f"{p} images/s"], ",.0f") for p in PIPELINES),
            cell(row["ours / bare NCHW"], ".2f", "×"),
            cell(row["ours / tutorial"], ".2f", "×"),
            cell(row["ours GFLOP/s"], ".1f"),
            cell(None if row["ours share of matmul rate"] is None else 100 * row["ours share of matmul rate"], ".1f", "%"),
        )
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=12000, help="images per measurement (default 12000)")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches at the start of each measurement (default 5)")
    parser.add_argument("--study", help="also measure the best architecture of this study")
    parser.add_argument("--storage", help="the study's storage (default sqlite:///studies/<study>.db)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--tutorial-workers", type=int, default=TUTORIAL_WORKERS, help="DataLoader workers of the tutorial pipeline (2)")
    parser.add_argument("--no-tutorial", action="store_true", help="skip the tutorial pipeline")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n×n matrices of the matmul rate (2048)")
    parser.add_argument(
        "--networks", nargs="+", metavar="NAME", help=f"measure only our loop, on these networks ({', '.join((*GROUPS, *NAMES))})"
    )
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"), default=["fp32", "bf16"], help="with --networks (both)")
    parser.add_argument("--ema", type=float, nargs="+", default=[0.0], metavar="DECAY", help="with --networks: train.ema values (0: off)")
    parser.add_argument("--threads", type=int, help="torch threads for the whole run (default: torch's)")
    parser.add_argument("--name", default="throughput", help="the result file's name (default throughput)")
    parser.add_argument("--out", type=Path, help="folder of the result file (default benchmarks/results)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from benchmarks import throughput_networks  # it times with this module's functions

    args = _parser().parse_args(argv)
    console = Console()
    device = resolve_device(args.device)
    threads = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        payload = throughput_networks.run(args, device, console) if args.networks else _pipelines(args, device, console)
        path = write_result(args.name, payload, folder=args.out)
    finally:
        torch.set_num_threads(threads)  # main runs in-process too (tests): the caller's threads stay its own
    console.print(f"written: {path}", highlight=False)
    return 0


def sampled_images(n_images: int, folder: Path) -> tuple[ImageSet, torch.Tensor]:
    """``n_images`` seeded training images (:func:`chosen_indices` among ``folder``'s, or CIFAR-10's 50,000) and their indices."""
    n_available = sum(1 for _ in folder.glob("*/*")) if folder.is_dir() else 50_000
    indices = chosen_indices(n_images, n_available)
    return load_images(DataConfig(), indices), indices  # the source's train/ part comes first: the same files


def _pipelines(args: argparse.Namespace, device: torch.device, console: Console) -> dict[str, Any]:
    """Without ``--networks``: the reference network (and ``--study``'s best) through all three pipelines."""
    folder = resolve_root(None) / "train"
    if not args.no_tutorial and not folder.is_dir():
        raise SystemExit(f"{folder}: the tutorial pipeline needs CIFAR-10 as class folders there (set CAE_DATA_DIR), or --no-tutorial")
    architectures = {"reference": reference_architecture()}
    if args.study:
        architectures[f"best of {args.study}"] = best_architecture(args.study, args.storage)

    images, indices = sampled_images(args.images, folder)
    dataset = None if args.no_tutorial else tutorial_dataset(folder, indices)
    console.print(f"measuring the float32 matmul rate on {device} …")
    matmul = matmul_gflops(device, n=args.matmul_size)
    matmul_bf16 = matmul_gflops(device, n=args.matmul_size, dtype=torch.bfloat16)
    amp = autocast_dtype("auto", device)
    console.print(
        f"matmul (torch.mm {args.matmul_size}×{args.matmul_size}): float32 {matmul:,.1f} GFLOP/s, bfloat16 {matmul_bf16:,.1f} GFLOP/s; "
        f"our loop's forward pass runs in {'bfloat16' if amp is not None else 'float32'} here (precision: auto), "
        "and its share is of the float32 rate",
        highlight=False,
    )

    results = {}
    for name, arch in architectures.items():
        flops = training_flops(build(arch))
        console.print(f"{name}: {arch.n_params:,} parameters, {flops / 1e6:,.2f} MFLOP to train on one image", highlight=False)
        measurements = measure_architecture(
            name,
            arch,
            images=images,
            dataset=dataset,
            batches=args.batches,
            device=device,
            warmup=args.warmup,
            workers=args.tutorial_workers,
            console=console,
        )
        rows = summarise(measurements, flops, matmul)
        console.print(table(f"{name}: images/s of one training epoch ({args.images:,} images, {device})", rows))
        results[name] = {
            "architecture": arch.to_dict(),
            "n_params": arch.n_params,
            "training_flops_per_image": flops,
            "measurements": [asdict(m) | {"rate": m.rate} for m in measurements],
            "rows": rows,
        }
    reference_128 = next((r for r in results["reference"]["rows"] if r["batch"] == 128), None)
    targets = {}
    if reference_128:
        targets = {
            "ours / bare NCHW at batch 128 ≥ 1.5": reference_128["ours / bare NCHW"] >= 1.5,
            "ours / tutorial at batch 128 ≥ 3.5": None
            if reference_128["ours / tutorial"] is None
            else reference_128["ours / tutorial"] >= 3.5,
        }
        console.print(
            "targets: " + ", ".join(f"{k}: {'met' if v else 'not met' if v is False else 'not measured'}" for k, v in targets.items())
        )
    settings = {
        "images": args.images,
        "batches": args.batches,
        "warmup_batches": args.warmup,
        "tutorial_workers": None if args.no_tutorial else args.tutorial_workers,
        "lr": LR,
        "optimizer": "adam",
    }
    return {
        "machine": machine(device),
        "settings": settings,
        "matmul_gflops": matmul,
        "matmul_gflops_bf16": matmul_bf16,
        "ours_forward_precision": "bf16" if amp is not None else "fp32",
        "architectures": results,
        "targets": targets,
    }


if __name__ == "__main__":
    raise SystemExit(main())
