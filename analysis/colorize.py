"""The best reconstruction network, reborn as a colorizer: gray in, colour out.

    python -m analysis.colorize --study recon [--epochs N] [--subset N] [--improve l1 wider longer] [--out DIR]

Starts from the study's best trial (architecture, training settings and data, see
:mod:`search.start`) with a 1-channel gray input (BT.601 luma) and trains:

- (a) gray → RGB directly;
- (b) gray → chrominance (Cb, Cr), merged with the input's own luma into the RGB image;
- improvements of (b), chosen with ``--improve`` (default ``l1``): ``l1`` (mean absolute error
  instead of MSE, which averages plausible colours into gray), ``wider`` (every hidden layer × 2),
  ``deeper`` (one more down-sampling stage: about twice the context), ``longer`` (three times the
  epochs).

Each is measured on the test split against the "gray stays gray" baseline (MSE, PSNR, how much of
the error is brightness) and by how colourful its pictures are against the truth (Hasler and
Süsstrunk's colourfulness, HSV saturation). Writes ``colorize.csv``, ``colorize.png`` (16 test
images: gray | (a) | (b) | improvements | truth), ``colorize.md`` and each model's weights.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analysis.cli import output_dir, print_written, run, study_parser
from cae.builder import CAE
from cae.checkpoint import save_checkpoint
from cae.color import colorfulness, gray_as_rgb, luma, saturation
from cae.data import Splits, load_splits
from cae.figures import save_image_rows
from cae.spec import Architecture, deepen, widen
from cae.summary import summary_text
from cae.tasks import TASKS, adapt
from cae.training import EpochReport, TrainConfig, TrainResult, psnr, reconstruct, to_unit, train
from search.cli import positive_int
from search.start import best_start

GRID_IMAGES = 16


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    task: str
    loss: str = "mse"
    width: float = 1.0
    epochs_factor: int = 1
    deeper: bool = False


VARIANTS = (
    Variant("a", "(a) gray → RGB", "colorization"),
    Variant("b", "(b) gray → chroma", "colorization_chroma"),
)
IMPROVEMENTS = {
    "l1": Variant("l1", "(b) with L1 loss", "colorization_chroma", loss="l1"),
    "wider": Variant("wider", "(b), channels × 2", "colorization_chroma", width=2.0),
    "deeper": Variant("deeper", "(b), one more stage", "colorization_chroma", deeper=True),
    "longer": Variant("longer", "(b), 3 × epochs", "colorization_chroma", epochs_factor=3),
}


@dataclass(frozen=True)
class Measured:
    """What one colorization (or the gray baseline) achieves on the test split."""

    label: str
    mse: float
    luma_mse: float  # the part of the error that is brightness
    colorfulness: float
    saturation: float
    epochs: int = 0
    best_epoch: int = 0  # the weights kept: those of the best validation epoch
    seconds: float = 0.0
    n_params: int = 0

    @property
    def psnr(self) -> float:
        return psnr(self.mse)


def measure(label: str, predicted: torch.Tensor, truth: torch.Tensor, **extra: float) -> Measured:
    """Errors and colourfulness of RGB ``predicted`` against ``truth`` (floats in [0, 1])."""
    return Measured(
        label,
        mse=F.mse_loss(predicted, truth).item(),
        luma_mse=F.mse_loss(luma(predicted), luma(truth)).item(),
        colorfulness=colorfulness(predicted).mean().item(),
        saturation=saturation(predicted).mean().item(),
        **extra,
    )


def variant_architecture(start: Architecture, variant: Variant) -> Architecture:
    arch = deepen(start) if variant.deeper else start
    return adapt(widen(arch, variant.width), TASKS[variant.task])


def _train(variant: Variant, arch: Architecture, data: Splits, cfg: TrainConfig, progress: Progress) -> tuple[CAE, TrainResult]:
    bar = progress.add_task(variant.label, total=cfg.epochs, status="")

    def on_epoch(report: EpochReport) -> None:
        status = f"val MSE {report.val_mse:.5f}"
        progress.update(bar, advance=1, status=status)
        if not progress.console.is_terminal:  # logs get a line per epoch instead of a redrawn bar
            progress.console.print(f"  {variant.label} epoch {report.epoch}/{report.epochs} · {status} · {report.seconds:.1f} s")

    return train(arch, data, cfg, on_epoch=on_epoch)


# ---------------------------------------------------------------- report


def results_table(rows: list[Measured], truth: Measured, baseline: Measured) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "variant": r.label,
                "test MSE": round(r.mse, 5) if r is not truth else "—",
                "PSNR dB": round(r.psnr, 2) if r is not truth else "—",
                "vs gray dB": round(r.psnr - baseline.psnr, 2) if r is not truth else "—",
                "brightness share of error": f"{r.luma_mse / r.mse:.0%}" if r.mse > 0 else "—",
                "colourfulness": round(r.colorfulness, 4),
                "vs truth": f"{r.colorfulness / truth.colorfulness:.0%}",
                "saturation": round(r.saturation, 3),
                "epochs": r.epochs,
                "best epoch": r.best_epoch,
                "train s": round(r.seconds),
                "parameters": r.n_params,
            }
            for r in [baseline, *rows, truth]
        ]
    )


REASONS = {
    "l1": "L1's minimiser is a median rather than a mean, which should average less",
    "wider": "more capacity",
    "deeper": "each latent value sees about twice as far",
    "longer": "four epochs are far from converged",
}


def _verdict(row: Measured, b: Measured, truth: Measured, reason: str) -> str:
    gain = row.psnr - b.psnr
    vivid = row.colorfulness / truth.colorfulness - b.colorfulness / truth.colorfulness
    outcome = "helped" if gain > 0.05 else "hurt" if gain < -0.05 else "did not change the error"
    return (
        f"- **{row.label}** (why: {reason}): {row.psnr:.2f} dB, {gain:+.2f} dB against (b), so it {outcome}; colourfulness "
        f"{row.colorfulness / truth.colorfulness:.0%} of the truth ({vivid * 100:+.0f} points against (b)), "
        f"{row.n_params:,} parameters, {row.epochs} epochs (best validation epoch {row.best_epoch}), {row.seconds:.0f} s of training."
    )


def _shortcomings(start: Architecture, rows: dict[str, Measured], truth: Measured, baseline: Measured) -> list[str]:
    a, b = rows["a"], rows["b"]
    field = start.receptive_field
    latent = "×".join(map(str, start.latent_shape))
    context = (
        f"- **Little context.** Each latent value of this architecture sees {field}×{field} input pixels "
        f"(the latent map is {latent}). A reconstruction network can copy pixels through a wide bottleneck without "
        "context; knowing that a blue region is sky or that grass is green needs most of the 32×32 image."
        if field < start.image_size
        else f"- **Context is there.** Each latent value sees {field}×{field} input pixels, the whole image, so the "
        f"limit is what the bottleneck ({latent}) can carry, not what the encoder can see."
    )
    lines = [
        f"- **Colours wash out.** (b) kept the weights of epoch {b.best_epoch} of {b.epochs}. The MSE-trained chroma "
        f"model's pictures have {b.colorfulness / truth.colorfulness:.0%} of "
        f"the colourfulness of the truth ({b.colorfulness:.3f} against {truth.colorfulness:.3f}; saturation "
        f"{b.saturation:.3f} against {truth.saturation:.3f}). A gray car may be red or blue: the colour that minimises "
        "the squared error over both is their mean, a muddy brown-gray. That is the loss, not a bug; losses that do "
        "not average the plausible colours (classification over colour bins, adversarial losses) are the known remedy.",
        context,
        f"- **(a) must also carry the brightness.** {a.luma_mse / a.mse:.0%} of the gray → RGB model's error is "
        f"brightness ({a.luma_mse:.5f} of {a.mse:.5f}), which the input already held exactly; predicting chroma only "
        f"leaves brightness untouched ({b.luma_mse:.5f}, clamping alone) and spends the network on colour.",
        f"- **The gray image is already close.** Gray stays gray scores {baseline.psnr:.2f} dB: CIFAR-10 photographs are "
        "mostly low-saturation, so every colorizer gains little PSNR even when its colours look plausible, and PSNR "
        "rewards timid colours. The colourfulness columns say what PSNR does not.",
    ]
    return lines


def report(
    study: str,
    origin: str,
    data: Splits,
    cfg: TrainConfig,
    rows: dict[str, Measured],
    truth: Measured,
    baseline: Measured,
    start: Architecture,
    files: dict[str, Path],
) -> str:
    table = results_table(list(rows.values()), truth, baseline)
    a, b = rows["a"], rows["b"]
    verdict = [
        f"- (a) gray → RGB: {a.psnr:.2f} dB, {a.psnr - baseline.psnr:+.2f} dB against gray stays gray "
        f"({'better' if a.mse < baseline.mse else 'worse'}).",
        f"- (b) gray → chroma: {b.psnr:.2f} dB, {b.psnr - baseline.psnr:+.2f} dB against gray stays gray "
        f"({'better' if b.mse < baseline.mse else 'worse'}), {b.psnr - a.psnr:+.2f} dB against (a).",
    ]
    improvements = [k for k in rows if k not in ("a", "b")]
    tried = [_verdict(rows[k], b, truth, REASONS[k]) for k in improvements]
    return "\n".join(
        [
            f"# Colorization from study `{study}`",
            "",
            f"Starting point: {origin} (below), its training settings ({cfg.optimizer}, lr {cfg.lr:g}, batch {cfg.batch_size}, "
            f"{cfg.epochs} epochs) and data: {data.source}, {len(data.train):,} train / {len(data.val):,} val / "
            f"{len(data.test):,} test images. Input: BT.601 luma of each image, one channel. Errors on the test split, "
            "RGB pixels in [0, 1].",
            "",
            "```text",
            summary_text(start, title="starting architecture"),
            "```",
            "",
            "## Results",
            "",
            table.to_markdown(index=False),
            "",
            *verdict,
            "",
            f"![gray, colorizations and truth]({files['png'].name})",
            "",
            "## Shortcomings of the network for this task",
            "",
            *_shortcomings(start, rows, truth, baseline),
            "",
            "## Improvements tried",
            "",
            *(tried or ["- none (ask with --improve l1 wider longer)"]),
            "",
        ]
    )


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    start = best_start(args.study, args.storage)
    data_cfg = dataclasses.replace(start.data, subset=args.subset) if args.subset else start.data
    cfg = TrainConfig(**start.train)
    cfg = dataclasses.replace(cfg, epochs=args.epochs or cfg.epochs)
    variants = [*VARIANTS, *(IMPROVEMENTS[k] for k in dict.fromkeys(args.improve))]
    console.print(f"colorizing from {start.origin}: {len(variants)} models of {cfg.epochs} epochs or more", highlight=False)
    data = load_splits(data_cfg)
    out = output_dir(args)
    files = {"csv": out / "colorize.csv", "png": out / "colorize.png", "md": out / "colorize.md"}
    truth_images = to_unit(data.test.images).contiguous()
    truth = measure("truth", truth_images, truth_images)
    baseline = measure("gray stays gray", gray_as_rgb(truth_images), truth_images)
    rows: dict[str, Measured] = {}
    pictures = {"gray": gray_as_rgb(truth_images[:GRID_IMAGES])}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    columns += (TextColumn("{task.fields[status]}"),)
    with Progress(*columns, console=console) as progress:
        for variant in variants:
            arch = variant_architecture(start.architecture, variant)
            run_cfg = dataclasses.replace(cfg, loss=variant.loss, epochs=cfg.epochs * variant.epochs_factor)
            model, result = _train(variant, arch, data, run_cfg, progress)
            predicted = reconstruct(model, data.test.images).cpu().contiguous()
            seconds = sum(result.epoch_seconds)
            extra = {"epochs": run_cfg.epochs, "best_epoch": result.best_epoch, "seconds": seconds, "n_params": arch.n_params}
            rows[variant.key] = measure(variant.label, predicted, truth_images, **extra)
            pictures[variant.label] = predicted[:GRID_IMAGES]
            save_checkpoint(model, out / f"colorize-{variant.key}.pt")
    pictures["truth"] = truth_images[:GRID_IMAGES]
    table = results_table(list(rows.values()), truth, baseline)
    table.to_csv(files["csv"], index=False)
    save_image_rows(pictures, files["png"], title=f"colorization from {start.origin}: test images")
    files["md"].write_text(report(args.study, start.origin, data, cfg, rows, truth, baseline, start.architecture, files))
    console.print(table.to_string(index=False), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m analysis.colorize", "Train colorizers from a study's best reconstruction network.")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="epochs of (a) and (b) (default: the best trial's)")
    parser.add_argument("--subset", type=positive_int, metavar="N", help="images to split 80/10/10 (default: the study's data)")
    parser.add_argument(
        "--improve",
        nargs="*",
        choices=list(IMPROVEMENTS),
        default=["l1"],
        metavar="WAY",
        help=f"improvements of (b) to try: {', '.join(IMPROVEMENTS)} (default l1)",
    )
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
