"""analysis.probe: the probe on data with known answers, and the command end to end on the tiny study."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from analysis import probe
from analysis.encoding import encode_images, pixels_of
from analysis.probe import Labelled, chance, linear_probe, train_subset
from cae.tasks import task_of
from search.trials.trial_model import load_trial


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


# The exact PCA (the eigendecomposition of a features × features covariance) of the tiny study's
# pixels and latents takes seconds per fit on one core; the randomized one the probe uses above
# MAX_FEATURES, hundredths. The exact path is the one the blobs above test.
RANDOMIZED = 10


def test_probe_command_writes_json_table_figure_and_report(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(probe, "MAX_FEATURES", RANDOMIZED)
    monkeypatch.chdir(tiny_study)  # the default storage, studies/tiny.db, is relative
    assert probe.main(["--study", "tiny", "--max-train", "200", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "train images used: 200 of 240" in printed and f"wrote {tmp_path / 'probe.md'}" in printed
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
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
    assert result["classes"] == "the 10 classes of CIFAR-10"  # named from the study's data
    table = pd.read_csv(tmp_path / "probe.csv")
    assert table["representation"].tolist() == ["trained encoder", "random encoder", "raw pixels"]
    assert table["test accuracy"].tolist() == [round(runs[k]["test_accuracy"], 4) for k in runs]
    report = (tmp_path / "probe.md").read_text()
    trained = runs["trained"]["test_accuracy"]
    assert f"**{trained:.1%}** test accuracy" in report and f"chance is {result['chance']:.1%}" in report
    assert "| trained encoder" in report and "![test accuracy per representation](probe.png)" in report
    assert "read for the 10 classes of CIFAR-10" in report
    assert (tmp_path / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_probe_compute_measures_the_pixels_as_linear_probe_does(
    tiny_study: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(probe, "MAX_FEATURES", RANDOMIZED)
    monkeypatch.chdir(tiny_study)
    result = probe.compute("tiny", max_train=100)
    assert capfd.readouterr() == ("", "")  # without a console, nothing is printed
    loaded = load_trial("tiny")
    data = loaded.data()
    assert (result.trial, result.latent_size, result.task) == (loaded.trial.number, loaded.model.arch.latent_size, "reconstruction")
    assert (result.train_images, result.train_images_available, result.test_images) == (100, len(data.train), len(data.test))
    assert result.chance == chance(data.test.labels.numpy())
    for row in result.rows.values():
        p = row.probe
        assert all(0 <= a <= 1 for a in (p.train_accuracy, p.val_accuracy, p.test_accuracy)) and p.c in probe.CS
    # the pixel reference is nothing but the probe of the pixels the encoder sees, on the same images
    chosen = train_subset(len(data.train), 100)
    task = task_of(loaded.model)
    parts = [
        Labelled(encode_images(pixels_of, images, task), labels.numpy())
        for images, labels in ((data.train.images[chosen], data.train.labels[chosen]), (data.val.images, data.val.labels))
    ]
    test = Labelled(encode_images(pixels_of, data.test.images, task), data.test.labels.numpy())
    assert result.rows["pixels"].probe == linear_probe(*parts, test)
    assert result.rows["trained"].probe.features == loaded.model.arch.latent_size


def _probed(n: int, chance_level: float, **accuracies: float) -> probe.ProbeResult:
    """A result of made-up test accuracies on ``n`` test images: the wording must follow them, whatever they are."""
    rows = {
        key: probe.Row(key, label, probe.Probe(10, 10, 1.0, 5, 1.0, 0.5, accuracies[key]), 1.0)
        for key, label in probe.REPRESENTATIONS.items()
    }
    return probe.ProbeResult(
        "s", 0, "study s, trial 0", "reconstruction", 10, "data", 100, 100, n, n, chance_level, "pixels", rows, "the 10 classes of CIFAR-10"
    )


def test_probe_reading_follows_the_numbers() -> None:
    helped = probe.reading(_probed(10_000, 0.1, trained=0.6, random=0.3, pixels=0.4))
    assert "**60.0%** test accuracy: 30.0 points above a random encoder" in helped and "20.0 points above the raw pixels" in helped
    assert "Training made the classes easier to read linearly: 30.0 points over random weights" in helped
    assert "40% is there with random weights already: training, not the architecture," in helped
    hurt = probe.reading(_probed(10_000, 0.1, trained=0.3, random=0.6, pixels=0.4))
    assert "Training made the classes harder to read linearly: random weights score 30.0 points higher" in hurt
    assert "easier" not in hurt and "lead over chance" not in hurt
    # one point apart on 10,000 images is within noise; on a million, it is not
    close = probe.reading(_probed(10_000, 0.1, trained=0.45, random=0.44, pixels=0.45))
    assert "differ by 1.0 points, within the 1.4 points" in close and "cannot tell whether training helped" in close
    assert "the architecture, not training," in close and "Against the raw pixels, the latent is level" in close
    assert "easier to read" in probe.reading(_probed(1_000_000, 0.1, trained=0.45, random=0.44, pixels=0.3))
    tiny = probe.reading(_probed(30, 0.167, trained=0.2, random=0.133, pixels=0.167))
    assert "no better than chance" in tiny and "cannot tell" in tiny


def test_probe_plot_draws_each_accuracy_and_chance() -> None:
    figure = probe.plot(_probed(1000, 0.1, trained=0.6, random=0.3, pixels=0.45))
    assert isinstance(figure, Figure) and plt.get_fignums() == []
    [ax] = figure.axes
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([60.0, 30.0, 45.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(probe.REPRESENTATIONS.values())
    [chance_line] = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert list(chance_line.get_ydata()) == [10.0, 10.0] and chance_line.get_label() == "chance (10.0%)"
    assert ax.get_title() == "study s, trial 0: linear probe of the 10 classes of CIFAR-10"  # the data's, never a fixed name
