"""PCA's error at every latent size on a study's own split: the curve every CAE result is set beside::

    curve, why = pca_curve(study)     # curve None (and why) when the study's data cannot be loaded here
    curve[curve.latent_size == 64]    # latent_size, pca_mse, pca_psnr

The study's recorded space names its data (dataset, root, split, subset, seed); the same images are
loaded and :func:`cae.pca.pca_baseline` gives PCA's test MSE, cached by the split, so the curve is
the one the trials recorded as ``pca_mse``.
"""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd

from cae.data import DataError, load_splits
from cae.metrics import psnr
from cae.pca import pca_baseline
from search.trials.start import recorded_data


def pca_curve(study: optuna.Study) -> tuple[pd.DataFrame | None, str]:
    """(PCA's test MSE and PSNR at every latent size below the input's, or None; why not, when None)."""
    try:
        data = load_splits(recorded_data(study.user_attrs))
    except (DataError, OSError, ValueError) as error:
        return None, f"the study's data cannot be loaded here ({str(error).splitlines()[0]})"
    baseline = pca_baseline(data.train.images, data.test.images)
    sizes = np.arange(1, baseline.n_values)
    mse = baseline.curve[1 : baseline.n_values]
    return pd.DataFrame({"latent_size": sizes, "pca_mse": mse, "pca_psnr": psnr(mse)}), ""
