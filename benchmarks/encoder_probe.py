"""Is a refit network's encoder at its best for its decoder? Where its gain over PCA comes from, and what training it further gives.

    python -m benchmarks.encoder_probe --study flagship-refit [--subset 12000] [--epochs 2] [--lrs 0.001 0.01] [--out DIR]

For every complete trial of ``--study`` (networks started from PCA's code, ``model.linear_skip``), on its own
validation images (never its test images):

1. **The gain's parts**: PCA of its size, its decoder from PCA's code alone (:class:`cae.code_fit.LinearCodes`), the
   network, and codes fitted per image (``--fit-steps`` on the first ``--fit-images``; :mod:`cae.code_fit`).
2. **The encoder trained further alone**: the decoder's weights and batch-norm statistics and the linear path fixed, the
   encoder trained ``--epochs`` more epochs on ``--subset`` training images (drawn at random) at each of ``--lrs``, as
   the trial trained (its optimizer, one-cycle schedule, mirrored images): the validation PSNR after each epoch.

If (2) gains nothing where (1)'s fitted codes gain half a dB, what the encoder's one pass leaves is not for want of
training: the encoder is at an optimum of its form for its decoder, and better codes need another form of encoder (or
the steps themselves). Writes ``encoder-probe.json`` into ``--out`` (``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from benchmarks.common import RESULTS, complete_trials, machine, write_result
from cae.builder import CAE
from cae.code_fit import CodeFit, FittedCodes, LinearCodes
from cae.data import ImageSet, Splits
from cae.metrics import psnr
from cae.settings import TrainConfig
from cae.training import evaluate, fit
from search.evaluation import pca_image_mse
from search.trials.trial_model import LoadedTrial


class EncoderOnly(nn.Module):
    """``model`` trained in its encoder alone: every other weight frozen, and the decoder's batch norm kept in evaluation
    mode (its running statistics are part of the decoder). ``cae.training.fit`` trains it as it trains any model."""

    def __init__(self, model: CAE) -> None:
        super().__init__()
        self.model, self.arch = model, model.arch
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in model.encoder.parameters():
            parameter.requires_grad_(True)

    def train(self, mode: bool = True) -> EncoderOnly:
        super().train(mode)
        self.model.decoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _pca_psnr(loaded: LoadedTrial, splits: Splits) -> float:
    """PCA of the trial's size on its validation images, measured as search.evaluate measures it."""
    per_image, problem = pca_image_mse(splits.train.images, splits.val.images, loaded.model.arch.latent_size)
    if per_image is None:
        raise ValueError(problem)
    return psnr(per_image.mean().item())


def probe(loaded: LoadedTrial, splits: Splits, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """One trial's parts of the gain and its encoder's further training (the module's 1 and 2)."""
    model, val = loaded.model, splits.val.images
    network = psnr(evaluate(model, val))
    row: dict[str, Any] = {
        "trial": loaded.trial.number,
        "latent": model.arch.latent_size,
        "validation_images": len(val),
        "pca_psnr": _pca_psnr(loaded, splits),
        "linear_code_psnr": psnr(evaluate(LinearCodes(model), val)),
        "network_psnr": network,
    }
    few = val[: args.fit_images]
    row["fitted"] = {
        "images": len(few),
        "steps": args.fit_steps,
        "network_psnr": psnr(evaluate(model, few)),
        "fitted_psnr": psnr(evaluate(FittedCodes(model, CodeFit(args.fit_steps)), few)),
    }
    console.print(f"trial {row['trial']} (latent {row['latent']}): {row}", highlight=False)
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(0))[: args.subset]
    subset = dataclasses.replace(splits, train=ImageSet(splits.train.images[order], splits.train.labels[order]), test=splits.val)
    row["encoder_trained"] = []
    for lr in args.lrs:
        cfg = TrainConfig(**{**loaded.record.train, "epochs": args.epochs, "lr": lr, "ema": 0.0})
        result = fit(EncoderOnly(copy.deepcopy(model)), subset, cfg)
        curve = [psnr(mse) for mse in result.val_mse]
        row["encoder_trained"].append(
            {"lr": lr, "epochs": args.epochs, "images": len(order), "val_psnr": curve, "gain_db": max(curve) - network}
        )
        console.print(f"  encoder alone at lr {lr:g}: validation PSNR {', '.join(f'{p:.3f}' for p in curve)} (from {network:.3f})")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encoder_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage")
    parser.add_argument("--subset", type=int, default=12000, help="training images the encoder trains further on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 1e-2])
    parser.add_argument("--fit-steps", type=int, default=30)
    parser.add_argument("--fit-images", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console()
    rows = []
    for loaded, splits in complete_trials(args.study, args.storage):
        if not loaded.model.arch.linear_skip:
            console.print(f"trial {loaded.trial.number}: not started from PCA's code (no linear_skip), skipped", highlight=False)
            continue
        rows.append(probe(loaded, splits, args, console))
    payload = {"machine": machine(), "study": args.study, "rows": rows}
    path = write_result("encoder-probe", payload, folder=args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
