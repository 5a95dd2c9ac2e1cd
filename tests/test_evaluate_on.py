"""A trial on other images (``search.evaluate``, ``python -m analysis.evaluate --on``): both PSNR conventions, PCA beside it."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import search
from analysis import evaluate as evaluate_command
from cae.code_fit import CodeFit, FittedCodes, LinearCodes
from cae.data import DataError
from cae.pca import fit_pca, pca_reconstruct
from cae.training import reconstruct
from search.evaluation import MEAN_MSE, MEAN_PSNR, Scores
from tests.conftest import SPACES
from tests.dataset_files import random_images, write_mnist_family

# the 846 official test images at their original pixels, beside the JPEG export (../shared/data/README.md)
ORIGINALS = Path(os.environ.get("CAE_DATA_DIR", "data")).resolve().parent / "cifar10-original-sample" / "test"


def test_both_conventions_against_a_hand_computed_case() -> None:
    # two images at 20 dB and 40 dB: the mean MSE is 0.00505, 22.97 dB; the mean of their PSNRs is 30 dB
    scores = Scores.of(torch.tensor([0.01, 0.0001], dtype=torch.float64))
    assert scores.images == 2 and scores.mse == pytest.approx(0.00505)
    assert scores.psnr_of_mean_mse == pytest.approx(10 * math.log10(1 / 0.00505))
    assert scores.mean_of_psnrs == pytest.approx(30.0)
    assert Scores.of(np.array([0.01, 0.01])).mean_of_psnrs == pytest.approx(Scores.of(np.array([0.01])).psnr_of_mean_mse)  # alike


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding studies/tiny.db with one complete trial of spaces/tiny.yaml (300 images, 1 epoch)."""
    from search.cli import main as search_main

    folder = tmp_path_factory.mktemp("evaluate-on")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert search_main(["run", str(SPACES / "tiny.yaml"), "--trials", "1", "--set", "data.subset=300", "--set", "train.epochs=1"]) == 0
    return folder


def _two_images(folder: Path) -> torch.Tensor:
    images = random_images(2, 3, 32, seed=5)
    (folder / "a").mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / "a" / f"{i}.png")
    return torch.from_numpy(images)


def test_a_trial_on_two_images_is_scored_as_computed_by_hand(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    images = _two_images(tmp_path / "two")
    result = search.evaluate(("tiny", 0), data=str(tmp_path / "two"))
    loaded = search.load_trial("tiny", trial=0)
    truth = images.double() / 255
    network = (reconstruct(loaded.model, images).double() - truth).square().flatten(1).mean(1).numpy()
    d = loaded.model.arch.latent_size
    pca = (pca_reconstruct(fit_pca(loaded.data().train.images), images, d).double() - truth).square().flatten(1).mean(1).numpy()
    for scores, mse in ((result.network, network), (result.pca, pca)):
        assert scores is not None and scores.images == 2
        assert scores.psnr_of_mean_mse == pytest.approx(-10 * math.log10(mse.mean()), rel=1e-6)
        assert scores.mean_of_psnrs == pytest.approx(np.mean(-10 * np.log10(mse)), rel=1e-6)
        assert scores.mean_of_psnrs >= scores.psnr_of_mean_mse  # Jensen: never lower
    assert result.latent_size == d and result.pixels == "original" and result.shape == (3, 32, 32)
    # a LoadedTrial, and a FrozenTrial with its study, name the same trial
    assert search.evaluate(loaded, data=str(tmp_path / "two")).network == result.network
    assert search.evaluate(loaded.trial, data=str(tmp_path / "two"), study="tiny").network == result.network


def test_images_of_another_shape_are_refused_naming_both(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    write_mnist_family(tmp_path, "MNIST", n_train=0, n_test=10)
    with pytest.raises(DataError, match=r"^data: MNIST at .* holds 1 × 28 × 28 images; study tiny, trial 0 was trained on 3 × 32 × 32$"):
        search.evaluate(("tiny", 0), data=str(tmp_path))


def test_the_command_refuses_another_shape_in_one_line(trained: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(trained)
    write_mnist_family(tmp_path, "MNIST", n_train=0, n_test=10)
    assert evaluate_command.main(["--study", "tiny", "--on", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: command line: --on: MNIST at ") and "1 × 28 × 28" in err and "3 × 32 × 32" in err
    assert err.count("\n") == 1


def test_the_command_on_the_846_originals_names_both_conventions(trained: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(trained)
    assert evaluate_command.main(["--study", "tiny", "--on", str(ORIGINALS), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "on 846 images of PNG images at" in out and "(original pixels)" in out
    assert f"{MEAN_MSE} dB" in out and f"{MEAN_PSNR} dB" in out and "PCA, " in out
    assert f"dB ({MEAN_MSE}), " in out and f"dB ({MEAN_PSNR})" in out  # the gain over PCA, each convention named
    assert (tmp_path / "evaluate-on-cifar10-original-sample-test.csv").is_file()


def test_fitted_codes_are_scored_beside_the_encoders(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trained)
    images = _two_images(tmp_path / "two")
    result = search.evaluate(("tiny", 0), data=str(tmp_path / "two"), fit=CodeFit(20))
    loaded = search.load_trial("tiny", trial=0)
    fitted = (reconstruct(FittedCodes(loaded.model, CodeFit(20)), images).double() - images.double() / 255).square().flatten(1).mean(1)
    assert result.fitted is not None and result.fitted.mse == pytest.approx(fitted.mean().item(), rel=1e-6)
    assert result.fitted.mse < result.network.mse  # the same decoder from better codes
    assert result.fitted_gains_db[0] == pytest.approx(result.fitted.psnr_of_mean_mse - result.pca.psnr_of_mean_mse)
    assert result.fit == "codes fitted per image (20 Adam steps at 0.01)"
    assert search.evaluate(("tiny", 0), data=str(tmp_path / "two")).fitted is None


def test_the_command_fits_codes_only_on_the_images_it_names(trained: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(trained)
    assert evaluate_command.main(["--study", "tiny", "--fit-steps", "3"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: command line: --fit-steps: expected --on as well: codes are fitted on the images it names")
        and err.count("\n") == 1
    )
    _two_images(tmp_path / "two")
    assert evaluate_command.main(["--study", "tiny", "--on", str(tmp_path / "two"), "--fit-steps", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "network, codes fitted per image (3 Adam steps at 0.01)" in out and "network from codes fitted per image" in out


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding studies/pareto.db with one complete trial of a small network started from PCA's code (linear_skip)."""
    from search.cli import main as search_main

    folder = tmp_path_factory.mktemp("evaluate-started")
    small = ("data.subset=600", "train.epochs=1", "model.channels=[4, 8, 8]", "model.latent_dim=16", "model.refine_depth=1")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert search_main(["run", str(SPACES / "pareto.yaml"), "--trials", "1", *(a for s in small for a in ("--set", s))]) == 0
    return folder


def test_a_network_started_from_pca_splits_its_gain_into_its_decoders_and_its_encoders(
    started: Path, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(started)
    images = _two_images(tmp_path / "two")
    result = search.evaluate(("pareto", 0), data=str(tmp_path / "two"), fit=CodeFit(5))
    loaded = search.load_trial("pareto", trial=0)
    linear = (reconstruct(LinearCodes(loaded.model), images).double() - images.double() / 255).square().flatten(1).mean(1)
    assert result.linear_code is not None and result.linear_code.mse == pytest.approx(linear.mean().item(), rel=1e-6)
    shares = result.shares_db
    assert shares["decoder"] == pytest.approx(result.linear_code.psnr_of_mean_mse - result.pca.psnr_of_mean_mse)
    assert shares["decoder"] + shares["encoder"] == pytest.approx(result.gains_db[0])  # the two shares are the whole gain
    assert shares["fitted"] == pytest.approx(result.fitted.psnr_of_mean_mse - result.network.psnr_of_mean_mse)
    assert evaluate_command.main(["--study", "pareto", "--on", str(tmp_path / "two"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "network's decoder from PCA's code" in out and f"its decoder from PCA's code gives {shares['decoder']:+.2f}" in out
    assert "fitted codes add" not in out  # no codes fitted, no share for them
    monkeypatch.chdir(trained)  # a network not started from PCA has no linear code to split its gain by
    plain = search.evaluate(("tiny", 0), data=str(tmp_path / "two"))
    assert plain.linear_code is None and plain.shares_db is None
