"""How good is one trained network: its errors on every split, its pictures and its learning curves.

    python -m analysis.evaluate --study recon [--trial N] [--storage URL] [--out DIR] [--on ROOT|DATASET [--fit-steps S]]

or from Python::

    from analysis import evaluate
    result = evaluate.compute("recon")                   # the scores, an EvaluateResult (no files, silent)
    result.split("test").psnr, evaluate.findings(result)
    evaluate.plot(result)                                # the training curves, a matplotlib Figure
    evaluate.plot_reconstructions(result, "test")        # the first test images over the model's
    evaluate.render(result, Path("out"))                 # the files below

:func:`compute` loads the trial's uploaded weights (default: the study's best trial, see
:mod:`search.trials.trial_model`) and its study's data, and measures the model's images (the
reconstructions, RGB or gray as the data is, or a colorizer's colour images of the gray inputs) against the true images on
the train, validation and test splits: MSE and PSNR on pixels in [0, 1], and SSIM (Gaussian
window 11×11, σ 1.5, data range 1, averaged over images). :func:`render` writes to
``studies/<study>/analysis/`` (or ``--out``):

- ``evaluate.json``: study, trial and, per split, the number of images, MSE, PSNR and SSIM;
- ``evaluate.csv``: the same, one row per split;
- ``evaluate-train.png``, ``evaluate-validation.png``, ``evaluate-test.png``: the first 8 images
  of each split over the model's images of them (:func:`plot_reconstructions`): titled with the study,
  trial and split and the split's MSE, rows labelled (``input``, ``output``; a colorizer's ``gray``,
  ``predicted``, ``truth``), each model image's MSE and PSNR under it;
- ``evaluate-curves.png``: training and validation MSE per epoch, as recorded by the trial (:func:`plot`);
- ``evaluate.md``: the table, what it says (over-fitting, agreement with the error the trial
  recorded, whether the validation curve was still falling: each worded from this run's numbers)
  and the pictures.

``--on ROOT|DATASET`` measures the trial on other images instead (:func:`search.evaluate`: a folder, or a
dataset's test part): the network and PCA of its latent size on every one of them, MSE and PSNR in both
conventions, each named, written to ``evaluate-on-NAME.csv`` and ``.json``. ``--fit-steps S`` adds the network from
each image's code fitted to its decoder by S gradient steps (:mod:`cae.code_fit`; ``--fit-lr``): one more row. A network
started from PCA's code (``model.linear_skip``) gets a row for its decoder from PCA's code alone, and a line that splits
its gain over PCA into its decoder's share and its encoder's.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from matplotlib.figure import Figure
from rich.console import Console
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure  # the root import is deprecated in torchmetrics 1.x

from analysis.cli import add_fit_flags, output_dir, print_written, run, trial_parser
from cae.code_fit import CodeFit
from cae.data import DataError
from cae.figures import DPI, curves_figure, reconstruction_figure, reconstruction_rows
from cae.metrics import psnr
from cae.settings import DataDescription, Shape
from cae.tasks import task_of
from cae.training import EVAL_BATCH, rgb_batches
from search.evaluation import MEAN_MSE, MEAN_PSNR, Evaluation, evaluate
from search.space import SpaceError
from search.trials.record import read_trial
from search.trials.trial_model import load_trial

PICTURE_IMAGES = 8
SPLITS = ("train", "validation", "test")
# A test MSE more than this far above the train MSE, and beyond the noise of the images, reads as over-fitting
OVERFIT_GAP = 0.05
SIGNIFICANT = 2.0  # standard errors: a gap smaller than this is what another draw of images could give
# The same weights on the same images: only arithmetic (device, batch order, precision) may differ
AGREEMENT = 1e-3


@dataclass(frozen=True)
class SplitScores:
    split: str
    n: int
    mse: float
    psnr: float
    ssim: float


IMAGE_KINDS = {3: "RGB ", 1: "gray "}  # the data's images by their channels, for the report


@dataclass(frozen=True)
class EvaluateResult:
    """Everything :func:`render` writes; :func:`compute` makes it from a trial."""

    study: str
    trial: int
    name: str  # "study S, trial N"
    source: str  # the data, in words
    task: str  # cae.tasks name: "reconstruction", or a colorizer's
    scores: list[SplitScores]  # train, validation, test
    mse_se: dict[str, float]  # split → standard error of its MSE over its images: the noise of the comparisons
    recorded_test_mse: float | None  # what the trial measured when it finished training
    precision: str | None  # the trial's forward pass: "fp32" or "bf16"
    train_curve: list[float]
    val_curve: list[float]
    kept_epoch: int | None  # 1-based epoch of the saved weights, as the trial recorded it
    model: nn.Module
    samples: dict[str, torch.Tensor]  # split → its first PICTURE_IMAGES uint8 images
    keeps_last: bool = False  # trained by its own loss (a chroma classifier): the last epoch is kept, whatever its MSE
    shape: Shape = DataDescription().shape  # of the data's images (C, H, W); the default is what studies were before datasets

    def split(self, name: str) -> SplitScores:
        return next(s for s in self.scores if s.split == name)


# ---------------------------------------------------------------- compute


def image_ssim(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """SSIM of each image of ``predicted`` against ``truth`` (float batches N×3×H×W in [0, 1]): N values."""
    return structural_similarity_index_measure(predicted, truth, data_range=1.0, reduction="none")


def image_scores(model: nn.Module, images: torch.Tensor, *, batch: int = EVAL_BATCH) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image MSE and SSIM (float64, on the CPU) of the model's RGB images of uint8 ``images``, from one pass.

    Works ``batch`` images at a time: a whole train split as floats, twice, would take over a GB.
    A colorizer is compared in colour too: :func:`cae.training.rgb_batches` gives RGB for any task.
    """
    mse, ssim = [], []
    for x, out in rgb_batches(model, images, batch=batch):
        mse.append((out - x).square().flatten(1).double().mean(1))
        ssim.append(image_ssim(out, x).double())
    return torch.cat(mse).cpu(), torch.cat(ssim).cpu()


def mse_and_ssim(model: nn.Module, images: torch.Tensor, *, batch: int = EVAL_BATCH) -> tuple[float, float]:
    """MSE (as :func:`cae.training.evaluate` measures it) and mean SSIM of the model's RGB images of
    uint8 ``images`` against the images themselves (:func:`image_scores`, averaged over images)."""
    mse, ssim = image_scores(model, images, batch=batch)
    # every image has as many pixels, so the mean of per-image MSEs is the MSE over all pixels
    return mse.mean().item(), ssim.mean().item()


def _standard_error(values: torch.Tensor) -> float:
    return values.std().item() / math.sqrt(len(values)) if len(values) > 1 else math.nan


def compute(study_name: str, *, storage: str | None = None, trial: int | None = None, console: Console | None = None) -> EvaluateResult:
    """Measure trial ``trial`` of ``study_name`` (default: its best) on every split of its data.

    Silent by default. ``console``, when given (the command passes its own), hears which split is
    being measured: a full train split takes a while.
    """
    loaded = load_trial(study_name, storage, trial)
    data = loaded.data()
    if console:
        console.print(f"evaluating {loaded.name} on {data.source}", highlight=False)
    scores, mse_se, samples = [], {}, {}
    for name, images in zip(SPLITS, (data.train, data.val, data.test), strict=True):
        if console:
            console.print(f"  {name}: {len(images):,} images", highlight=False)
        per_image, ssim = image_scores(loaded.model, images.images)
        mse = per_image.mean().item()
        scores.append(SplitScores(name, len(images), mse, psnr(mse), ssim.mean().item()))
        mse_se[name] = _standard_error(per_image)
        samples[name] = images.images[:PICTURE_IMAGES].clone()  # not a view: the split's images can go
    record, task = read_trial(loaded.trial), task_of(loaded.model)
    return EvaluateResult(
        study=study_name,
        trial=loaded.trial.number,
        name=loaded.name,
        source=data.source,
        task=task.name,
        scores=scores,
        mse_se=mse_se,
        recorded_test_mse=record.test_mse,
        precision=record.precision,
        train_curve=list(record.train_mse or []),
        val_curve=list(record.val_mse or []),
        kept_epoch=record.best_epoch,
        model=loaded.model,
        samples=samples,
        keeps_last=task.loss is not None,  # as cae.training.TrainResult chooses the weights it keeps
        shape=data.shape,
    )


# ---------------------------------------------------------------- findings


def overfitting(result: EvaluateResult) -> str:
    """Train against test MSE, weighed by the spread of the per-image errors of both splits."""
    train, test = result.split("train"), result.split("test")
    gap = test.mse / train.mse - 1 if train.mse > 0 else (math.inf if test.mse > 0 else 0.0)
    se = math.hypot(result.mse_se["train"], result.mse_se["test"])
    z = (test.mse - train.mse) / se if se > 0 else math.nan  # nan: one image, or a perfect model
    noise = f", {z:+.1f} standard errors of the difference" if math.isfinite(z) else ""
    side = "above" if gap >= 0 else "below"
    said = f"The test MSE is {abs(gap):.1%} {side} the train split's ({test.mse:.6f} against {train.mse:.6f}{noise})"
    overfits = f"{said}: the model does better on its training images than on unseen ones, a sign of over-fitting."
    if not math.isfinite(z):  # no spread to weigh the gap by: its size alone decides
        return overfits if gap > OVERFIT_GAP else f"{said}: no clear sign of over-fitting."
    if z > SIGNIFICANT:
        return overfits if gap > OVERFIT_GAP else f"{said}: a small but clear gap, slight over-fitting at most."
    if z < -SIGNIFICANT:
        return f"{said}: the test images are easier for this model than the training ones; no sign of over-fitting."
    return f"{said}: within the spread of {train.n:,} train and {test.n:,} test images, so no clear sign of over-fitting."


def agreement(result: EvaluateResult) -> str:
    """The test MSE of the saved weights against the one the trial recorded when it finished training."""
    recorded, test = result.recorded_test_mse, result.split("test").mse
    if recorded is None:
        return "The trial recorded no test MSE to compare with."
    said = f"The trial recorded a test MSE of {recorded:.6f} when it finished training; its saved weights give {test:.6f} here"
    apart = abs(test - recorded) / recorded
    if apart == 0:
        return f"{said}: the same number."
    if apart <= AGREEMENT:
        bound = "0.01%" if apart < 1e-4 else f"{apart:.2%}"
        return f"{said}: they agree within {bound}, as the same weights on the same images should."
    if result.precision not in (None, "fp32"):
        return (
            f"{said}: {apart:.2%} apart. The trial measured in {result.precision} and this evaluation in float32, which may "
            "explain it; if not, the weights or the images are not those it measured."
        )
    return f"{said}: {apart:.2%} apart, more than float32 arithmetic explains: the weights or the images are not those it measured."


def convergence(result: EvaluateResult) -> str:
    """Whether the recorded validation curve was still falling when training stopped."""
    curve = result.val_curve
    if not curve:
        return "The trial recorded no validation curve."
    if len(curve) == 1:
        return "The trial trained for one epoch: no curve to say whether more epochs would help."
    n, best = len(curve), curve.index(min(curve)) + 1
    last = curve[-1] / curve[-2] - 1
    if result.keeps_last:
        return (
            f"The validation MSE changed {last:+.1%} over the last epoch (lowest at epoch {best} of {n}), but this model is trained "
            "by its own loss and keeps its last epoch: its MSE curve does not say whether more epochs would help."
        )
    kept = f" The saved weights are epoch {result.kept_epoch}'s." if result.kept_epoch not in (None, n) else ""
    if last < 0 and best == n:
        return (
            f"The validation MSE was still falling at the last epoch ({last:+.1%} over epoch {n}, its lowest): "
            f"more epochs would likely lower it.{kept}"
        )
    if last < 0:
        return (
            f"The validation MSE fell over the last epoch ({last:+.1%}) but was lowest at epoch {best} of {n}: "
            f"a noisy curve, not clearly still falling.{kept}"
        )
    above = curve[-1] / curve[best - 1] - 1
    return (
        f"The validation MSE had stopped falling: lowest at epoch {best} of {n}, the last epoch {above:+.1%} above it; "
        f"more epochs alone would likely not help.{kept}"
    )


def findings(result: EvaluateResult) -> list[str]:
    """The report's conclusions, each from this run's numbers."""
    return [agreement(result), overfitting(result), convergence(result)]


# ---------------------------------------------------------------- figures


def plot(result: EvaluateResult) -> Figure:
    """Training and validation MSE per epoch, as the trial recorded them (``evaluate-curves.png``)."""
    return curves_figure(result.train_curve, result.val_curve, title=f"{result.name}: error per epoch")


def plot_reconstructions(result: EvaluateResult, split: str = "test") -> Figure:
    """The first images of ``split`` (train, validation or test) over the model's images of them (``evaluate-SPLIT.png``).

    Titled with the study, trial and split and the split's MSE over all its images; rows labelled ``input`` and
    ``output`` (a colorizer's ``gray``, ``predicted`` and ``truth``); each model image's MSE and PSNR under it.
    """
    if split not in result.samples:
        raise ValueError(f"split: expected one of {', '.join(result.samples)}, got {split!r}")
    scores, images = result.split(split), result.samples[split]
    title = (
        f"{result.name} · {split} split: its first {len(images)} of {scores.n:,} images\n"
        f"MSE over all {scores.n:,}: {scores.mse:.5f} ({scores.psnr:.2f} dB), SSIM {scores.ssim:.3f}"
    )
    return reconstruction_figure(reconstruction_rows(result.model, images), title=title)


# ---------------------------------------------------------------- render


def _numbers(scores: SplitScores) -> dict[str, float]:
    return {k: v for k, v in asdict(scores).items() if k != "split"}


def scores_table(scores: list[SplitScores]) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) for s in scores])


def report(result: EvaluateResult, files: dict[str, Path]) -> str:
    """``evaluate.md``: ``files`` names the pictures it links to."""
    table = scores_table(result.scores).rename(columns={"n": "images", "mse": "MSE", "psnr": "PSNR dB", "ssim": "SSIM"})
    pictures = [f"![{s.split}: images over the model's]({files[s.split].name})" for s in result.scores]
    rows = (
        "(input) over the model's reconstructions of them (output), each with its MSE and PSNR"
        if result.task == "reconstruction"
        else "in gray, the model's input (gray), the model's colour images of them with their MSE and PSNR (predicted), and the "
        "photographs (truth)"
    )
    return "\n".join(
        [
            f"# Evaluation of {result.name}",
            "",
            f"Data: {result.source}, {' × '.join(map(str, result.shape))} (C × H × W). Errors of the model's "
            f"{IMAGE_KINDS.get(result.shape[0], '')}images against the true images, pixels in [0, 1]; "
            "SSIM with an 11×11 Gaussian window (σ 1.5), averaged over images.",
            "",
            table.to_markdown(index=False, floatfmt=".6g"),
            "",
            *(line for finding in findings(result) for line in (finding, "")),
            "## Pictures",
            "",
            f"The first {PICTURE_IMAGES} images of each split {rows}.",
            "",
            *(line for picture in pictures for line in (picture, "")),
            "## Training curves",
            "",
            f"![error per epoch]({files['curves'].name})",
            "",
        ]
    )


def render(result: EvaluateResult, out: Path) -> dict[str, Path]:
    """Write the scores (JSON, CSV), the pictures, the curves and the report into ``out``; the files written, by kind."""
    files = {"json": out / "evaluate.json", "csv": out / "evaluate.csv", "md": out / "evaluate.md"}
    files |= {name: out / f"evaluate-{name}.png" for name in result.samples} | {"curves": out / "evaluate-curves.png"}
    for name in result.samples:
        plot_reconstructions(result, name).savefig(files[name], dpi=DPI)
    plot(result).savefig(files["curves"], dpi=DPI)
    summary = {"study": result.study, "trial": result.trial, "splits": {s.split: _numbers(s) for s in result.scores}}
    files["json"].write_text(json.dumps(summary, indent=2) + "\n")
    scores_table(result.scores).to_csv(files["csv"], index=False)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- on other images


def on_table(result: Evaluation) -> pd.DataFrame:
    """The network and PCA of its latent size on the same images: MSE and PSNR in both conventions, each named."""
    rows = [("network", result.network)]
    rows += [(f"network, {result.fit}", result.fitted)] if result.fitted else []
    rows += [("network's decoder from PCA's code", result.linear_code)] if result.linear_code else []
    rows += [(f"PCA, {result.latent_size:,} components", result.pca)] if result.pca else []
    return pd.DataFrame(
        [
            {"model": name, "images": s.images, "MSE": s.mse, f"{MEAN_MSE} dB": s.psnr_of_mean_mse, f"{MEAN_PSNR} dB": s.mean_of_psnrs}
            for name, s in rows
        ]
    )


def on_words(result: Evaluation) -> list[str]:
    """What the table is of, and the network against PCA in each convention."""
    said = [
        f"{result.trial} (latent {result.latent_size:,}) on {result.images} ({result.pixels} pixels); "
        f"PCA fitted on the trial's {result.trained_on}",
    ]
    gains = result.gains_db
    if gains is None:
        return [*said, f"no PCA: {result.pca_problem}"]
    said.append(f"network over PCA: {gains[0]:+.2f} dB ({MEAN_MSE}), {gains[1]:+.2f} dB ({MEAN_PSNR})")
    fitted = result.fitted_gains_db
    if fitted is not None:
        said.append(f"network from {result.fit} over PCA: {fitted[0]:+.2f} dB ({MEAN_MSE}), {fitted[1]:+.2f} dB ({MEAN_PSNR})")
    shares = result.shares_db
    if shares is not None:
        said.append(
            f"of the network's {gains[0]:+.2f} dB over PCA ({MEAN_MSE}), its decoder from PCA's code gives {shares['decoder']:+.2f} "
            f"and its encoder's correction of the code {shares['encoder']:+.2f}"
            + (f"; fitted codes add {shares['fitted']:+.2f} more: what the encoder's one pass leaves" if "fitted" in shares else "")
        )
    return said


def render_on(result: Evaluation, out: Path, name: str) -> dict[str, Path]:
    """Write the table (CSV) and the numbers with what they are of (JSON) into ``out``, as ``evaluate-on-NAME``."""
    files = {"csv": out / f"evaluate-on-{name}.csv", "json": out / f"evaluate-on-{name}.json"}
    on_table(result).to_csv(files["csv"], index=False)
    files["json"].write_text(json.dumps(asdict(result), indent=2) + "\n")
    return files


def _on_name(on: str) -> str:
    """``cifar10-original-sample-test`` of ``../shared/data/cifar10-original-sample/test``: a file name for what ``--on`` names."""
    return re.sub(r"[^\w.-]+", "-", "-".join(Path(on).resolve().parts[-2:]) if Path(on).is_dir() else on).strip("-.")


def command_on(args: argparse.Namespace, console: Console) -> int:
    try:
        fit = None if args.fit_steps is None else CodeFit(args.fit_steps, args.fit_lr)
        if fit is not None:
            console.print(f"{fit.words()}: each image takes {fit.steps} decoder passes, forward and back", highlight=False)
        result = evaluate((args.study, args.trial), data=args.on, storage=args.storage, fit=fit)
    except DataError as error:  # about the images --on names (the trial's own data was read when it trained)
        raise SpaceError("command line", "on=", error.message) from None  # the command words it as --on
    table = on_table(result).to_string(index=False, float_format=lambda v: f"{v:.5g}")
    for line in (on_words(result)[0], table, *on_words(result)[1:]):
        console.print(line, highlight=False, soft_wrap=True)
    print_written(console, render_on(result, output_dir(args), _on_name(args.on)))
    return 0


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    if args.fit_steps is not None and args.on is None:
        raise SpaceError("command line", "fit_steps=", "expected on= as well: codes are fitted on the images it names")
    if args.on is not None:
        return command_on(args, console)
    result = compute(args.study, storage=args.storage, trial=args.trial, console=console)
    files = render(result, output_dir(args))
    console.print(scores_table(result.scores).to_string(index=False), highlight=False)
    for line in findings(result):
        console.print(line, highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = trial_parser("python -m analysis.evaluate", "Errors (MSE, PSNR, SSIM), pictures and curves of one trial's network.")
    parser.add_argument(
        "--on",
        metavar="ROOT|DATASET",
        help="measure the trial on other images instead: a folder (of a train/ and test/ export, its test/), or a dataset's test part; "
        "both PSNR conventions, beside PCA of the trial's latent size",
    )
    add_fit_flags(
        parser,
        steps=None,
        steps_help="with --on: also score the network from each image's code fitted to its decoder by S Adam steps (cae.code_fit)",
    )
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
