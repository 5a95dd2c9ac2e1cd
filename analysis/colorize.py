"""A study's reconstruction network, reborn as a colorizer: gray in, colour out, three ways.

    python -m analysis.colorize --study S [--trial N | --latent N] [--epochs N] [--subset N] [--context N]
                                [--bins N] [--rebalance S] [--temperature T] [--improve WAY ...] [--out DIR]

Starts from a trial of study S (the best one, ``--trial N``, or the front's trial nearest ``--latent N``
values: its architecture, training settings and data, see :mod:`search.trials.start`), optionally with
``--context N`` more down-sampling stages (each latent value sees about twice as far per stage),
and trains on the BT.601 luma of each image:

- ``rgb``: gray → RGB, regression (the squared error of the picture);
- ``chroma``: gray → chrominance (Cb, Cr), regression, merged with the input's own luma;
- ``classes``: gray → a distribution over quantised chroma (Zhang, Isola & Efros 2016:
  rebalanced cross-entropy, annealed-mean decoding; :mod:`cae.chroma_classes`), merged with the luma;
- improvements chosen with ``--improve``: ``l1`` (chroma regression with L1), ``wider``, ``deeper``
  and ``longer`` (of the classifier: channels × 2, one more stage, 3 × the epochs).

Each is measured on the test split against "gray stays gray" and the truth: MSE, PSNR, and
Hasler–Süsstrunk colourfulness as a fraction of the truth's. The classifier is also decoded at
several temperatures (no retraining: the temperature only turns its distribution into one colour).
Writes ``colorize.csv`` (``variant, test_mse, psnr_db, colourfulness_ratio``), ``colorize.png`` (16 test
images: gray | each variant | truth, each colorization's MSE and PSNR under it; :func:`plot`),
``colorize-colour.png`` (saturation histogram per variant in percent of pixels, PSNR against colourfulness
with the classifier at each temperature; :func:`plot_colour`), ``colorize.md`` and each model's weights.
The figures are drawn by :mod:`analysis.colorize_figures` and re-exported here. From Python, given a study ``recon``::

    from analysis import colorize
    result = colorize.compute("recon", epochs=2)      # trains every variant; silent without a console
    colorize.results_table(result)
    colorize.plot(result), colorize.plot_colour(result)   # matplotlib Figures, shown inline by Jupyter
    colorize.render(result, Path("out"))
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import Progress

from analysis.cli import nonnegative_int, output_dir, print_written, progress_bars, run, study_parser
from analysis.colorize_figures import plot, plot_colour
from analysis.dataset import require_colour
from cae.builder import CAE
from cae.checkpoint import save_checkpoint
from cae.chroma_bins import PAPER_REBALANCE, PAPER_TEMPERATURE, ChromaBins
from cae.chroma_classes import fit_bins
from cae.color import colorfulness, gray_as_rgb, luma, pixel_saturation, saturation
from cae.data import Splits, load_splits
from cae.figures import DPI
from cae.metrics import psnr
from cae.spec import Architecture, ArchitectureError, deepen, widen
from cae.summary import summary_text
from cae.tasks import CLASSES, TASKS, adapt, classes_task, with_classes
from cae.training import EpochReport, TrainConfig, reconstruct, to_unit, train
from search.command_line import number_flag, positive_int
from search.trials.start import best_start

GRID_IMAGES = 16
TEMPERATURES = (1.0, 0.6, 0.38, 0.2, 0.1, 0.01)  # 1: the mean; 0.38: Zhang et al.; 0.01: the mode
HISTOGRAM_PIXELS = 200_000  # per variant: the histogram's shape is settled long before
COLOUR_DPI = 110  # colorize-colour.png is wide: a little less than the other figures' DPI keeps it on a screen


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
    Variant("rgb", "gray → RGB (regression)", "colorization"),
    Variant("chroma", "gray → chroma (regression)", "colorization_chroma"),
    Variant("classes", "gray → chroma classes", CLASSES),
)
IMPROVEMENTS = {
    "l1": Variant("l1", "chroma regression, L1 loss", "colorization_chroma", loss="l1"),
    "wider": Variant("wider", "classes, channels × 2", CLASSES, width=2.0),
    "deeper": Variant("deeper", "classes, one more stage", CLASSES, deeper=True),
    "longer": Variant("longer", "classes, 3 × epochs", CLASSES, epochs_factor=3),
}


@dataclass(frozen=True)
class Measured:
    """What one colorization (or the gray baseline, or the truth) achieves on the test split."""

    key: str
    label: str
    mse: float
    luma_mse: float  # the part of the error that is brightness
    colorfulness: float
    saturation: float
    epochs: int = 0
    best_epoch: int = 0  # the weights kept: the best validation epoch (the last, for the classifier)
    seconds: float = 0.0
    n_params: int = 0

    @property
    def psnr(self) -> float:
        return psnr(self.mse)


def measure(key: str, label: str, predicted: torch.Tensor, truth: torch.Tensor, **extra: float) -> Measured:
    """Errors and colourfulness of RGB ``predicted`` against ``truth`` (floats in [0, 1])."""
    return Measured(
        key,
        label,
        mse=F.mse_loss(predicted, truth).item(),
        luma_mse=F.mse_loss(luma(predicted), luma(truth)).item(),
        colorfulness=colorfulness(predicted).mean().item(),
        saturation=saturation(predicted).mean().item(),
        **extra,
    )


@dataclass
class ColorizeResult:
    """Everything :func:`render` draws and writes; :func:`compute` makes it."""

    study: str
    origin: str
    source: str
    sizes: tuple[int, int, int]  # train, val, test images
    cfg: TrainConfig
    start: Architecture
    context: int
    bins: ChromaBins | None
    truth: Measured
    gray: Measured
    rows: dict[str, Measured] = field(default_factory=dict)
    sweep: list[tuple[float, Measured]] = field(default_factory=list)  # the classifier at other temperatures
    pictures: dict[str, torch.Tensor] = field(default_factory=dict)  # label → GRID_IMAGES test images
    saturations: dict[str, torch.Tensor] = field(default_factory=dict)  # label → per-pixel saturation sample
    models: dict[str, CAE] = field(default_factory=dict)

    def ratio(self, row: Measured) -> float:
        return row.colorfulness / self.truth.colorfulness


# ---------------------------------------------------------------- compute


def variant_architecture(start: Architecture, variant: Variant, context: int, bins: ChromaBins | None) -> Architecture:
    arch = start
    for _ in range(context + variant.deeper):
        arch = deepen(arch)
    arch = widen(arch, variant.width)
    if variant.task == CLASSES:
        assert bins is not None
        return with_classes(arch, bins)
    return adapt(arch, TASKS[variant.task])


def colorize_at(model: CAE, images: torch.Tensor, temperature: float) -> torch.Tensor:
    """A chroma classifier's RGB images of uint8 ``images``, decoded at ``temperature`` (clamped to [0, 1])."""
    return reconstruct(model, images, task=classes_task(dataclasses.replace(model.arch.classes, temperature=temperature)))


def _pixel_saturations(images: torch.Tensor) -> torch.Tensor:
    values = pixel_saturation(images).flatten()
    picked = torch.randperm(len(values), generator=torch.Generator().manual_seed(0))[:HISTOGRAM_PIXELS]
    return values[picked]


def _train(variant: Variant, arch: Architecture, data: Splits, cfg: TrainConfig, progress: Progress) -> tuple[CAE, float, int]:
    bar = progress.add_task(variant.label, total=cfg.epochs, status="")

    def on_epoch(report: EpochReport) -> None:
        status = f"val MSE {report.val_mse:.5f}"
        progress.update(bar, advance=1, status=status)
        if not progress.console.is_terminal:  # logs get a line per epoch instead of a redrawn bar
            progress.console.print(f"  {variant.label} epoch {report.epoch}/{report.epochs} · {status} · {report.seconds:.1f} s")

    model, result = train(arch, data, cfg, on_epoch=on_epoch)
    return model, sum(result.epoch_seconds), result.best_epoch


def compute(
    study: str,
    *,
    storage: str | None = None,
    trial: int | None = None,
    latent: int | None = None,
    epochs: int | None = None,
    subset: int | None = None,
    context: int = 0,
    bins: int = 16,
    rebalance: float = PAPER_REBALANCE,
    temperature: float = PAPER_TEMPERATURE,
    improve: tuple[str, ...] = (),
    console: Console | None = None,
) -> ColorizeResult:
    """Train every variant from the chosen trial of ``study`` and measure it on the test split.

    Raises :class:`analysis.dataset.GrayImagesError` for images of one channel (nothing to colour), before any training.

    Args:
        console: where a progress bar per model (a line per epoch when it is not a terminal) is drawn;
            without one (the default) nothing is printed.
    """
    quiet = console is None
    console = console or Console(quiet=True)
    start = best_start(study, storage, trial=trial, latent=latent)
    if start.architecture.linear_skip:
        raise ArchitectureError(
            f"study={study!r}: {start.origin} is a linear_skip network (its decoder refines PCA's reconstruction of the RGB "
            "image), so it cannot become a colorizer; start from a study without linear_skip, e.g. study='latent'"
        )
    data_cfg = dataclasses.replace(start.data, subset=subset) if subset else start.data
    cfg = TrainConfig(**start.train)
    cfg = dataclasses.replace(cfg, epochs=epochs or cfg.epochs)
    variants = [*VARIANTS, *(IMPROVEMENTS[k] for k in dict.fromkeys(improve))]
    data = load_splits(data_cfg)
    require_colour(data.describe(), "a colorizer", key="data.channels" if data_cfg.channels == 1 else "data.dataset")
    console.print(f"colorizing from {start.origin}: {len(variants)} models of {cfg.epochs} epochs or more", highlight=False)
    chroma_bins = fit_bins(data.train.images, bins, rebalance, temperature)
    truth_images = to_unit(data.test.images).contiguous()
    gray_images = gray_as_rgb(truth_images).contiguous()
    result = ColorizeResult(
        study,
        start.origin,
        data.source,
        (len(data.train), len(data.val), len(data.test)),
        cfg,
        start.architecture,
        context,
        chroma_bins,
        truth=measure("truth", "truth", truth_images, truth_images),
        gray=measure("gray", "gray stays gray", gray_images, truth_images),
    )
    result.pictures["gray"] = gray_images[:GRID_IMAGES]
    result.saturations["truth"] = _pixel_saturations(truth_images)
    with progress_bars(console, quiet=quiet) as progress:
        for variant in variants:
            arch = variant_architecture(start.architecture, variant, context, chroma_bins)
            run_cfg = dataclasses.replace(cfg, loss=variant.loss, epochs=cfg.epochs * variant.epochs_factor)
            model, seconds, best_epoch = _train(variant, arch, data, run_cfg, progress)
            predicted = reconstruct(model, data.test.images).cpu().contiguous()
            extra = {"epochs": run_cfg.epochs, "best_epoch": best_epoch, "seconds": seconds, "n_params": arch.n_params}
            result.rows[variant.key] = measure(variant.key, variant.label, predicted, truth_images, **extra)
            result.pictures[variant.label] = predicted[:GRID_IMAGES]
            result.saturations[variant.label] = _pixel_saturations(predicted)
            result.models[variant.key] = model
    classifier = result.models["classes"]
    for t in TEMPERATURES:
        predicted = colorize_at(classifier, data.test.images, t)
        result.sweep.append((t, measure(f"classes@T={t:g}", f"classes, T = {t:g}", predicted, truth_images)))
    result.pictures["truth"] = truth_images[:GRID_IMAGES]
    return result


# ---------------------------------------------------------------- render


def csv_table(result: ColorizeResult) -> pd.DataFrame:
    """``colorize.csv``: one row per variant (gray, each model, the classifier at each temperature, the truth)."""
    rows = [result.gray, *result.rows.values(), *(m for _, m in result.sweep)]
    table = pd.DataFrame([{"variant": r.key, "test_mse": r.mse, "psnr_db": r.psnr, "colourfulness_ratio": result.ratio(r)} for r in rows])
    truth = pd.DataFrame([{"variant": "truth", "test_mse": 0.0, "psnr_db": float("inf"), "colourfulness_ratio": 1.0}])
    return pd.concat([table, truth], ignore_index=True)


def results_table(result: ColorizeResult) -> pd.DataFrame:
    """The report's table: errors against gray, colour against the truth, cost."""
    return pd.DataFrame(
        [
            {
                "variant": r.label,
                "test MSE": round(r.mse, 5),
                "PSNR dB": round(r.psnr, 2),
                "vs gray dB": round(r.psnr - result.gray.psnr, 2),
                "brightness share of error": f"{r.luma_mse / r.mse:.0%}" if r.mse > 0 else "—",
                "colourfulness vs truth": f"{result.ratio(r):.0%}",
                "saturation": round(r.saturation, 3),
                "epochs": r.epochs or "—",
                "best epoch": r.best_epoch or "—",
                "train s": round(r.seconds) if r.seconds else "—",
                "parameters": f"{r.n_params:,}" if r.n_params else "—",
            }
            for r in [result.gray, *result.rows.values()]
        ]
    )


def sweep_table(result: ColorizeResult) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "temperature": t,
                "PSNR dB": round(m.psnr, 2),
                "vs gray dB": round(m.psnr - result.gray.psnr, 2),
                "colourfulness vs truth": f"{result.ratio(m):.0%}",
            }
            for t, m in result.sweep
        ]
    )


def _target_line(result: ColorizeResult, m: Measured, what: str) -> str:
    ratio, gap = result.ratio(m), m.psnr - result.gray.psnr
    met = ratio >= 0.5 and gap >= -1
    why = [] if met else [f"colourfulness {ratio:.0%} < 50%"] * (ratio < 0.5) + [f"PSNR {-gap:.2f} dB below gray"] * (gap < -1)
    verdict = "**meets** it" if met else f"**misses** it ({'; '.join(why)})"
    return (
        f"- {what}: {m.psnr:.2f} dB ({gap:+.2f} dB against gray), {ratio:.0%} of the truth's colourfulness; "
        f"the target (≥ 50% of the colour, within 1 dB of gray): {verdict}."
    )


def findings(result: ColorizeResult) -> list[str]:
    """Conclusions, each computed from the numbers of this run."""
    rgb, chroma, classes = (result.rows[k] for k in ("rgb", "chroma", "classes"))
    best_t, best_at = max(
        ((t, m) for t, m in result.sweep if m.psnr >= result.gray.psnr - 1), key=lambda tm: result.ratio(tm[1]), default=(None, None)
    )
    lines = [
        _target_line(result, classes, f"classes at T = {result.bins.temperature:g}"),
        f"- Regression, for comparison: gray → RGB {rgb.psnr:.2f} dB ({rgb.psnr - result.gray.psnr:+.2f}), "
        f"{result.ratio(rgb):.0%} of the colour; gray → chroma {chroma.psnr:.2f} dB ({chroma.psnr - result.gray.psnr:+.2f}), "
        f"{result.ratio(chroma):.0%}. The classifier keeps {result.ratio(classes) / max(result.ratio(chroma), 1e-9):.1f}× the chroma "
        f"regressor's colour at {classes.psnr - chroma.psnr:+.2f} dB of PSNR against it.",
        f"- {rgb.luma_mse / rgb.mse:.0%} of gray → RGB's error is brightness, which its input held exactly; "
        "the chroma variants keep the photograph's luma, so their error is colour alone (and clamping).",
    ]
    if best_at is not None:
        lines.append(
            f"- Within 1 dB of gray, the most colourful decoding of the same classifier is T = {best_t:g}: "
            f"{best_at.psnr:.2f} dB, {result.ratio(best_at):.0%} of the truth's colour (a lower temperature picks the likeliest "
            "colour more often: vivid, and wrong more confidently)."
        )
    else:
        lines.append("- No temperature keeps the classifier within 1 dB of gray: it needs more training or context, not another decoding.")
    for key in result.rows.keys() - {"rgb", "chroma", "classes"}:
        row, base = result.rows[key], chroma if key == "l1" else classes
        lines.append(
            f"- {row.label}: {row.psnr:.2f} dB ({row.psnr - base.psnr:+.2f} against {base.label}), "
            f"{result.ratio(row):.0%} of the colour ({(result.ratio(row) - result.ratio(base)) * 100:+.0f} points), "
            f"best validation epoch {row.best_epoch} of {row.epochs}."
        )
    # the classifier keeps its last epoch whatever its curve (cae.training.TrainResult): only regressors say this
    tasks = {v.key: v.task for v in (*VARIANTS, *IMPROVEMENTS.values())}
    late = [r.label for k, r in result.rows.items() if r.best_epoch == r.epochs and tasks[k] != CLASSES]
    if late:
        lines.append(f"- Best at their last epoch, so more epochs would likely help: {', '.join(late)}.")
    return lines


def report(result: ColorizeResult, files: dict[str, Path]) -> str:
    cfg, (n_train, n_val, n_test) = result.cfg, result.sizes
    bins = result.bins
    started = summary_text(result.start, title="starting architecture")
    return "\n".join(
        [
            f"# Colorization from study `{result.study}`",
            "",
            f"Starting point: {result.origin} (below){f', with {result.context} more stage(s)' if result.context else ''}, its "
            f"training settings ({cfg.optimizer}, lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs} epochs) and data: "
            f"{result.source}, {n_train:,} train / {n_val:,} val / {n_test:,} test images. Input: BT.601 luma, one channel. "
            "Errors on the test split, RGB pixels in [0, 1]; colourfulness is Hasler and Süsstrunk's, as a share of the truth's "
            f"({result.truth.colorfulness:.3f}).",
            "",
            f"Chroma classes: a {bins.per_axis}×{bins.per_axis} grid over (Cb, Cr), {bins.n_classes} cells in the training "
            f"split's gamut; rebalancing strength {bins.rebalance:g} (the paper's λ = {1 - bins.rebalance:g}); annealed mean at "
            f"T = {bins.temperature:g}.",
            "",
            "```text",
            started,
            "```",
            "",
            "## Results",
            "",
            results_table(result).to_markdown(index=False),
            "",
            *findings(result),
            "",
            "The classifier decoded at other temperatures (same weights):",
            "",
            sweep_table(result).to_markdown(index=False),
            "",
            f"![gray, colorizations and truth]({files['png'].name})",
            "",
            f"![saturation histograms and error against colour]({files['colour'].name})",
            "",
        ]
    )


def render(result: ColorizeResult, out: Path) -> dict[str, Path]:
    files = {"csv": out / "colorize.csv", "png": out / "colorize.png", "colour": out / "colorize-colour.png", "md": out / "colorize.md"}
    csv_table(result).to_csv(files["csv"], index=False)
    plot(result).savefig(files["png"], dpi=DPI)
    plot_colour(result).savefig(files["colour"], dpi=COLOUR_DPI)
    files["md"].write_text(report(result, files))
    for key, model in result.models.items():
        files[key] = save_checkpoint(model, out / f"colorize-{key}.pt")
    return files


# ---------------------------------------------------------------- command

unit_float = number_flag(float, "a number in [0, 1]", inclusive=True, maximum=1.0)
positive_number = number_flag(float, "a number > 0")
at_least_two = number_flag(int, "an integer ≥ 2", minimum=2, inclusive=True)


def command(args: argparse.Namespace, console: Console) -> int:
    settings = {
        name: getattr(args, name) for name in ("trial", "latent", "epochs", "subset", "context", "bins", "rebalance", "temperature")
    }
    result = compute(args.study, storage=args.storage, improve=tuple(args.improve), console=console, **settings)
    files = render(result, output_dir(args))
    console.print(results_table(result).to_string(index=False), highlight=False)
    console.print(sweep_table(result).to_string(index=False), highlight=False)
    for line in findings(result):
        console.print(line, highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m analysis.colorize", "Train colorizers (regression and chroma classes) from a study's trial.")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", type=nonnegative_int, metavar="N", help="start from this trial (default: the best)")
    which.add_argument("--latent", type=positive_int, metavar="N", help="start from the front's trial nearest N latent values")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="epochs of each model (default: the trial's)")
    parser.add_argument("--subset", type=positive_int, metavar="N", help="images to split 80/10/10 (default: the study's data)")
    parser.add_argument("--context", type=nonnegative_int, default=0, metavar="N", help="extra down-sampling stages (default 0)")
    parser.add_argument("--bins", type=at_least_two, default=16, metavar="N", help="chroma grid cells per axis (default 16)")
    parser.add_argument(
        "--rebalance", type=unit_float, default=PAPER_REBALANCE, metavar="S", help="rebalancing strength in [0, 1] (default 0.5)"
    )
    parser.add_argument(
        "--temperature", type=positive_number, default=PAPER_TEMPERATURE, metavar="T", help="annealed-mean temperature (default 0.38)"
    )
    parser.add_argument(
        "--improve", nargs="*", choices=list(IMPROVEMENTS), default=[], metavar="WAY", help=f"more variants: {', '.join(IMPROVEMENTS)}"
    )
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
