"""How good is one trained network: its errors on every split, its pictures and its learning curves.

    python -m analysis.evaluate --study recon [--trial N] [--storage URL] [--out DIR]

Loads the trial's uploaded weights (default: the study's best trial, see
:mod:`analysis.trial_model`) and its study's data, and measures the model's RGB images (the
reconstructions, or a colorizer's colour images of the gray inputs) against the true images on
the train, validation and test splits: MSE and PSNR on pixels in [0, 1], and SSIM (Gaussian
window 11×11, σ 1.5, data range 1, averaged over images). Writes to ``studies/<study>/analysis/``
(or ``--out``):

- ``evaluate.json``: study, trial and, per split, the number of images, MSE, PSNR and SSIM;
- ``evaluate.csv``: the same, one row per split;
- ``evaluate-train.png``, ``evaluate-validation.png``, ``evaluate-test.png``: the first 8 images
  of each split over the model's images of them;
- ``evaluate-curves.png``: training and validation MSE per epoch, as recorded by the trial;
- ``evaluate.md``: the table and the pictures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure  # the root import is deprecated in torchmetrics 1.x

from analysis.cli import output_dir, print_written, run, trial_parser
from analysis.trial_model import LoadedTrial, load_trial
from cae.data import ImageSet
from cae.figures import save_curves, save_reconstructions
from cae.training import EVAL_BATCH, psnr, rgb_batches

PICTURE_IMAGES = 8


@dataclass(frozen=True)
class SplitScores:
    split: str
    n: int
    mse: float
    psnr: float
    ssim: float


def image_ssim(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """SSIM of each image of ``predicted`` against ``truth`` (float batches N×3×H×W in [0, 1]): N values."""
    return structural_similarity_index_measure(predicted, truth, data_range=1.0, reduction="none")


def mse_and_ssim(model: nn.Module, images: torch.Tensor, *, batch: int = EVAL_BATCH) -> tuple[float, float]:
    """MSE (as :func:`cae.training.evaluate` measures it) and mean SSIM of the model's RGB images of
    uint8 ``images`` against the images themselves, from one pass of the model over them.

    Works ``batch`` images at a time: a whole train split as floats, twice, would take over a GB.
    A colorizer is compared in colour too: :func:`cae.training.rgb_batches` gives RGB for any task.
    """
    squared, ssim = [], []
    for x, out in rgb_batches(model, images, batch=batch):
        squared.append(F.mse_loss(out, x, reduction="sum").double())
        # summed per image, then divided once: a short last batch weighs by its images, not as a whole batch
        ssim.append(image_ssim(out, x).double().sum())
    return torch.stack(squared).sum().item() / images.numel(), torch.stack(ssim).sum().item() / len(images)


def score(split: str, model: nn.Module, images: ImageSet) -> SplitScores:
    mse, ssim = mse_and_ssim(model, images.images)
    return SplitScores(split, len(images), mse, psnr(mse), ssim)


def _numbers(scores: SplitScores) -> dict[str, float]:
    return {k: v for k, v in asdict(scores).items() if k != "split"}


def scores_table(scores: list[SplitScores]) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) for s in scores])


# ---------------------------------------------------------------- report


def report(loaded: LoadedTrial, source: str, scores: list[SplitScores], files: dict[str, Path]) -> str:
    recorded = loaded.trial.user_attrs.get("test_mse")
    test = next(s for s in scores if s.split == "test")
    check = (
        f"The trial recorded a test MSE of {recorded:.6f} when it finished training; this evaluation of its saved weights "
        f"gives {test.mse:.6f}."
        if recorded is not None
        else "The trial recorded no test MSE to compare with."
    )
    table = scores_table(scores).rename(columns={"n": "images", "mse": "MSE", "psnr": "PSNR dB", "ssim": "SSIM"})
    pictures = [f"![{s.split}: images over the model's]({files[s.split].name})" for s in scores]
    return "\n".join(
        [
            f"# Evaluation of {loaded.name}",
            "",
            f"Data: {source}. Errors of the model's RGB images against the true images, pixels in [0, 1]; "
            "SSIM with an 11×11 Gaussian window (σ 1.5), averaged over images.",
            "",
            table.to_markdown(index=False, floatfmt=".6g"),
            "",
            check,
            "",
            "## Pictures",
            "",
            "The first 8 images of each split (top) over the model's images of them (bottom; a colorizer's gray input in between).",
            "",
            *(line for picture in pictures for line in (picture, "")),
            "## Training curves",
            "",
            f"![error per epoch]({files['curves'].name})",
            "",
        ]
    )


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    loaded = load_trial(args.study, args.storage, args.trial)
    data = loaded.data()
    out = output_dir(args)
    splits = {"train": data.train, "validation": data.val, "test": data.test}
    files = {"json": out / "evaluate.json", "csv": out / "evaluate.csv", "md": out / "evaluate.md"}
    files |= {name: out / f"evaluate-{name}.png" for name in splits} | {"curves": out / "evaluate-curves.png"}
    console.print(f"evaluating {loaded.name} on {data.source}", highlight=False)
    scores = []
    for name, images in splits.items():
        console.print(f"  {name}: {len(images):,} images", highlight=False)
        scores.append(score(name, loaded.model, images))
        save_reconstructions(loaded.model, images.images[:PICTURE_IMAGES], files[name])
    attrs = loaded.trial.user_attrs
    save_curves(attrs["train_mse"], attrs["val_mse"], files["curves"], title=f"{loaded.name}: error per epoch")
    summary = {"study": args.study, "trial": loaded.trial.number, "splits": {s.split: _numbers(s) for s in scores}}
    files["json"].write_text(json.dumps(summary, indent=2) + "\n")
    table = scores_table(scores)
    table.to_csv(files["csv"], index=False)
    files["md"].write_text(report(loaded, data.source, scores, files))
    console.print(table.to_string(index=False), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = trial_parser("python -m analysis.evaluate", "Errors (MSE, PSNR, SSIM), pictures and curves of one trial's network.")
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
