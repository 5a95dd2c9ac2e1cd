"""How many steps a fitted code needs: each refit network's validation error against the Adam steps on its codes.

    python -m benchmarks.code_fit --study flagship-refit [--steps 10 30 100] [--images 300] [--out DIR]

For every complete trial of ``--study``, the first ``--images`` of its validation split (never its test images: the
steps are chosen here, then the test images are measured once) are reconstructed from the encoder's codes and from
codes fitted by each number of ``--steps`` (:mod:`cae.code_fit`), each a run from the encoder's codes. Writes
``code-fit.json`` into ``--out`` (``benchmarks/results/``): per trial and steps, the PSNR of the mean MSE, its gain over the encoder's
codes, and the seconds the fitting took on this machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from benchmarks.common import RESULTS, complete_trials, machine, write_result
from cae.code_fit import CodeFit, FittedCodes
from cae.metrics import psnr
from cae.training import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.code_fit", description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--lr", type=float, default=CodeFit(0).lr)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    console = Console()
    rows = []
    for loaded, splits in complete_trials(args.study, args.storage):
        images = splits.val.images[: args.images]
        encoder = evaluate(loaded.model, images)
        row = {"trial": loaded.trial.number, "latent": loaded.model.arch.latent_size, "images": len(images), "encoder_psnr": psnr(encoder)}
        for steps in args.steps:
            started = time.perf_counter()
            mse = evaluate(FittedCodes(loaded.model, CodeFit(steps, args.lr)), images)
            row[f"steps_{steps}"] = {"psnr": psnr(mse), "gain_db": psnr(mse) - psnr(encoder), "seconds": time.perf_counter() - started}
        console.print(row, highlight=False)
        rows.append(row)
    path = write_result("code-fit", {"machine": machine(), "study": args.study, "lr": args.lr, "rows": rows}, folder=args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
