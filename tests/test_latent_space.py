"""analysis.latent_space: 2-D latents drawn as they are, larger ones through t-SNE, classes scored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from analysis.latent_space import (
    Embedded,
    LatentSpaceResult,
    class_silhouette,
    compute,
    default_trials,
    findings,
    main,
    plot,
    report,
    sample_test,
    to_2d,
)
from cae.training import to_unit
from search.trials.trial_model import load_trial


def test_two_dimensional_latents_are_drawn_as_they_are() -> None:
    vectors = np.random.default_rng(0).normal(size=(50, 2))
    points, method = to_2d(vectors, "tsne")
    assert method == "as is" and np.array_equal(points, vectors)
    points, method = to_2d(np.random.default_rng(0).normal(size=(60, 16)), "tsne")
    assert method == "t-SNE" and points.shape == (60, 2)


def test_silhouette_separates_clusters_from_noise() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    clustered = rng.normal(size=(120, 8)) * 0.1 + labels[:, None] * 5.0
    assert class_silhouette(clustered, labels) > 0.9
    assert abs(class_silhouette(rng.normal(size=(120, 8)), labels)) < 0.1


def test_latent_space_command_writes_points_figure_and_report(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tiny_study)  # the default storage, studies/tiny.db, is relative
    assert main(["--study", "tiny", "--samples", "20", "--method", "pca", "--out", str(tmp_path)]) == 0
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    trials = default_trials("tiny", None)
    assert trials[-1] == study.best_trial.number and len(trials) in (1, 2)
    points = pd.read_csv(tmp_path / "latent_space.csv")
    assert list(points.columns) == ["trial", "x", "y", "class"]
    assert len(points) == 20 * len(trials) and points["class"].nunique() > 1
    report = (tmp_path / "latent_space.md").read_text()
    assert "silhouette" in report and "Raw pixels score" in report and "](latent_space.png)" in report
    assert (tmp_path / "latent_space.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert all(f"wrote {tmp_path / name}" in printed for name in ("latent_space.png", "latent_space.csv", "latent_space.md"))


def test_latent_space_compute_scores_the_latents_it_returns(
    tiny_study: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tiny_study)
    result = compute("tiny", samples=20, method="pca")
    assert capfd.readouterr() == ("", "")  # without a console, nothing is printed
    assert [e.trial for e in result.embedded] == default_trials("tiny", None)
    first = load_trial("tiny", trial=result.embedded[0].trial)
    images, labels = sample_test(first.data().test, 20)
    assert result.samples == 20 and np.array_equal(result.labels, labels)
    for e in result.embedded:
        model = load_trial("tiny", trial=e.trial).model.eval()
        with torch.no_grad():
            latents = model.encode(to_unit(images)).flatten(1).numpy()
        assert e.latent_size == model.arch.latent_size and np.allclose(e.vectors, latents, atol=1e-5)
        # scored in the latent itself, not in the 2-D drawing
        assert e.silhouette == class_silhouette(e.vectors, result.labels) != class_silhouette(e.points, result.labels)
        assert e.method == "PCA" and np.allclose(e.points, PCA(2).fit_transform(e.vectors), atol=1e-4)
    pixels = to_unit(images).flatten(1).numpy()  # a reconstruction's encoder sees the RGB pixels
    assert result.pixels == pytest.approx(class_silhouette(pixels, labels)) and result.pixels_label == "raw pixels"


def _result(*silhouettes: float, pixels: float = 0.0) -> LatentSpaceResult:
    """A result of made-up numbers: the wording must follow them, whatever they are."""
    rng = np.random.default_rng(0)
    embedded = tuple(
        Embedded(f"trial {i} (latent 8)", i, 8, "PCA", rng.normal(size=(4, 8)), rng.normal(size=(4, 2)), s)
        for i, s in enumerate(silhouettes)
    )
    return LatentSpaceResult("s", "data", ("cat", "dog"), np.array([0, 1, 0, 1]), embedded, pixels, "raw pixels")


def test_latent_space_findings_follow_the_numbers(tmp_path: Path) -> None:
    none = _result(0.01)
    assert findings(none) == [
        "- trial 0 (latent 8): the classes form no clusters (silhouette 0.010, at most 0.25); level with raw pixels (+0.010, within 0.05)."
    ]
    files = {"png": tmp_path / "latent_space.png"}
    assert findings(none)[0] in report(none, files)
    [e] = none.embedded
    clustered = dataclasses.replace(none, embedded=(dataclasses.replace(e, silhouette=0.6),))
    [line] = findings(clustered)
    assert "form reasonable clusters (silhouette 0.600, above 0.5)" in line and "0.600 above raw pixels" in line
    assert "no clusters" not in line and "level with" not in line
    assert "weak clusters" in findings(_result(0.3))[0] and "strong clusters" in findings(_result(0.75))[0]
    assert "nearer another class than its own" in findings(_result(-0.2))[0]
    below = findings(dataclasses.replace(clustered, pixels=0.8))[0]
    assert "0.200 below raw pixels: the encoder has mixed the classes" in below
    two = findings(_result(0.1, 0.4, pixels=0.2))
    assert two[-1] == "- The highest silhouette is trial 1 (latent 8)'s." and "0.100 below" in two[0] and "0.200 above" in two[1]
    assert "of their 2 classes" in report(none, files)  # counted in the sample, not assumed to be CIFAR-10's ten


def test_latent_space_plot_draws_each_trial_s_points_by_class() -> None:
    result = _result(0.1, 0.4)
    figure = plot(result)
    assert isinstance(figure, Figure) and plt.get_fignums() == []
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["trial 0 (latent 8): PCA, silhouette 0.100", "trial 1 (latent 8): PCA, silhouette 0.400"]
    for ax, e in zip(figure.axes, result.embedded, strict=True):
        assert np.allclose(ax.collections[0].get_offsets(), e.points)
    legend = figure.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["cat", "dog"] and figure.axes[1].get_legend() is None
    assert figure.texts[0].get_text() == "study s: 4 test images by class"
