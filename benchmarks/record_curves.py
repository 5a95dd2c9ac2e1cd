"""Record full learning curves of seeded draws from a space, once, as data for :mod:`benchmarks.replay`.

    OMP_NUM_THREADS=1 python -m benchmarks.record_curves [--space spaces/pareto.yaml] [--configs 24]
        [--set data.subset=2000 --set train.epochs=9] [--out benchmarks/results/curves]
    OMP_NUM_THREADS=1 python -m benchmarks.record_curves --set data.subset=2000 --set train.epochs=3 \
        --out benchmarks/results/curves/short-3     (the same draws with their schedule over 3 epochs)

Each configuration is ``search.sample.sample`` of the space with ``random_suggest(Random(seed))``
(seeds 0, 1, …), trained by the project's own :func:`cae.training.train` for the space's full
``train.epochs`` (its schedule over all of them, as a search's trial has), with the PCA baseline of
the same split at its latent size, the start from the linear code where the space asks for it. One
JSON file per configuration (``seed-NN.json``), written when it finishes: a rerun skips the seeds
already recorded, so an interrupted recording resumes. Single-threaded (``torch.set_num_threads(1)``)
so that it can run beside other work; the seconds it records are of that one thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import RESULTS, ROOT, machine
from cae.data import load_splits
from cae.pca import linear_code, pca_baseline, start_from_linear_code
from cae.tasks import task_of_architecture
from cae.training import train
from search.sample import random_suggest, sample
from search.space import load_space

CURVES = RESULTS / "curves"
DEFAULT_SETS = ("data.subset=2000", "train.epochs=9")


def record(space_path: Path, configs: int, overrides: list[str], out: Path, first: int = 0) -> list[Path]:
    """Train seeds ``first … configs - 1`` not yet in ``out``; the paths of every recorded file."""
    space = load_space(space_path, overrides)
    data = load_splits(space.data)
    baseline = pca_baseline(data.train.images, data.test.images)
    code = None
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first, configs):
        path = out / f"seed-{seed:02d}.json"
        paths.append(path)
        if path.exists():
            continue
        drawn: dict = {}
        config = sample(space, random_suggest(random.Random(seed), drawn))
        arch = config.architecture
        init = None
        if arch.linear_skip and task_of_architecture(arch).name == "reconstruction":
            code = code or linear_code(data.train.images)

            def init(model, code=code) -> None:
                start_from_linear_code(model, code)

        start = time.perf_counter()
        _, result = train(arch, data, config.train, init=init)
        seconds = time.perf_counter() - start
        payload = {
            "seed": seed,
            "params": drawn,
            "latent_size": arch.latent_size,
            "n_params": arch.n_params,
            "pca_mse": baseline.mse(arch.latent_size),
            "train": dataclasses.asdict(config.train),
            "val_mse": result.val_mse,
            "train_mse": result.train_mse,
            "epoch_seconds": result.epoch_seconds,
            "train_seconds": seconds,
            "test_mse": result.test_mse,
            "best_epoch": result.best_epoch,
        }
        path.write_text(json.dumps(payload, indent=1) + "\n")
        print(f"seed {seed}: latent {arch.latent_size}, {seconds:.0f} s, best val MSE {min(result.val_mse):.5f}", flush=True)
    meta = {
        "space": str(space_path.resolve().relative_to(ROOT)) if space_path.resolve().is_relative_to(ROOT) else str(space_path),
        "overrides": overrides,
        "configs": configs,
        "images": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "machine": machine(),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1, default=str) + "\n")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.record_curves", description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=ROOT / "spaces" / "pareto.yaml")
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--set", dest="sets", action="append", default=None, metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=CURVES)
    parser.add_argument("--first", type=int, default=0, help="the first seed (a second process can take the later ones)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    record(args.space, args.configs, list(args.sets or DEFAULT_SETS), args.out, args.first)
    return 0


if __name__ == "__main__":
    sys.exit(main())
