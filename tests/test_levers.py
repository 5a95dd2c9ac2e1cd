"""benchmarks.levers: each lever is one change to the flagship refit's design or training, measured in one process."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from benchmarks.levers import SPACE_LEVERS, design, lever
from benchmarks.levers import main as levers
from cae.layers import Residual
from cae.spec import widen


def test_the_designs_are_the_95_minute_runs_refit_networks() -> None:
    assert design(64)[0].n_params == 561_291 and design(256)[0].n_params == 1_728_843  # refit_trials.csv's counts
    wider_code = design(256, ["model.latent_channels=32"])[0]
    assert wider_code.latent_size == 256 and wider_code.n_params > 1_728_843
    two, three, residual = (design(128, SPACE_LEVERS[name])[0] for name in ("blocks2", "blocks3", "residual2"))
    assert design(128)[0].n_params < two.n_params < residual.n_params < three.n_params
    # the residual lever's stages: a convolution, then one residual block of two more
    assert sum(isinstance(layer, Residual) for layer in residual.encoder) == 3
    assert not any(isinstance(layer, Residual) for layer in three.encoder)


def test_each_lever_changes_one_thing_and_keeps_averaging_on() -> None:
    arch, cfg = design(64)
    base_arch, base_cfg = lever("base", arch, cfg, 1.5)
    assert base_arch == arch and base_cfg == replace(cfg, ema=0.999)
    assert lever("wide", arch, cfg, 1.5)[0] == widen(arch, 1.5)
    assert lever("fp32", arch, cfg, 1.5)[1] == replace(base_cfg, precision="fp32")
    batch = lever("batch256", arch, cfg, 1.5)[1]
    assert batch.batch_size == 256 and batch.lr == pytest.approx(cfg.lr * math.sqrt(2))
    assert lever("lr_low", arch, cfg, 1.5, 3.0)[1] == replace(base_cfg, lr=cfg.lr / 3)
    assert lever("lr_high", arch, cfg, 1.5, 2.0)[1] == replace(base_cfg, lr=cfg.lr * 2)
    assert lever("flip", arch, cfg, 1.5)[1] == replace(base_cfg, flip=True)
    with pytest.raises(ValueError, match="--levers"):
        lever("sharper", arch, cfg, 1.5)


def test_a_run_writes_every_lever_against_the_base(tmp_path) -> None:
    code = levers(["--sizes", "64", "--epochs", "1", "--subset", "900", "--levers", "base", "fp32", "--out", str(tmp_path), "--name", "l"])
    assert code == 0
    rows = json.loads((tmp_path / "l.json").read_text())["rows"]
    assert [r["lever"] for r in rows] == ["base", "fp32"] and [r["precision"] for r in rows][1] == "fp32"
    assert rows[0]["vs_base"] == {"val_db": 0.0, "originals_db": 0.0, "epoch_time_ratio": 1.0}
    for row in rows:
        assert len(row["val_mse_trained"]) == len(row["val_mse_average"]) == 1
        assert 10 < row["originals_psnr"] < 30 and row["epoch_seconds"] > 0
