"""The linear baseline: PCA fitted on a study's training split, the optimal linear autoencoder at every latent size.

A CAE whose latent holds ``d`` values is compared with the best any linear code of ``d`` values can
do: project each centred image onto the top ``d`` principal components of the training images and
back. :func:`pca_baseline` gives that test-split MSE (on the [0, 1] pixel scale) at every ``d``
below the input's number of values ``D``, cached per split; :func:`cae.metrics.gain_db` is how far a CAE beats it::

    baseline = pca_baseline(splits.train.images, splits.test.images)   # splits: cae.data.load_splits(...)
    baseline.mse(256), gain_db(baseline.mse(256), result.test_mse)     # result: cae.training.train(...)

Pure numpy/torch, all in float64: the covariance of 48,000 CIFAR-10 images is accumulated a chunk at
a time, so they never exist as one float64 matrix (that would be 1.2 GB). ``D`` is the images' own
C·H·W, whatever their shape. Larger images than there are of them (a few thousand 3×64×64
photographs, D = 12,288) are fitted through their N×N Gram matrix instead of the D×D covariance
(:data:`GRAM_ABOVE`); their PCA then has at most N − 1 axes, and a latent size past them has no
baseline (:meth:`PcaBaseline.reason` says so).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cae.cache import Fingerprint, cache_dir, load_npz, save_npz

CHUNK_ROWS = 4096  # images converted to float64 at a time, at most: 100 MB of CIFAR-10
CHUNK_VALUES = 4096 * 3072  # and at most this many values (100 MB of float64), so that large images come fewer at a time
# Above this many values per image, and with fewer images than values, PCA is fitted through the images' Gram
# matrix: a D×D covariance would hold D² floats (1.2 GB at 3×64×64, 6 GB at 3×96×96) and cost O(D³) to
# diagonalise, while their span has at most N − 1 axes anyway. At or below it (CIFAR-10's 3,072 values
# included) the covariance is cheap and gives all D axes, so a latent of any size below D has a baseline.
GRAM_ABOVE = 4096
# Part of every cache key: bump it when the way the curve is computed changes, so no stale curve is reused.
CACHE_VERSION = "pca-curve-1"


@dataclass(frozen=True)
class LinearCode:
    """A PCA fitted on flattened images in [0, 1]: their mean, all principal axes and the variance along each."""

    mean: np.ndarray  # float64 [D]
    components: np.ndarray  # float64 [D, A]; column k is the k-th axis, by decreasing variance (A = D, or the rank of a Gram fit)
    eigenvalues: np.ndarray  # float64 [A], decreasing: the mean squared projection of the training images on each axis

    @property
    def n_values(self) -> int:
        """D, the number of values of one image, C·H·W (3·32·32 = 3,072 for CIFAR-10, 1·28·28 = 784 for MNIST)."""
        return len(self.mean)

    @property
    def n_axes(self) -> int:
        """A, the axes known: all D of them, or for a fit through the Gram matrix the training images' rank (< N)."""
        return self.components.shape[1]


@dataclass(frozen=True)
class PcaBaseline:
    """PCA's test MSE at every latent size ``d`` < D (``curve[d]``), for comparing trained CAEs with.

    ``curve[d]`` is NaN past the axes a Gram fit knows (:attr:`LinearCode.n_axes`): no linear code of
    that size was learned from the training images.
    """

    curve: np.ndarray  # float64 [D + 1]
    n_values: int  # D
    n_train: int  # images the PCA was fitted on

    @property
    def n_axes(self) -> int:
        """The largest latent size with a baseline below D: D itself, or the rank of a Gram fit's training images."""
        unknown = np.isnan(self.curve)
        return int(np.argmax(unknown)) - 1 if unknown.any() else self.n_values

    def mse(self, latent_size: int) -> float | None:
        """PCA's test MSE with ``latent_size`` components, or None when the latent is as large as the input or larger,
        or past the axes PCA knows (:meth:`reason` says which)."""
        if latent_size < 0:
            raise ValueError(f"latent size must be ≥ 0, got {latent_size}")
        if latent_size >= self.n_values:
            # with d = D PCA is lossless, and a larger code can simply copy the image: no linear code to compare with
            return None
        value = float(self.curve[latent_size])
        return None if math.isnan(value) else value

    def reason(self, latent_size: int) -> str:
        """Why :meth:`mse` has no baseline for ``latent_size`` (an empty string when it has one)."""
        if latent_size < 0:
            return f"latent {latent_size:,} is negative"
        if latent_size >= self.n_values:
            return (
                f"latent {latent_size:,} ≥ the input's {self.n_values:,} values: an over-complete code can copy the image, "
                "so PCA has no meaningful size to compare with"
            )
        if math.isnan(self.curve[latent_size]):
            return (
                f"latent {latent_size:,} is past the {self.n_axes:,} axes of PCA on {self.n_train:,} training images "
                f"(their span; images of {self.n_values:,} values): no linear code of that size is learned from them"
            )
        return ""


def _chunk_rows(n_values: int) -> int:
    """Images per float64 chunk: :data:`CHUNK_ROWS`, fewer for images of more than :data:`CHUNK_VALUES` / CHUNK_ROWS values."""
    return max(1, min(CHUNK_ROWS, CHUNK_VALUES // n_values))


def _flat_chunks(images: torch.Tensor) -> Iterator[torch.Tensor]:
    """The images as float64 rows in [0, 1], a chunk at a time (:func:`_chunk_rows`; only one chunk is ever float64)."""
    flat = images.detach().cpu().reshape(len(images), -1)
    rows = _chunk_rows(flat.shape[1])
    for start in range(0, len(flat), rows):
        yield flat[start : start + rows].to(torch.float64).div_(255)


def _mean(images: torch.Tensor) -> torch.Tensor:
    total = torch.zeros(math.prod(images.shape[1:]), dtype=torch.float64)
    for x in _flat_chunks(images):
        total += x.sum(dim=0)
    return total / len(images)


def fit_pca(images: torch.Tensor) -> LinearCode:
    """Fit PCA on uint8 images N×C×H×W of any shape (pixels 0–255, taken as [0, 1]): the mean and the principal axes.

    Two passes over the images: the mean first, then the covariance of the centred rows. Centring
    each chunk before multiplying (rather than X^T X − N·μμ^T afterwards) avoids the cancellation
    of two large nearly equal matrices, which would cost the smallest eigenvalues their accuracy.
    When N − 1 < D the trailing eigenvalues are (numerically) zero: their axes are arbitrary but
    still orthonormal, so reconstructions and the MSE curve stay exact.

    Images of more than :data:`GRAM_ABOVE` values, fewer than their values, are fitted by
    :func:`_fit_gram` instead: only the axes of their span, at most N − 1.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected a non-empty N×C×H×W image tensor, got shape {tuple(images.shape)}")
    n, n_values = len(images), math.prod(images.shape[1:])
    if n_values > GRAM_ABOVE and n < n_values:
        return _fit_gram(images)
    mean = _mean(images)
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


def _fit_gram(images: torch.Tensor) -> LinearCode:
    """PCA of N images of D > N values through their N×N Gram matrix: the axes of their span, no D×D matrix.

    With X the centred rows, the covariance XᵀX/N and the Gram matrix G = XXᵀ/N share their nonzero
    eigenvalues, and for Gu = λu the covariance's unit eigenvector is v = Xᵀu / √(Nλ). G is summed a
    block of chunk pairs at a time (only two chunks are ever float64), then the axes in one more pass.
    Axes whose eigenvalue is rounding (below λ₁·max(N, D)·ε, the rank cut of ``numpy.linalg.matrix_rank``)
    are dropped: centring alone leaves one, and their directions would be noise.
    """
    n = len(images)
    mean = _mean(images)
    rows = _chunk_rows(len(mean))
    gram = torch.zeros(n, n, dtype=torch.float64)
    for i, x in enumerate(_flat_chunks(images)):
        x -= mean
        for j, y in enumerate(_flat_chunks(images[: (i + 1) * rows])):
            y -= mean
            block = x @ y.T
            gram[i * rows : i * rows + len(x), j * rows : j * rows + len(y)] = block
            gram[j * rows : j * rows + len(y), i * rows : i * rows + len(x)] = block.T
    gram /= n
    eigenvalues, vectors = torch.linalg.eigh(gram)  # ascending
    del gram
    eigenvalues, vectors = eigenvalues.flip(0), vectors.flip(1)
    cut = eigenvalues[0].clamp(min=0) * max(n, len(mean)) * torch.finfo(torch.float64).eps
    rank = int((eigenvalues > cut).sum())
    eigenvalues, vectors = eigenvalues[:rank], vectors[:, :rank]
    components = torch.zeros(len(mean), rank, dtype=torch.float64)
    for i, x in enumerate(_flat_chunks(images)):
        x -= mean
        components.addmm_(x.T, vectors[i * rows : i * rows + len(x)])
    components /= (n * eigenvalues).sqrt()
    return LinearCode(mean=mean.numpy(), components=components.numpy(), eigenvalues=eigenvalues.contiguous().numpy())


def _check_shape(code: LinearCode, images: torch.Tensor) -> None:
    if images.ndim != 4 or math.prod(images.shape[1:]) != code.n_values:
        raise ValueError(f"expected N×C×H×W images of {code.n_values:,} values each (the PCA's), got shape {tuple(images.shape)}")


def mse_curve(code: LinearCode, images: torch.Tensor) -> np.ndarray:
    """The MSE ([0, 1] scale, mean over every value of every image) of reconstructing ``images`` from d components, d = 0…D.

    One pass: each chunk of centred images is projected onto all D axes, and the squared
    projections are summed per axis. Because the axes form a complete orthonormal basis, the error
    with the top d axes is the sum over the remaining axes d…D−1; summing that tail, rather than
    subtracting the first d from the total, keeps the small errors at large d free of cancellation
    (entry D is exactly 0, entry 0 the squared distance to the training mean).

    A code of A < D axes (a Gram fit) adds what lies outside their span, each image's squared norm
    less its projections', to every entry up to A; entries A + 1 … D − 1 are NaN (no such code
    was learned), entry D still 0 (the image itself).
    """
    _check_shape(code, images)
    if len(images) == 0:
        raise ValueError("expected at least one image")
    mean = torch.from_numpy(code.mean)
    components = torch.from_numpy(code.components)
    per_axis = torch.zeros(code.n_axes, dtype=torch.float64)
    outside = torch.zeros((), dtype=torch.float64)
    complete = code.n_axes == code.n_values
    for x in _flat_chunks(images):
        x -= mean
        projected = (x @ components).square_()
        per_axis += projected.sum(dim=0)
        if not complete:
            outside += (x.square().sum(dim=1) - projected.sum(dim=1)).clamp_(min=0).sum()
    tail = np.zeros(code.n_values + 1)
    tail[: code.n_axes] = np.cumsum(per_axis.numpy()[::-1])[::-1]
    if not complete:
        tail[: code.n_axes + 1] += outside.item()
        tail[code.n_axes + 1 : code.n_values] = np.nan
    with np.errstate(invalid="ignore"):  # NaN past a Gram fit's axes stays NaN
        return np.clip(tail / (len(images) * code.n_values), 0, None)


def _top_axes(code: LinearCode, images: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The code's mean and its top ``d`` axes (D × d), after checking ``images`` and ``d`` against it."""
    _check_shape(code, images)
    if not 0 <= d <= code.n_axes:
        known = "" if code.n_axes == code.n_values else f" (the axes of PCA on images of {code.n_values:,} values, fewer than them)"
        raise ValueError(f"expected 0 ≤ d ≤ {code.n_axes:,}{known}, got {d}")
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
    (docs/results.md: how long); nothing is printed.
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
    """:func:`fit_pca` of ``train``, cached by the images' hash (75 MB for CIFAR-10): a fit is the slowest step of
    a run's start, and every trial that starts from the linear code (``model.linear_skip``) needs it."""
    path = cache_dir() / "pca" / f"code-{Fingerprint(CACHE_VERSION, train).hexdigest()}.npz"
    stored = load_npz(path, "mean", "components", "eigenvalues")
    if stored is not None:  # else missing or damaged: fitted again below
        code = LinearCode(*stored)
        n_values = math.prod(train.shape[1:])
        if code.n_values == n_values and code.components.shape == (n_values, len(code.eigenvalues)) and code.n_axes <= n_values:
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

    The model's images, C·H·W in and out, must be the code's D values: PCA of the same images.

    The linear path is frozen (``requires_grad=False``): trained with the convolutions' learning rate,
    Adam moves every weight by about the rate each step, which shakes the components (entries of about
    1/√D, 0.018 for CIFAR-10's 3,072 values) and can leave the network under PCA, where it started
    (docs/results.md has the run).
    """
    arch = model.arch
    d = arch.latent_size
    pixels = arch.image_size**2
    if (
        not arch.linear_skip
        or d >= code.n_values
        or arch.in_channels * pixels != code.n_values
        or arch.out_channels * pixels != code.n_values
    ):
        raise ValueError(
            f"expected a linear_skip model below {code.n_values:,} latent values on {code.n_values:,}-value images, "
            f"got a latent of {d:,} on {arch.in_channels}×{arch.image_size}×{arch.image_size} → "
            f"{arch.out_channels}×{arch.image_size}×{arch.image_size}" + ("" if arch.linear_skip else " without linear_skip")
        )
    if d > code.n_axes:
        raise ValueError(
            f"a latent of {d:,} is past the {code.n_axes:,} axes of PCA on fewer training images than their {code.n_values:,} values"
        )
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
