"""What a convolutional autoencoder is and how it trains: spec, builder, data, training. Pure PyTorch."""

from cae.builder import CAE, build
from cae.data import DataConfig, DataError, Splits, load_splits
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose, MaxPool, Upsample
from cae.training import EpochReport, NonFiniteLoss, TrainConfig, TrainResult, fit, train

__all__ = [
    "CAE",
    "Architecture",
    "ArchitectureError",
    "Conv",
    "ConvTranspose",
    "DataConfig",
    "DataError",
    "EpochReport",
    "MaxPool",
    "NonFiniteLoss",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "Upsample",
    "build",
    "fit",
    "load_splits",
    "train",
]
