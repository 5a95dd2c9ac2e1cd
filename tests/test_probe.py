"""analysis.probe: the probe on data with known answers, and the command end to end on the tiny study."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from analysis import probe
from analysis.probe import Labelled, chance, linear_probe, train_subset
from tests.conftest import analysis


def _blobs(n: int, rng: np.random.Generator, dims: int = 40) -> Labelled:
    """Two Gaussian blobs 4 standard deviations apart along one direction: separable by a hyperplane."""
    y = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, dims))
    x[:, 0] += 4 * y - 2
    return Labelled(x.astype(np.float32), y)


@pytest.mark.parametrize("max_features", [probe.MAX_FEATURES, 10], ids=["exact PCA", "randomized PCA"])
def test_linear_probe_reads_separable_classes_and_not_random_labels(max_features: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "MAX_FEATURES", max_features)
    rng = np.random.default_rng(0)
    separable = linear_probe(_blobs(600, rng), _blobs(200, rng), _blobs(1000, rng))
    assert separable.test_accuracy > 0.95 and separable.features == 40
    assert separable.components == 40 and separable.c in probe.CS and separable.iterations < probe.MAX_ITER
    x = rng.normal(size=(1800, 40)).astype(np.float32)
    labels = rng.integers(0, 10, size=1800)  # nothing to read: the probe must stay near chance on new images
    noise = linear_probe(Labelled(x[:600], labels[:600]), Labelled(x[600:800], labels[600:800]), Labelled(x[800:], labels[800:]))
    assert abs(noise.test_accuracy - chance(labels[800:])) < 0.05


@pytest.mark.parametrize("max_features", [probe.MAX_FEATURES, 10], ids=["exact PCA", "randomized PCA"])
def test_linear_probe_is_reproducible(max_features: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "MAX_FEATURES", max_features)
    rng = np.random.default_rng(1)
    parts = _blobs(300, rng), _blobs(100, rng), _blobs(100, rng)
    first = linear_probe(*parts)
    np.random.seed(1234)  # the global generators' state must not reach the probe: its seeds are its own
    torch.manual_seed(1234)
    assert linear_probe(*parts) == first
    assert linear_probe(*parts, seed=probe.SEED) == first
    # Known answers: the blobs overlap only in their tails, where the best rule (x₀ > 0) errs too;
    # the probe reads the classes as well as that rule, on each split.
    train, val, _ = parts
    for part, accuracy in zip(parts, (first.train_accuracy, first.val_accuracy, first.test_accuracy), strict=True):
        assert accuracy >= np.mean((part.x[:, 0] > 0) == part.y) - 0.03
    # Each accuracy is the one of its own split: test images that are the train images with every
    # label flipped score exactly the complement of the train accuracy, and pure noise scores chance.
    flipped = linear_probe(train, val, Labelled(train.x, 1 - train.y))
    assert flipped.test_accuracy == pytest.approx(1 - flipped.train_accuracy) and flipped.test_accuracy < 0.05
    noise = Labelled(rng.normal(size=(2000, 40)).astype(np.float32), rng.integers(0, 2, size=2000))
    assert abs(linear_probe(train, val, noise).test_accuracy - chance(noise.y)) < 0.05


def test_chance_and_train_subset() -> None:
    assert chance(np.array([0, 0, 1, 2])) == 0.5 and chance(np.repeat(np.arange(10), 7)) == pytest.approx(0.1)
    subset = train_subset(100, 30)
    assert len(subset) == 30 and subset.unique().numel() == 30 and (subset.diff() > 0).all()
    assert subset.equal(train_subset(100, 30)) and train_subset(100, 500).equal(train_subset(100, None))


def test_probe_writes_json_table_figure_and_report(tiny_study: Path, tmp_path: Path) -> None:
    done = analysis("probe", "--study", "tiny", "--max-train", "200", "--out", str(tmp_path), cwd=tiny_study)
    assert done.returncode == 0, done.stderr
    assert "train images used: 200 of 240" in done.stdout
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    latent = study.best_trial.user_attrs["latent_size"]
    result = json.loads((tmp_path / "probe.json").read_text())
    assert result["trial"] == study.best_trial.number and result["train_images"] == 200 and result["latent_size"] == latent
    runs = result["representations"]
    assert list(runs) == ["trained", "random", "pixels"]
    assert [runs[k]["features"] for k in runs] == [latent, latent, 3072]
    for run in runs.values():
        assert all(0 <= run[f"{split}_accuracy"] <= 1 for split in ("train", "val", "test"))
        assert 1 <= run["components"] <= run["features"] and run["seconds"] > 0
    assert 0 < result["chance"] <= 1
    table = pd.read_csv(tmp_path / "probe.csv")
    assert table["representation"].tolist() == ["trained encoder", "random encoder", "raw pixels"]
    assert table["test accuracy"].tolist() == [round(runs[k]["test_accuracy"], 4) for k in runs]
    report = (tmp_path / "probe.md").read_text()
    trained = runs["trained"]["test_accuracy"]
    assert f"**{trained:.1%}** test accuracy" in report and f"chance is {result['chance']:.1%}" in report
    assert "| trained encoder" in report and "![test accuracy per representation](probe.png)" in report
    assert (tmp_path / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_probe_refuses_missing_studies_pruned_trials_and_bad_flags(tiny_study: Path, tmp_path: Path) -> None:
    missing = analysis("probe", "--study", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "nope" in missing.stderr and "Traceback" not in missing.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    pruned = next(t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    refused = analysis("probe", "--study", "tiny", "--trial", str(pruned), "--out", str(tmp_path), cwd=tiny_study)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "is pruned" in refused.stderr
    bad = analysis("probe", "--study", "tiny", "--max-train", "0", cwd=tiny_study)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--max-train" in bad.stderr
    assert not list(tmp_path.glob("probe.*"))
