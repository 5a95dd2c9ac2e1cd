"""The linear baseline: PCA fitted on a study's training split, the optimal linear autoencoder at every latent size.

A CAE whose latent holds ``d`` values is compared with the best any linear code of ``d`` values can
do: project each centred image onto the top ``d`` principal components of the training images and
back. :func:`pca_baseline` gives that test-split MSE (on the [0, 1] pixel scale) at every ``d``
below the input's number of values ``D``, cached per split; :func:`cae.metrics.gain_db` is how far a CAE beats it::

    baseline = pca_baseline(splits.train.images, splits.test.images)   # splits: cae.data.load_splits(...)
    baseline.mse(256), gain_db(baseline.mse(256), result.test_mse)     # result: cae.training.train(...)

Pure numpy/torch, all in float64: the covariance of 48,000 CIFAR-10 images is accumulated a chunk at
a time, so they never exist as one float64 matrix (that would be 1.2 GB).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cae.cache import Fingerprint, cache_dir, load_npz, save_npz

CHUNK_ROWS = 4096  # images converted to float64 at a time: 100 MB of CIFAR-10
# Part of every cache key: bump it when the way the curve is computed changes, so no stale curve is reused.
CACHE_VERSION = "pca-curve-1"


@dataclass(frozen=True)
class LinearCode:
    """A PCA fitted on flattened images in [0, 1]: their mean, all principal axes and the variance along each."""

    mean: np.ndarray  # float64 [D]
    components: np.ndarray  # float64 [D, D]; column k is the k-th axis, by decreasing variance
    eigenvalues: np.ndarray  # float64 [D], decreasing: the mean squared projection of the training images on each axis

    @property
    def n_values(self) -> int:
        """D, the number of values of one image (3·32·32 = 3,072 for CIFAR-10)."""
        return len(self.mean)


@dataclass(frozen=True)
class PcaBaseline:
    """PCA's test MSE at every latent size ``d`` < D (``curve[d]``), for comparing trained CAEs with."""

    curve: np.ndarray  # float64 [D + 1]
    n_values: int  # D
    n_train: int  # images the PCA was fitted on

    def mse(self, latent_size: int) -> float | None:
        """PCA's test MSE with ``latent_size`` components, or None when the latent is as large as the input or larger."""
        if latent_size < 0:
            raise ValueError(f"latent size must be ≥ 0, got {latent_size}")
        if latent_size >= self.n_values:
            # with d = D PCA is lossless, and a larger code can simply copy the image: no linear code to compare with
            return None
        return float(self.curve[latent_size])

    def reason(self, latent_size: int) -> str:
        """Why :meth:`mse` has no baseline for ``latent_size`` (an empty string when it has one)."""
        if 0 <= latent_size < self.n_values:
            return ""
        if latent_size < 0:
            return f"latent {latent_size:,} is negative"
        return (
            f"latent {latent_size:,} ≥ the input's {self.n_values:,} values: an over-complete code can copy the image, "
            "so PCA has no meaningful size to compare with"
        )


def _flat_chunks(images: torch.Tensor) -> Iterator[torch.Tensor]:
    """The images as float64 rows in [0, 1], :data:`CHUNK_ROWS` at a time (only one chunk is ever float64)."""
    flat = images.detach().cpu().reshape(len(images), -1)
    for start in range(0, len(flat), CHUNK_ROWS):
        yield flat[start : start + CHUNK_ROWS].to(torch.float64).div_(255)


def fit_pca(images: torch.Tensor) -> LinearCode:
    """Fit PCA on uint8 images N×C×H×W (pixels 0–255, taken as [0, 1]): the mean and every principal axis.

    Two passes over the images: the mean first, then the covariance of the centred rows. Centring
    each chunk before multiplying (rather than X^T X − N·μμ^T afterwards) avoids the cancellation
    of two large nearly equal matrices, which would cost the smallest eigenvalues their accuracy.
    When N − 1 < D the trailing eigenvalues are (numerically) zero: their axes are arbitrary but
    still orthonormal, so reconstructions and the MSE curve stay exact.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty N×C×H×W image tensor, got shape {tuple(images.shape)}")
    n, n_values = len(images), math.prod(images.shape[1:])
    total = torch.zeros(n_values, dtype=torch.float64)
    for x in _flat_chunks(images):
        total += x.sum(dim=0)
    mean = total / n
    cov = torch.zeros(n_values, n_values, dtype=torch.float64)
    for x in _flat_chunks(images):
        x -= mean
        cov.addmm_(x.T, x)
    cov /= n  # divided by N (not N − 1): eigenvalue k is then the training images' mean squared projection on axis k
    eigenvalues, components = torch.linalg.eigh(cov)  # ascending
    del cov
    eigenvalues = eigenvalues.flip(0).clamp_(min=0)  # the covariance is positive semi-definite: negatives are rounding
    components = components.flip(1)
    return LinearCode(mean=mean.numpy(), components=components.contiguous().numpy(), eigenvalues=eigenvalues.contiguous().numpy())


def _check_shape(code: LinearCode, images: torch.Tensor) -> None:
    if images.ndim != 4 or math.prod(images.shape[1:]) != code.n_values:
        raise ValueError(f"expected N×C×H×W images of {code.n_values:,} values each, got shape {tuple(images.shape)}")


def mse_curve(code: LinearCode, images: torch.Tensor) -> np.ndarray:
    """The MSE ([0, 1] scale, mean over every value of every image) of reconstructing ``images`` from d components, d = 0…D.

    One pass: each chunk of centred images is projected onto all D axes, and the squared
    projections are summed per axis. Because the axes form a complete orthonormal basis, the error
    with the top d axes is the sum over the remaining axes d…D−1; summing that tail, rather than
    subtracting the first d from the total, keeps the small errors at large d free of cancellation
    (entry D is exactly 0, entry 0 the squared distance to the training mean).
    """
    _check_shape(code, images)
    if len(images) == 0:
        raise ValueError("expected at least one image")
    mean = torch.from_numpy(code.mean)
    components = torch.from_numpy(code.components)
    per_axis = torch.zeros(code.n_values, dtype=torch.float64)
    for x in _flat_chunks(images):
        x -= mean
        per_axis += (x @ components).square_().sum(dim=0)
    tail = np.zeros(code.n_values + 1)
    tail[:-1] = np.cumsum(per_axis.numpy()[::-1])[::-1]
    return np.clip(tail / (len(images) * code.n_values), 0, None)


def _top_axes(code: LinearCode, images: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The code's mean and its top ``d`` axes (D × d), after checking ``images`` and ``d`` against it."""
    _check_shape(code, images)
    if not 0 <= d <= code.n_values:
        raise ValueError(f"expected 0 ≤ d ≤ {code.n_values:,}, got {d}")
    return torch.from_numpy(code.mean), torch.from_numpy(code.components[:, :d])


def pca_reconstruct(code: LinearCode, images: torch.Tensor, d: int) -> torch.Tensor:
    """The images (uint8 N×C×H×W) rebuilt from their top ``d`` principal components, as float32 in [0, 1], same shape."""
    mean, top = _top_axes(code, images, d)
    out = torch.empty(len(images), code.n_values, dtype=torch.float32)
    start = 0
    for x in _flat_chunks(images):
        x -= mean
        out[start : start + len(x)] = ((x @ top) @ top.T + mean).clamp_(0, 1).to(torch.float32)
        start += len(x)
    return out.reshape(images.shape)


def pca_codes(code: LinearCode, images: torch.Tensor, d: int) -> torch.Tensor:
    """PCA's latent code of uint8 images N×C×H×W: their coordinates on the top ``d`` principal axes (N×d, float32)."""
    mean, top = _top_axes(code, images, d)
    return torch.cat([(x - mean) @ top for x in _flat_chunks(images)]).to(torch.float32)


def split_key(train: torch.Tensor, test: torch.Tensor) -> str:
    """The cache key of a (train, test) pair: a hash of both image arrays, their shapes and types, and the curve's version."""
    return Fingerprint(CACHE_VERSION, train, b"|test|", test).hexdigest()


def _load(path: Path, n_values: int, n_train: int) -> PcaBaseline | None:
    stored = load_npz(path, "curve", "n_values", "n_train")
    if stored is None:
        return None  # missing or damaged: recomputed by the caller
    curve, stored_values, stored_train = stored
    if (int(stored_values), int(stored_train)) != (n_values, n_train) or curve.shape != (n_values + 1,) or curve.dtype != np.float64:
        return None
    return PcaBaseline(curve=curve, n_values=n_values, n_train=n_train)


def _store(path: Path, baseline: PcaBaseline) -> None:
    save_npz(path, curve=baseline.curve, n_values=np.int64(baseline.n_values), n_train=np.int64(baseline.n_train))


def pca_baseline(train: torch.Tensor, test: torch.Tensor, on_progress: Callable[[str], None] | None = None) -> PcaBaseline:
    """PCA's test MSE at every latent size, fitted on ``train`` (uint8 N×C×H×W) and measured on ``test``, cached by the split.

    The cache holds only the curve (D + 1 floats) under ``cache_dir()/pca/<key>.npz``, the key a
    hash of both image arrays: any dataset or subset gets its own entry, and a changed split can
    never reuse a stale one. ``on_progress`` hears one line before a cache miss starts the fit
    (about a minute for 48,000 CIFAR-10 images on 2 cores); nothing is printed.
    """
    if train.ndim != 4 or test.ndim != 4 or train.shape[1:] != test.shape[1:]:
        raise ValueError(f"expected train and test images of the same N×C×H×W shape, got {tuple(train.shape)} and {tuple(test.shape)}")
    n_values, n_train = math.prod(train.shape[1:]), len(train)
    path = cache_dir() / "pca" / f"{split_key(train, test)}.npz"
    cached = _load(path, n_values, n_train)
    if cached is not None:
        return cached
    baseline = PcaBaseline(curve=mse_curve(linear_code(train, on_progress), test), n_values=n_values, n_train=n_train)
    _store(path, baseline)
    return baseline


def linear_code(train: torch.Tensor, on_progress: Callable[[str], None] | None = None) -> LinearCode:
    """:func:`fit_pca` of ``train``, cached by the images' hash (75 MB for CIFAR-10): a fit costs a minute,
    and every trial that starts from the linear code (``model.linear_skip``) needs it."""
    path = cache_dir() / "pca" / f"code-{Fingerprint(CACHE_VERSION, train).hexdigest()}.npz"
    stored = load_npz(path, "mean", "components", "eigenvalues")
    if stored is not None:  # else missing or damaged: fitted again below
        code = LinearCode(*stored)
        if code.components.shape == (code.n_values, code.n_values) == (math.prod(train.shape[1:]),) * 2:
            return code
    if on_progress is not None:
        on_progress(f"fitting PCA on {len(train):,} training images (cached afterwards)")
    code = fit_pca(train)
    save_npz(path, mean=code.mean, components=code.components, eigenvalues=code.eigenvalues)
    return code


@torch.no_grad()
def start_from_linear_code(model: torch.nn.Module, code: LinearCode) -> None:
    """Set a ``linear_skip`` model to PCA's code of its latent size: the linear path projects onto the
    top components and back, and the last encoder and decoder layers with weights start at zero,
    so the untrained model reconstructs exactly as PCA does and training only adds the convolutions'
    corrections.

    The linear path is frozen (``requires_grad=False``): trained with the convolutions' learning rate,
    Adam moves every weight by about the rate each step, which shook the components (entries of about
    1/√3,072 = 0.018): on CIFAR-10 at latent 256, 2 epochs at 2e-3 ended 0.39 dB *under* PCA with a trained
    path and above it with a frozen one.
    """
    arch = model.arch
    d = arch.latent_size
    if not arch.linear_skip or d >= code.n_values or arch.in_channels * arch.image_size**2 != code.n_values:
        raise ValueError(f"expected a linear_skip model below {code.n_values:,} latent values on {code.n_values:,}-value images")
    top = torch.from_numpy(code.components[:, :d])  # D × d
    mean = torch.from_numpy(code.mean)
    model.skip_in.weight.copy_(top.T)
    model.skip_in.bias.copy_(-(top.T @ mean))
    model.skip_out.weight.copy_(top)
    model.skip_out.bias.copy_(mean)
    for parameter in (*model.skip_in.parameters(), *model.skip_out.parameters()):
        parameter.requires_grad_(False)
    for part in (model.encoder, model.decoder):
        last = [m for m in part.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d | torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.zero_()
