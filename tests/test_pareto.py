"""Multi-objective studies end to end (issue 11): error against latent size, the project's own pruning,
PCA's baseline recorded on every trial, the Pareto front in ``search best`` and in the analysis."""

from __future__ import annotations

import math
import os
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from rich.console import Console

from analysis.latent_vs_error import main as latent_vs_error
from cae.data import DataConfig, load_splits
from cae.pca import pca_baseline
from search.cli import main as search
from search.runtime.storage import default_storage
from search.trials.best import show_best
from tests.conftest import SPACES

TINY = (SPACES / "tiny.yaml").read_text()
# Two objectives; a pruner that compares every trial with all others (factor 100) against the
# 25th percentile from the second finished trial on: in 8 trials of 2 epochs, some are pruned.
PARETO = TINY.replace("name: tiny", "name: front\n  objectives: [val_mse, latent_size]").replace(
    "pruner: {type: median, n_startup_trials: 1, n_warmup_steps: 0}",
    "pruner: {type: latent_percentile, percentile: 25, latent_factor: 100, n_startup_trials: 2, n_warmup_steps: 0, n_min_trials: 1}",
)


@pytest.fixture(scope="module")
def front_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("front")
    (folder / "front.yaml").write_text(PARETO)
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert search(["run", "front.yaml", "--trials", "8", "--set", "data.subset=300"]) == 0
    finally:
        os.chdir(old)
    return folder


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="front", storage=default_storage("front").replace("sqlite:///", f"sqlite:///{folder}/"))


def test_two_objectives_are_minimised_and_trials_return_both(front_study: Path) -> None:
    study = _study(front_study)
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.metric_names == ["best val MSE", "latent size"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert complete
    for trial in complete:
        assert trial.values == [pytest.approx(min(trial.user_attrs["val_mse"])), trial.user_attrs["latent_size"]]
    assert study.best_trials  # Optuna's Pareto front
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 8


def test_pruned_trials_carry_the_rule_s_reason(front_study: Path) -> None:
    pruned = _study(front_study).get_trials(states=(TrialState.PRUNED,))
    assert pruned, "the latent pruner never pruned"
    for trial in pruned:
        reason = trial.user_attrs["reason"]
        assert reason.startswith("pruned at epoch ") and "25th percentile" in reason and "earlier trials with latent" in reason
        assert len(trial.user_attrs["val_mse"]) < 2  # stopped before its last epoch


def test_every_trial_records_pca_at_its_latent_size_and_its_gain(front_study: Path) -> None:
    data = load_splits(DataConfig(subset=300))
    baseline = pca_baseline(data.train.images, data.test.images)
    for trial in _study(front_study).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = trial.user_attrs
        assert a["pca_mse"] == pytest.approx(baseline.mse(a["latent_size"]), rel=1e-12)
        if trial.state == TrialState.COMPLETE:
            assert a["gain_db"] == pytest.approx(10 * math.log10(a["pca_mse"] / a["test_mse"]), abs=0.01)
        else:
            assert "gain_db" not in a  # no test error, no gain


def test_search_best_prints_the_front_with_gains(front_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(front_study)
    console = Console(record=True, width=250)
    assert show_best("front", console=console) == 0
    text = console.export_text()
    assert "Pareto front of study front (objectives: best val MSE, latent size)" in text
    assert "PCA dB" in text and "gain dB" in text
    for trial in _study(front_study).best_trials:
        assert f"{trial.user_attrs['gain_db']:+.2f}" in text


def test_latent_vs_error_draws_the_front_beside_pca(front_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(front_study)
    assert latent_vs_error(["--study", "front", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "latent_vs_error.md").read_text()
    assert "| gain dB |" in report.replace("  ", " ") or "gain dB" in report
    # the published points were measured on other pixels and another split: the report says so instead of placing them
    assert "ours: JPEG export, random split" in report and "not drawn" in report
    assert "front trials beat PCA" in report or "lose to PCA" in report
    assert (tmp_path / "latent_vs_error.png").stat().st_size > 10_000


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_an_image_folder_study_records_pca_of_its_own_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any folder of images gets its own linear baseline: PCA of its own training split, on its own test split."""
    from PIL import Image

    root = tmp_path / "photos"
    generator = torch.Generator().manual_seed(0)
    for label in ("sea", "sky"):
        (root / label).mkdir(parents=True)
        base = torch.rand(3, 1, 1, generator=generator)
        for i in range(60):
            pixels = (base + 0.3 * torch.rand(3, 8, 8, generator=generator)).clamp(0, 1)
            image = torch.nn.functional.interpolate(pixels[None], size=32, mode="bilinear")[0]
            Image.fromarray((image.permute(1, 2, 0) * 255).byte().numpy()).save(root / label / f"{i}.png")
    space = TINY.replace("name: tiny", "name: photos").replace("data:\n  subset: 600", f"data:\n  dataset: imagefolder\n  root: {root}")
    (tmp_path / "photos.yaml").write_text(space)
    monkeypatch.chdir(tmp_path)
    assert search(["run", "photos.yaml", "--trials", "2", "--set", "train.epochs=1"]) == 0
    data = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    baseline = pca_baseline(data.train.images, data.test.images)
    cifar = load_splits(DataConfig(subset=300))
    other = pca_baseline(cifar.train.images, cifar.test.images)
    study = optuna.load_study(study_name="photos", storage=default_storage("photos"))
    for trial in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        latent = trial.user_attrs["latent_size"]
        assert trial.user_attrs["pca_mse"] == pytest.approx(baseline.mse(latent), rel=1e-12)
        assert trial.user_attrs["pca_mse"] != pytest.approx(other.mse(latent), rel=1e-3)  # not CIFAR-10's


def test_a_multi_objective_study_without_pruning_finishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pruner: none in a study of several objectives: nothing reports to Optuna (Trial.report refuses them)."""
    (tmp_path / "plain.yaml").write_text(PARETO.replace("name: front", "name: plain"))
    monkeypatch.chdir(tmp_path)
    assert search(["run", "plain.yaml", "--trials", "2", "--set", "data.subset=300", "--set", "study.pruner={type: none}"]) == 0
    study = optuna.load_study(study_name="plain", storage=default_storage("plain"))
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
