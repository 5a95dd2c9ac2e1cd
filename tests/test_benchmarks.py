"""The benchmarks' arithmetic and plumbing on tiny inputs (no timings are asserted), and the training options they measure."""

from __future__ import annotations

import datetime
import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch
from torch import nn

from benchmarks import overhead, pruning, throughput
from benchmarks.common import machine, reference_architecture, write_result
from cae.builder import build
from cae.data import DataConfig, ImageSet, load_images, resolve_root
from cae.spec import Architecture, Conv, MaxPool, Upsample
from cae.training import TrainConfig, autocast_dtype, train

TINY = Architecture(encoder=(Conv(4), MaxPool()), decoder=(Upsample(), Conv(3, activation="none")))


@pytest.fixture
def train_folder() -> Path:
    """CIFAR-10's ``train/<class>/*`` folders, which the tutorial pipeline reads (not the pickles)."""
    folder = resolve_root(None) / "train"
    if not folder.is_dir():
        pytest.skip("the tutorial pipeline needs CIFAR-10 as class folders (train/<class>/*.png)")
    return folder


def test_training_flops_of_a_known_convolution() -> None:
    # One 3×3 convolution, 3 → 2 channels, "same" padding, on 32×32: each of the 2·32·32 outputs is
    # 27 multiply-adds (54 FLOPs); backward computes the weight gradient (as many again) but no
    # input gradient, because images need none.
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Sigmoid())
    forward = 2 * (2 * 32 * 32) * (3 * 3 * 3)
    assert throughput.training_flops(model) == 2 * forward


def test_reference_network_flops_add_up_layer_by_layer() -> None:
    # forward multiply-adds per layer: output pixels × output channels × (k² × input channels)
    layers = [(32 * 32, 8, 27), (16 * 16, 12, 72), (8 * 8, 16, 108), (16 * 16, 12, 144), (32 * 32, 3, 108)]
    forward = sum(2 * pixels * out * fan_in for pixels, out, fan_in in layers)
    first_input_gradient = 2 * 32 * 32 * 8 * 27  # the one backward product that is not computed
    assert throughput.training_flops(build(reference_architecture())) == 3 * forward - first_input_gradient


def test_the_three_pipelines_see_the_same_images_and_start_from_the_same_weights(train_folder: Path) -> None:
    indices = throughput.chosen_indices(24, 50_000)
    images = load_images(DataConfig(), indices)
    dataset = throughput.tutorial_dataset(train_folder, indices)
    for row in (0, 7, 23):
        normalised, label = dataset[row]
        assert torch.equal((normalised * 0.5 + 0.5).mul(255).round().to(torch.uint8), images.images[row])
        assert label == images.labels[row]
    a = throughput.seeded_model(TINY, torch.device("cpu")).state_dict()
    torch.manual_seed(throughput.SEED)  # what measure_ours does before fit
    b = build(TINY).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_each_pipeline_trains_and_returns_a_positive_rate(tiny_splits, train_folder: Path) -> None:
    images = ImageSet(tiny_splits.train.images[:96], tiny_splits.train.labels[:96])
    cpu = torch.device("cpu")
    started = time.perf_counter()
    ours = throughput.measure_ours(TINY, images, 16, cpu, 2)
    bare = throughput.measure_bare(TINY, images.images, 16, cpu, warmup=2)
    indices = throughput.chosen_indices(96, 50_000)
    tutorial = throughput.measure_tutorial(TINY, throughput.tutorial_dataset(train_folder, indices), 16, cpu, 2, workers=0)
    elapsed = time.perf_counter() - started
    measured = (ours, bare, tutorial)
    assert [m.pipeline for m in measured] == list(throughput.PIPELINES)
    for m in measured:
        # the 4 batches after the 2 warm-up ones; the rate is images per timed second
        assert m.batch == 16 and m.images == 96 - 2 * 16 and m.seconds > 0
        assert m.rate == m.images / m.seconds
    assert sum(m.seconds for m in measured) < elapsed  # each timed part lies inside its own call
    assert throughput.Measurement("x", 8, 300, 1.5).rate == 200.0


def test_summary_ratios_and_matmul_share() -> None:
    rows = throughput.summarise(
        [
            throughput.Measurement("ours", 128, 3000, 1.0),
            throughput.Measurement("bare NCHW", 128, 1000, 1.0),
            throughput.Measurement("tutorial", 128, 600, 1.0),
        ],
        flops_per_image=1e6,
        matmul=100.0,
    )
    (row,) = rows
    assert row["ours / bare NCHW"] == pytest.approx(3.0)
    assert row["ours / tutorial"] == pytest.approx(5.0)
    assert row["ours GFLOP/s"] == pytest.approx(3.0)
    assert row["ours share of matmul rate"] == pytest.approx(0.03)


def test_matmul_rate_is_the_timed_products_flops_over_their_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that reads 10 s, then 10.5 s, and notes how many products ran before each reading:
    # the rate is exact, and it must time the `repeats` products and nothing else (not the 2 warm-up ones).
    real_mm, clock = torch.mm, iter([10.0, 10.5])
    products: list[int] = []  # one entry per torch.mm
    readings: list[int] = []  # products run before each clock reading

    def mm(*args, **kwargs):
        products.append(1)
        return real_mm(*args, **kwargs)

    def perf_counter() -> float:
        readings.append(len(products))
        return next(clock)

    monkeypatch.setattr(torch, "mm", mm)
    monkeypatch.setattr(throughput, "time", SimpleNamespace(perf_counter=perf_counter))
    gflops = throughput.matmul_gflops(torch.device("cpu"), n=64, repeats=3)
    assert gflops == pytest.approx(2 * 64**3 * 3 / 0.5 / 1e9, rel=1e-12)
    assert readings == [2, 2 + 3] and len(products) == 5


def test_result_file_holds_the_machine_and_the_figures(tmp_path: Path) -> None:
    path = write_result("example", {"machine": machine(), "figures": [1, 2]}, folder=tmp_path)
    stored = json.loads(path.read_text())
    assert path.name == "example.json" and stored["benchmark"] == "example" and stored["figures"] == [1, 2]
    assert {"cpu", "cores", "torch", "device", "date", "commit"} <= set(stored["machine"])
    assert stored["machine"]["device"] == "cpu" and stored["machine"]["cores"] >= 1


def test_throughput_end_to_end_writes_its_json(tmp_path: Path, train_folder: Path) -> None:
    code = throughput.main(
        [
            "--images",
            "96",
            "--batches",
            "16",
            "--warmup",
            "1",
            "--matmul-size",
            "64",
            "--device",
            "cpu",
            "--tutorial-workers",
            "0",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    stored = json.loads((tmp_path / "throughput.json").read_text())
    assert {"machine", "settings", "matmul_gflops", "architectures", "targets"} <= set(stored)
    (row,) = stored["architectures"]["reference"]["rows"]
    assert row["batch"] == 16 and all(row[f"{p} images/s"] > 0 for p in throughput.PIPELINES)
    assert stored["architectures"]["reference"]["training_flops_per_image"] > 0


def test_pruning_comparison() -> None:
    pruned = {"epochs": 60, "seconds": 50.0, "best_val_mse": 0.0102}
    unpruned = {"epochs": 160, "seconds": 125.0, "best_val_mse": 0.0100}
    result = pruning.compare(pruned, unpruned)
    assert result["epochs_saved"] == pytest.approx(0.625)
    assert result["time_saved"] == pytest.approx(0.6)
    assert result["best_val_mse_change"] == pytest.approx(0.02)
    assert result["target_epochs_saved_50pct"] and result["target_best_within_5pct"]


def test_pruning_counts_epochs_from_the_recorded_curves() -> None:
    study = optuna.create_study()
    for curve, pruned in (([0.3, 0.2, 0.1], False), ([0.5], True)):
        trial = study.ask()
        trial.set_user_attr("val_mse", curve)
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
        study.tell(trial, None if pruned else min(curve), state=optuna.trial.TrialState.PRUNED if pruned else None)
    figures = pruning.study_figures(study, seconds=2.0)
    assert figures["epochs"] == 4 and figures["best_val_mse"] == 0.1
    assert figures["trials"] == {"complete": 1, "pruned": 1, "fail": 0}


def test_front_keeps_only_trials_no_smaller_latent_beats() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    for latent, curve in ((16, [0.03, 0.02]), (32, [0.025]), (64, [0.01]), (128, [0.012]), (256, [0.005])):
        trial = study.ask()
        trial.set_user_attr("latent_size", latent)
        trial.set_user_attr("val_mse", curve)
        study.tell(trial, [min(curve), latent])
    assert pruning.front_points(study) == [(16, 0.02), (64, 0.01), (256, 0.005)]  # 32 and 128 are beaten by smaller latents
    figures = pruning.study_figures(study, seconds=1.0)
    assert figures["best_within"] == {32: 0.02, 64: 0.01, 128: 0.01, 256: 0.005, 512: 0.005}


def test_hypervolume_of_a_two_point_front() -> None:
    # on (log2 latent, MSE) axes with reference (8, 1.0): points (4, 0.5) and (6, 0.25)
    area = pruning.hypervolume([(16, 0.5), (64, 0.25)], reference=(8.0, 1.0))
    assert area == pytest.approx((8 - 6) * (1 - 0.25) + (6 - 4) * (1 - 0.5))
    assert pruning.hypervolume([(16, 0.5)], (8.0, 1.0)) < area  # a front with more trials dominates more
    assert pruning.hypervolume([(512, 0.5)], (8.0, 1.0)) == 0  # beyond the reference: nothing


def test_overhead_timers_count_nested_time_once() -> None:
    timers = overhead.Timers()
    timers.new_trial()
    with timers.timing("outer"):
        time.sleep(0.02)
        with timers.timing("evaluate"):
            time.sleep(0.02)
    spent = timers.trials[0]
    assert spent["outer"] == pytest.approx(0.02, abs=0.015)
    assert spent["evaluate"] == pytest.approx(0.02, abs=0.015)
    assert timers.evaluations[0] == [spent["evaluate"]]


def test_overhead_breakdown_of_one_trial() -> None:
    start = datetime.datetime(2026, 1, 1)
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE,
        value=0.01,
        user_attrs={"epoch_seconds": [4.0, 4.0], "test_mse": 0.01},
    )
    trial.datetime_start, trial.datetime_complete = start, start + datetime.timedelta(seconds=10)
    timed = {"evaluate": 1.5, "train() outside its passes": 8.2 + 0.1, "sampling": 0.05, "progress bar per batch": 0.2}
    row = overhead.breakdown(trial, timed, evaluations=[0.5, 0.5, 0.5])  # two validation passes, then the test pass
    assert row["training_passes"] == 8.0 and row["validation_passes"] == 1.0
    assert row["overhead"] == pytest.approx(1.0) and row["overhead_share"] == pytest.approx(0.1)
    assert row["pieces"]["test evaluation"] == 0.5
    # train()'s own time excludes the progress bar's (timed apart) but the passes include it: 8.3 − (8.0 − 0.2)
    assert row["pieces"]["train() outside its passes"] == pytest.approx(0.5)
    assert sum(row["pieces"].values()) == pytest.approx(row["overhead"])


# ---------------------------------------------------------------- the training options measured


def test_auto_precision_is_float32_where_bfloat16_is_not_native(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) is torch.bfloat16
    monkeypatch.setattr("cae.training.cpu_has_native_bf16", lambda: False)
    assert autocast_dtype("auto", cpu) is None
    monkeypatch.setattr("cae.training.cpu_has_native_bf16", lambda: True)
    assert autocast_dtype("auto", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match=r"train\.precision"):
        autocast_dtype("fp16", cpu)


@pytest.mark.parametrize("options", [{"precision": "bf16"}, {"compile": True}], ids=["bf16", "compile"])
def test_training_options_give_finite_losses_close_to_float32(tiny_splits, options: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    if options.get("compile"):
        # the same graph capture and autograd split, without inductor's tens of seconds of C++ compiling
        compile_ = torch.compile
        monkeypatch.setattr(torch, "compile", lambda model: compile_(model, backend="aot_eager"))
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, device="cpu", precision="fp32")
    _, base = train(reference_architecture(), tiny_splits, cfg)
    _, other = train(reference_architecture(), tiny_splits, TrainConfig(**{**cfg.__dict__, **options}))
    assert base.precision == "fp32" and other.precision == options.get("precision", "fp32")
    assert all(math.isfinite(v) for v in other.train_mse + other.val_mse + [other.test_mse])
    assert other.val_mse[-1] == pytest.approx(base.val_mse[-1], rel=0.05)
    assert other.test_mse == pytest.approx(base.test_mse, rel=0.05)


@pytest.mark.slow
def test_deadline_benchmark_trains_each_way_to_the_epochs_left(tmp_path: Path) -> None:
    from benchmarks import deadline

    assert deadline.main(["--subset", "900", "--epochs", "3", "--left", "2", "--at", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "deadline.json").read_text())["rows"]
    assert [(r["way"], r["epochs_trained"]) for r in rows] == [("stopped", 2), ("shortened at 1", 2), ("planned", 2)]
    assert rows[-1]["against_planned_db"] == 0.0 and all(math.isfinite(r["val_psnr"]) for r in rows)
