"""What a convolutional autoencoder is and how it trains: spec, builder, data, training. Pure PyTorch.

The names below are imported on first use (PEP 562) rather than here, so that the torch-free
modules (:mod:`cae.layers`, :mod:`cae.spec`, :mod:`cae.settings`, :mod:`cae.chroma_bins`) can be imported, and a bad
space refused, without paying for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "CAE": "cae.builder",
    "build": "cae.builder",
    "Splits": "cae.data",
    "load_splits": "cae.data",
    "DataConfig": "cae.settings",
    "DataError": "cae.settings",
    "TrainConfig": "cae.settings",
    "Architecture": "cae.spec",
    "ArchitectureError": "cae.spec",
    "Conv": "cae.layers",
    "ConvTranspose": "cae.layers",
    "MaxPool": "cae.layers",
    "Upsample": "cae.layers",
    "EpochReport": "cae.training",
    "NonFiniteLoss": "cae.training",
    "TrainResult": "cae.training",
    "fit": "cae.training",
    "train": "cae.training",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'cae' has no attribute {name!r}")
