"""Questions asked of finished studies, one module per question.

- :mod:`analysis.latent_vs_error`: is the error correlated with the latent size? A power-law fit,
  Spearman's ρ, the Pareto front of error against size beside PCA's curve and published points.
- :mod:`analysis.evaluate`: how good is one trained network? MSE, PSNR and SSIM on every split,
  its reconstructions and its learning curves.
- :mod:`analysis.latent_space`: do the classes cluster in the latent space? Test images drawn by
  class (as they are, or through t-SNE, UMAP or PCA) and the classes' silhouette.
- :mod:`analysis.activations`: what does each layer make of one image? Its feature maps, layer by layer.
- :mod:`analysis.probe`: how much of the classes can a linear classifier read from the latent,
  against a random encoder of the same architecture and the raw pixels?
- :mod:`analysis.transfer`: does autoencoder pretraining pay? The encoder as a classifier at 1%, 10%
  and 100% of the labels (frozen, fine-tuned) against the same network from scratch, PCA and pixels;
  and, over a study's trials, the frozen probe's accuracy against latent size and reconstruction PSNR.
- :mod:`analysis.colorize`: the best network reborn as a colorizer (gray in, colour out), against
  "gray stays gray".

Every module has the same three steps, each calling the one before: ``compute(...)`` returns a
dataclass of numbers (no files, nothing printed, no global state changed), ``plot(result)`` returns
its main :class:`matplotlib.figure.Figure` (a notebook shows it inline; further figures have their
own ``plot_*`` functions) and ``render(result, out)`` writes the CSV, figures and Markdown report
into the folder ``out``, returning the paths by kind. In a notebook, with a study ``recon`` in
``studies/``::

    from pathlib import Path
    from analysis import latent_vs_error

    result = latent_vs_error.compute("recon")
    result.fit.b, result.correlation.rho           # the exponent of MSE ~ latent^b, and Spearman's ρ
    result.front                                   # a pandas.DataFrame: the Pareto front with PCA's gains
    latent_vs_error.plot(result)                   # the figure, shown inline
    latent_vs_error.render(result, Path("out"))    # {"csv": ..., "png": ..., "md": ...}

On the command line, ``python -m analysis.<question> --study NAME`` computes, renders into
``studies/NAME/analysis/`` and prints what it found.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["activations", "colorize", "evaluate", "latent_space", "latent_vs_error", "probe", "transfer"]


def __getattr__(name: str) -> ModuleType:
    # Modules load on first use (PEP 562): ``import analysis`` stays cheap, and ``analysis.probe`` works without its own import.
    if name in __all__:
        return importlib.import_module(f"analysis.{name}")
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
