"""analysis.latent_space: 2-D latents drawn as they are, larger ones through t-SNE, classes scored."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from analysis.latent_space import class_silhouette, default_trials, to_2d
from tests.conftest import analysis


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


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_latent_space_end_to_end(tiny_study: Path, tmp_path: Path) -> None:
    done = analysis("latent_space", "--study", "tiny", "--samples", "20", "--out", str(tmp_path), cwd=tiny_study)
    assert done.returncode == 0, done.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    trials = default_trials("tiny", f"sqlite:///{tiny_study}/studies/tiny.db")
    assert trials[-1] == study.best_trial.number and len(trials) in (1, 2)
    points = pd.read_csv(tmp_path / "latent_space.csv")
    assert len(points) == 20 * len(trials) and points["class"].nunique() > 1
    report = (tmp_path / "latent_space.md").read_text()
    assert "silhouette" in report and "Raw pixels score" in report
    assert (tmp_path / "latent_space.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_latent_space_refusals(tiny_study: Path, tmp_path: Path) -> None:
    missing = analysis("latent_space", "--study", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "nope" in missing.stderr
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    pruned = next(t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    refused = analysis("latent_space", "--study", "tiny", "--trial", str(pruned), "--out", str(tmp_path), cwd=tiny_study)
    assert refused.returncode == 2 and "pruned" in refused.stderr and refused.stderr.count("\n") == 1


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed here: nothing to refuse")
def test_umap_without_umap_learn_is_bad_input(tiny_study: Path, tmp_path: Path) -> None:
    done = analysis("latent_space", "--study", "tiny", "--samples", "40", "--method", "umap", "--out", str(tmp_path), cwd=tiny_study)
    # (the tiny study's latents are all larger than 2, so they need UMAP)
    assert done.returncode == 2 and "umap-learn is not installed" in done.stderr
