"""``benchmarks.throughput --networks``: the networks it builds are the flagship refit's and the UvA-sized one, and its
JSON holds one row per network × precision × batch × ema with a share of the matching matmul rate (no timings asserted)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
import torch

from benchmarks import networks, throughput
from cae.training import cpu_has_native_bf16


def test_the_flagship_networks_are_the_refits_own() -> None:
    with (networks.FLAGSHIP_RUN / "refit_trials.csv").open(newline="") as file:
        refit = {int(row["latent_size"]): int(row["n_params"]) for row in csv.DictReader(file)}
    built = {n.name: n.config.architecture for n in networks.networks(["flagship", "flagship-256"])}
    assert list(built) == ["flagship-64", "flagship-128", "flagship-256"]
    for size, n_params in refit.items():
        assert built[f"flagship-{size}"].latent_size == size and built[f"flagship-{size}"].n_params == n_params


def test_the_uva_network_is_the_latent_grid_at_256_values() -> None:
    (uva,) = networks.networks(["uva"])
    assert uva.name == "uva-256" and uva.params == {"latent_channels": 16}
    assert uva.config.architecture.latent_size == 256 and uva.config.train.optimizer == "adamw"


def test_an_unknown_network_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown flagship-32"):
        networks.networks(["uva", "flagship-32"])
    with pytest.raises(SystemExit, match="--ema"):
        throughput.main(["--networks", "uva", "--ema", "1.5", "--device", "cpu"])


def test_networks_mode_writes_a_row_per_network_precision_batch_and_ema(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    argv = ["--networks", "uva", "--images", "256", "--batches", "64", "--warmup", "1", "--precisions", "fp32", "bf16"]
    argv += ["--ema", "0", "0.9", "--threads", "1", "--matmul-size", "1024", "--device", "cpu", "--name", "loop", "--out", str(tmp_path)]
    assert throughput.main(argv) == 0
    assert torch.get_num_threads() == threads  # --threads holds for the run only
    stored = json.loads((tmp_path / "loop.json").read_text())
    assert {"machine", "settings", "matmul_gflops", "networks", "rows", "skipped"} <= set(stored)
    assert stored["settings"]["threads"] == 1 and stored["settings"]["ema"] == [0.0, 0.9]
    precisions = ["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"]
    assert ("bf16" in stored["skipped"]) != cpu_has_native_bf16() and list(stored["matmul_gflops"]) == precisions
    flops = stored["networks"]["uva-256"]["training_flops_per_image"]
    assert flops > 0 and stored["networks"]["uva-256"]["latent_size"] == 256
    rows = stored["rows"]
    assert [(r["network"], r["precision"], r["batch"], r["ema"]) for r in rows] == list(
        itertools.product(["uva-256"], precisions, [64], [0.0, 0.9])
    )
    for row in rows:
        assert row["images/s"] > 0 and row["timed images"] == 256 - 64 and row["training FLOPs per image"] == flops
        assert row["GFLOP/s"] == pytest.approx(row["images/s"] * flops / 1e9)
        assert row["share of matmul rate"] == pytest.approx(row["GFLOP/s"] / stored["matmul_gflops"][row["precision"]])
        # no upper bound: a share is a ratio of two timings, and on a 256-image run with one thread the network can
        # outrun the timed matmul (1.36 once, on an AMD EPYC with bfloat16): timings are not asserted
        assert row["share of matmul rate"] > 0
