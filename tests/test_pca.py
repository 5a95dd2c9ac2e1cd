"""The linear baseline: PCA against a direct SVD, its cache keyed by the split, and the gain in dB over it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import cae.pca
from cae.data import Splits
from cae.metrics import gain_db
from cae.pca import LinearCode, PcaBaseline, fit_pca, mse_curve, pca_baseline, pca_reconstruct


def random_images(n: int, seed: int) -> torch.Tensor:
    """``n`` seeded random uint8 images of 3×8×8 = 192 values."""
    return torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def direct_mse(train: torch.Tensor, test: torch.Tensor, d: int) -> float:
    """The test MSE of PCA with ``d`` components, straight from the SVD of the centred float64 train matrix."""
    x = train.reshape(len(train), -1).numpy().astype(np.float64) / 255
    y = test.reshape(len(test), -1).numpy().astype(np.float64) / 255
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    top = vt[:d]
    rebuilt = mean + (y - mean) @ top.T @ top
    return float(np.mean((rebuilt - y) ** 2))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # several chunks, the last one partial, so the chunked sums are what is tested
    monkeypatch.setattr(cae.pca, "CHUNK_ROWS", 64)


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def crops(splits: Splits) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-left 8×8 corner of real CIFAR-10 images: real pixel correlations, 192 values, N > D."""
    return splits.train.images[:, :, :8, :8].contiguous(), splits.test.images[:, :, :8, :8].contiguous()


@pytest.mark.parametrize("source", ["random", "cifar10"])
def test_curve_matches_a_direct_svd(source: str, small_chunks: None, request: pytest.FixtureRequest) -> None:
    if source == "random":
        train, test = random_images(300, seed=1), random_images(50, seed=2)
    else:
        train, test = crops(request.getfixturevalue("tiny_splits"))
    n_values = 192
    curve = mse_curve(fit_pca(train), test)
    assert curve.shape == (n_values + 1,)
    for d in (1, 10, 50, n_values - 1):
        # real pixels are strongly correlated: their last axes carry ~1e-6 of the variance, and the covariance's
        # eigenvectors for them are good to ~1e-10 of the error there (the SVD of the data matrix is not squared)
        rel = 1e-8 if source == "cifar10" and d == n_values - 1 else 1e-10
        assert curve[d] == pytest.approx(direct_mse(train, test, d), rel=rel, abs=0), d
    assert np.all(np.diff(curve) <= 0)
    assert curve[n_values] == pytest.approx(0, abs=1e-15)
    x = train.reshape(len(train), -1).numpy() / 255
    y = test.reshape(len(test), -1).numpy() / 255
    assert curve[0] == pytest.approx(np.mean((y - x.mean(axis=0)) ** 2), rel=1e-12)
    assert curve[n_values - 1] > 0  # the last axis still carries some of the test images' error


def test_eigenvalues_decrease_and_components_are_orthonormal(small_chunks: None) -> None:
    train = random_images(300, seed=3)
    code = fit_pca(train)
    assert isinstance(code, LinearCode)
    assert code.mean.dtype == code.components.dtype == code.eigenvalues.dtype == np.float64
    assert code.components.shape == (192, 192)
    assert np.all(np.diff(code.eigenvalues) <= 0)
    np.testing.assert_allclose(code.components.T @ code.components, np.eye(192), atol=1e-12)
    x = train.reshape(len(train), -1).numpy() / 255
    np.testing.assert_allclose(code.mean, x.mean(axis=0), rtol=1e-13)
    singular = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(code.eigenvalues, singular**2 / len(x), rtol=1e-9)
    # each column is an eigenvector of the covariance for its eigenvalue
    cov = (x - code.mean).T @ (x - code.mean) / len(x)
    np.testing.assert_allclose(cov @ code.components, code.components * code.eigenvalues, atol=1e-12)


def test_fewer_images_than_values(small_chunks: None) -> None:
    # 100 images of 192 values: the trailing 93 eigenvalues are ~0, and the curve still matches the SVD
    train, test = random_images(100, seed=12), random_images(30, seed=13)
    code = fit_pca(train)
    assert np.all(code.eigenvalues >= 0) and code.eigenvalues[99:].max() < 1e-14 < code.eigenvalues[98]
    np.testing.assert_allclose(code.components.T @ code.components, np.eye(192), atol=1e-12)
    curve = mse_curve(code, test)
    for d in (1, 10, 50, 99):
        assert curve[d] == pytest.approx(direct_mse(train, test, d), rel=1e-10, abs=0), d
    assert curve[150] > 0 and curve[192] == 0  # the axes past the training images' span still rebuild the test images


def test_reconstruction(small_chunks: None) -> None:
    train, test = random_images(300, seed=4), random_images(100, seed=5)
    code = fit_pca(train)
    full = pca_reconstruct(code, test, 192)
    assert full.shape == test.shape and full.dtype == torch.float32
    torch.testing.assert_close(full, test.float() / 255, atol=1e-6, rtol=0)
    some = pca_reconstruct(code, test, 10)
    assert some.min() >= 0 and some.max() <= 1
    # with 10 axes around a mean near 0.5 nothing is clamped: its error is the curve's
    assert float(((some.double() - test.double() / 255) ** 2).mean()) == pytest.approx(mse_curve(code, test)[10], rel=1e-5)
    mean_image = torch.from_numpy(code.mean).float().reshape(1, 3, 8, 8)
    torch.testing.assert_close(pca_reconstruct(code, test, 0), mean_image.expand_as(test), atol=1e-6, rtol=0)


def test_the_cache_is_read_back_and_keyed_by_the_split(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = random_images(300, seed=6), random_images(40, seed=7)
    messages: list[str] = []
    first = pca_baseline(train, test, on_progress=messages.append)
    assert messages == ["fitting PCA on 300 training images (cached afterwards)"]
    files = sorted(path.name for path in (private_cache / "pca").iterdir())
    # the curve (keyed by the split) and the fitted code (keyed by the training images); no temporary left behind
    assert len(files) == 2 and sum(name.startswith("code-") for name in files) == 1 and all(name.endswith(".npz") for name in files)
    assert (first.n_values, first.n_train) == (192, 300)
    np.testing.assert_array_equal(first.curve, mse_curve(fit_pca(train), test))

    def refuse(images: torch.Tensor) -> LinearCode:
        raise AssertionError("refitted although the curve is cached")

    monkeypatch.setattr(cae.pca, "fit_pca", refuse)
    again = pca_baseline(train.clone(), test.clone(), on_progress=messages.append)
    np.testing.assert_array_equal(again.curve, first.curve)
    assert (again.n_values, again.n_train) == (192, 300) and len(messages) == 1

    changed_test = test.clone()
    changed_test[0, 0, 0, 0] ^= 1
    changed_train = train.clone()
    changed_train[-1, 2, 7, 7] ^= 1
    for other_train in (changed_train, train[:-1]):  # other training images: another fit
        with pytest.raises(AssertionError, match="refitted"):
            pca_baseline(other_train, test)
    for other_test in (changed_test, test[:-1]):  # the same training images: the cached code, a new curve
        curve = pca_baseline(train, other_test).curve
        np.testing.assert_allclose(curve, mse_curve(fit_pca(train), other_test), rtol=1e-12)  # fit_pca: this module's own name
    assert cae.pca.split_key(train, test) != cae.pca.split_key(train, changed_test)


def test_a_damaged_cache_is_recomputed(private_cache: Path) -> None:
    train, test = random_images(300, seed=8), random_images(40, seed=9)
    first = pca_baseline(train, test)
    files = list((private_cache / "pca").iterdir())
    code = next(f for f in files if f.name.startswith("code-"))
    path = next(f for f in files if f != code)
    for damaged in (path, code):
        damaged.write_bytes(b"not an npz")
    messages: list[str] = []
    np.testing.assert_array_equal(pca_baseline(train, test, on_progress=messages.append).curve, first.curve)
    assert len(messages) == 1  # refitted: the damaged code could not be read
    with np.load(path, allow_pickle=False) as stored:  # and rewritten
        np.testing.assert_array_equal(stored["curve"], first.curve)


def test_an_unwritable_cache_still_gives_the_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CAE_CACHE_DIR", str(blocker / "cache"))  # under a file: nothing can be created there, even as root
    train, test = random_images(300, seed=10), random_images(40, seed=11)
    baseline = pca_baseline(train, test)
    np.testing.assert_array_equal(baseline.curve, mse_curve(fit_pca(train), test))
    assert blocker.read_text() == ""


def test_mse_and_reason() -> None:
    curve = np.linspace(0.06, 0.0, 3073)
    baseline = PcaBaseline(curve=curve, n_values=3072, n_train=48000)
    assert baseline.mse(0) == curve[0] and baseline.mse(256) == curve[256] and baseline.mse(3071) == curve[3071]
    assert baseline.reason(256) == ""
    for latent in (3072, 14080):
        assert baseline.mse(latent) is None
        assert f"{latent:,}" in baseline.reason(latent) and "3,072" in baseline.reason(latent)
    with pytest.raises(ValueError):
        baseline.mse(-1)


def test_gain_db() -> None:
    assert gain_db(0.02, 0.01) == pytest.approx(10 * math.log10(2))
    assert gain_db(0.03, 0.004) == pytest.approx(10 * math.log10(0.03 / 0.004))
    assert gain_db(0.01, 0.005) > 0  # the CAE's error is lower: it beats PCA
    assert gain_db(0.005, 0.01) < 0
    assert gain_db(0.01, 0.01) == 0
