"""Chroma classification (Zhang, Isola & Efros 2016) as tensor operations on :class:`~cae.chroma_bins.ChromaBins`.

- :func:`fit_bins`: the classes in use and their smoothed frequency, from training images;
- :func:`class_loss`: cross-entropy against soft-encoded targets (each pixel's 5 nearest class
  centres, Gaussian-weighted), each pixel weighted by its class's rebalancing weight;
- :func:`annealed_mean`: a distribution back to one chroma, ``softmax(logits / T)`` · centres::

    bins = fit_bins(train_images, per_axis=16)
    loss = class_loss(logits, chroma(x), bins)          # training
    cbcr = annealed_mean(logits, bins)                   # decoding, at bins.temperature
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from cae.chroma_bins import PAPER_REBALANCE, PAPER_TEMPERATURE, ChromaBins
from cae.color import chroma

# Zhang et al.: targets spread over the 5 nearest bins, σ = 5 on a grid of 10 (half a cell); the
# empirical distribution smoothed with the same σ before the rebalancing weights are taken from it.
NEIGHBOURS = 5
SIGMA_CELLS = 0.5
FIT_IMAGES = 10_000  # 10 million pixels: the frequencies of a few hundred cells are settled long before
_CHUNK = 1_000


def grid_cells(cbcr: torch.Tensor, per_axis: int) -> torch.Tensor:
    """The grid cell of every pixel of offset chroma ``cbcr`` (N, 2, H, W) in [0, 1]: (N, H, W) integers."""
    index = (cbcr * per_axis).floor().long().clamp_(0, per_axis - 1)
    return index[:, 0] * per_axis + index[:, 1]


def fit_bins(
    images: torch.Tensor,
    per_axis: int,
    rebalance: float = PAPER_REBALANCE,
    temperature: float = PAPER_TEMPERATURE,
    *,
    max_images: int = FIT_IMAGES,
) -> ChromaBins:
    """The classes the pixels of uint8 RGB ``images`` (N, 3, H, W) fall in, with their smoothed frequencies.

    Reads the first ``max_images`` images (a training split is already in random order).
    """
    counts = torch.zeros(per_axis**2, dtype=torch.float64)
    for start in range(0, min(len(images), max_images), _CHUNK):
        x = images[start : min(start + _CHUNK, max_images)].float() / 255
        counts += torch.bincount(grid_cells(chroma(x), per_axis).flatten(), minlength=per_axis**2).double()
    seen = counts > 0
    # Smoothing on the 2-D grid spreads a common cell's mass to its neighbours, as in the paper;
    # scipy's filter rather than a hand-made kernel: it handles the borders and the truncation.
    smooth = gaussian_filter((counts / counts.sum()).reshape(per_axis, per_axis).numpy(), SIGMA_CELLS, mode="constant")
    kept = np.flatnonzero(seen.numpy())
    prior = smooth.flatten()[kept]
    return ChromaBins(per_axis, tuple(kept.tolist()), tuple((prior / prior.sum()).tolist()), rebalance, temperature)


@cache
def _tensors(bins: ChromaBins) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres (Q, 2), rebalancing weights (Q,)) of ``bins``, computed once per value."""
    centres = torch.tensor(bins.centres, dtype=torch.float32)
    prior = torch.tensor(bins.prior, dtype=torch.float64)
    s, q = bins.rebalance, bins.n_classes
    weights = 1 / (s * prior + (1 - s) / q)
    weights = weights / (prior * weights).sum()  # the expected weight of a training pixel is 1
    return centres, weights.float()


def class_weights(bins: ChromaBins) -> torch.Tensor:
    """Each class's rebalancing weight (see :class:`~cae.chroma_bins.ChromaBins`)."""
    return _tensors(bins)[1]


def centres(bins: ChromaBins, like: torch.Tensor | None = None) -> torch.Tensor:
    """The (Q, 2) class centres, on ``like``'s device."""
    found = _tensors(bins)[0]
    return found if like is None else found.to(like.device)


def _pixels(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N·H·W, C) (a view for channels-last tensors)."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def nearest(cbcr: torch.Tensor, bins: ChromaBins, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared distances, class indices) of the ``k`` class centres nearest each pixel, each (N·H·W, k), nearest first."""
    d2 = torch.cdist(_pixels(cbcr.float()), centres(bins, cbcr)).square_()
    values, index = d2.topk(min(k, bins.n_classes), dim=1, largest=False)
    return values, index


def quantise(cbcr: torch.Tensor, bins: ChromaBins) -> torch.Tensor:
    """The nearest class of every pixel: (N, H, W) indices into ``bins.cells``."""
    n, _, h, w = cbcr.shape
    return nearest(cbcr, bins)[1][:, 0].reshape(n, h, w)


def dequantise(classes: torch.Tensor, bins: ChromaBins) -> torch.Tensor:
    """Class indices (N, H, W) → their centres' chroma (N, 2, H, W)."""
    return centres(bins, classes)[classes].permute(0, 3, 1, 2)


# Soft targets from a table rather than a nearest-neighbour search per pixel, which took most of a
# training step (docs/results.md has the figure). Chroma from 8-bit RGB moves in
# steps of about 1/255, so a 512 × 512 table of the plane (cells of 0.002, a thirtieth of a bin at
# 16 per axis) gives the same neighbours and weights to within that.
_TABLE = 512


@cache
def _soft_table(bins: ChromaBins) -> tuple[torch.Tensor, torch.Tensor]:
    """For every cell of a fine grid of the plane: (its 5 nearest classes (T², 5), their target weights (T², 5))."""
    axis = (torch.arange(_TABLE, dtype=torch.float32) + 0.5) / _TABLE
    plane = torch.stack(torch.meshgrid(axis, axis, indexing="ij")).unsqueeze(0)  # (1, 2, T, T)
    d2, index = nearest(plane, bins, NEIGHBOURS)
    sigma = SIGMA_CELLS * bins.width
    return index, torch.softmax(-d2 / (2 * sigma**2), dim=1)  # Gaussian weights of the neighbours, summing to 1


def soft_targets(cbcr: torch.Tensor, bins: ChromaBins) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's 5 nearest classes and their Gaussian weights, (N·H·W, 5) each, nearest first."""
    index, weight = _soft_table(bins)
    cell = grid_cells(cbcr, _TABLE).flatten()  # pixel order of _pixels: n, h, w
    return index.to(cbcr.device)[cell], weight.to(cbcr.device)[cell]


def class_loss(logits: torch.Tensor, cbcr: torch.Tensor, bins: ChromaBins) -> torch.Tensor:
    """Rebalanced cross-entropy of ``logits`` (N, Q, H, W) against soft-encoded true chroma ``cbcr`` (N, 2, H, W).

    Gathering the 5 target classes' log-probabilities avoids materialising an (N, Q, H, W) target.
    """
    index, target = soft_targets(cbcr, bins)
    log_p = torch.log_softmax(_pixels(logits.float()), dim=1)  # over the last, contiguous axis of channels-last logits
    cross_entropy = -(target * log_p.gather(1, index)).sum(dim=1)
    weight = class_weights(bins).to(logits.device)[index[:, 0]]
    return (weight * cross_entropy).mean()


def annealed_mean(logits: torch.Tensor, bins: ChromaBins, temperature: float | None = None) -> torch.Tensor:
    """One chroma per pixel (N, 2, H, W) from class logits (N, Q, H, W): the mean of ``softmax(logits / T)``.

    ``T = 1`` is the distribution's mean, ``T → 0`` its mode (the most likely class's centre).
    Re-normalising ``exp(log p / T)`` is the softmax of ``logits / T``: the logits' offset cancels.
    """
    t = bins.temperature if temperature is None else temperature
    n, _, h, w = logits.shape
    p = torch.softmax(_pixels(logits.float()) / t, dim=1)
    return (p @ centres(bins, logits)).reshape(n, h, w, 2).permute(0, 3, 1, 2)
