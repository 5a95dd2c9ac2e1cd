"""Error measures on the [0, 1] pixel scale, for one value or a column of them.

Every error in the project is an MSE of pixels in [0, 1], so the peak of the PSNR is 1. Both functions
take a float, a numpy array or a pandas Series and answer in kind (elementwise), so a trials table's
column converts in one call:

    >>> psnr(0.01)
    20.0
    >>> gain_db(0.02, 0.01) == psnr(0.01) - psnr(0.02)
    True

The module imports numpy only: the space parser and the study's display read it before torch is loaded.
"""

from __future__ import annotations

from numbers import Real
from typing import TypeVar

import numpy as np

Values = TypeVar("Values")


def psnr(mse: Values) -> Values:
    """Peak signal-to-noise ratio in dB of an MSE on the [0, 1] scale: -10·log10(mse), inf for a zero error."""
    with np.errstate(divide="ignore"):
        # an error cannot be negative; one that rounds below zero is a perfect reconstruction
        out = -10 * np.log10(np.clip(mse, 0, None))
    return float(out) if isinstance(mse, Real) else out


def gain_db(pca_mse: Values, test_mse: Values) -> Values:
    """How many dB a model's error is below PCA's at the same latent size: 10·log10(pca_mse / test_mse), positive when it beats PCA.

    Written as the difference of the two PSNRs so that the zero errors fall out: a perfect model beats any
    imperfect PCA by inf, a perfect PCA beats the model by inf, and two perfect ones compare as nan.
    """
    with np.errstate(invalid="ignore"):
        return psnr(test_mse) - psnr(pca_mse)
