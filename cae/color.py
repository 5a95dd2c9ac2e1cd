"""Colour spaces for colorization, on float images in [0, 1] shaped ``(N, C, H, W)``.

Gray is ITU-R BT.601 luma, ``Y = 0.299 R + 0.587 G + 0.114 B``; chrominance is the matching
full-range (JPEG) ``Cb, Cr``, offset by 0.5 so that every channel lies in [0, 1] and a sigmoid output
can predict it. The inverse is the exact matrix inverse rather than the rounded textbook
coefficients, so that RGB → YCbCr → RGB returns the image to float precision.

    >>> x = torch.rand(2, 3, 8, 8)
    >>> torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-6)
    True
"""

from __future__ import annotations

import torch

_RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=torch.float64,
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_OFFSET = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)


def _apply(matrix: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return torch.einsum("oc,nchw->nohw", matrix.to(images), images)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] → ``(Y, Cb + 0.5, Cr + 0.5)``, each in [0, 1]."""
    return _apply(_RGB_TO_YCBCR, rgb) + _OFFSET.to(rgb).view(1, 3, 1, 1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`rgb_to_ycbcr` (not clamped: out-of-gamut chroma gives values outside [0, 1])."""
    return _apply(_YCBCR_TO_RGB, ycbcr - _OFFSET.to(ycbcr).view(1, 3, 1, 1))


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """The gray image ``(N, 1, H, W)``: BT.601 luma, what a black-and-white photograph records."""
    return _apply(_RGB_TO_YCBCR[:1], rgb)


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """The colour alone: ``(Cb + 0.5, Cr + 0.5)``, shape ``(N, 2, H, W)``."""
    return rgb_to_ycbcr(rgb)[:, 1:]


def gray_as_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """The "gray stays gray" colorization: the luma copied to all three channels."""
    return luma(rgb).expand(-1, 3, -1, -1)


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler and Süsstrunk's colourfulness of each image (0 for gray; about 0.1–0.5 for photos).

    ``M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²)`` with ``rg = R − G`` and
    ``yb = (R + G)/2 − B``, on the [0, 1] scale (the paper's 0–255 values divided by 255).
    """
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    spread = (rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False)).sqrt()
    mean = (rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2).sqrt()
    return spread + 0.3 * mean


def pixel_saturation(rgb: torch.Tensor) -> torch.Tensor:
    """HSV saturation ``(max − min) / max`` of every pixel, shape ``(N, H, W)`` (0 for gray)."""
    high, low = rgb.amax(dim=1), rgb.amin(dim=1)
    return (high - low) / high.clamp_min(1e-6)


def saturation(rgb: torch.Tensor) -> torch.Tensor:
    """Mean HSV saturation of each image (0 for gray)."""
    return pixel_saturation(rgb).flatten(1).mean(dim=1)
