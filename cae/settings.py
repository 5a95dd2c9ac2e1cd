"""The settings of a run as plain values: what data, how to train, which task. No torch here.

A space file is parsed into these values, and a bad one refused, before torch (about 5 s of imports)
is loaded: ``cae.data``, ``cae.training``, ``cae.schedule`` and ``cae.tasks`` use them and re-export
them, so either import path names the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from cae.options import check_fields, option

Dataset = Literal["cifar10", "imagefolder"]
DATASETS: tuple[str, ...] = get_args(Dataset)
TaskName = Literal["reconstruction", "colorization", "colorization_chroma", "colorization_classes"]
TASK_NAMES: tuple[str, ...] = get_args(TaskName)
Schedule = Literal["constant", "cosine", "onecycle", "plateau"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
Optimizer = Literal["adam", "adamw", "sgd"]
Loss = Literal["mse", "l1", "bce"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
LOSSES: tuple[str, ...] = get_args(Loss)
DEVICES: tuple[str, ...] = get_args(Device)
PRECISIONS: tuple[str, ...] = get_args(Precision)


class DataError(ValueError):
    """Data that cannot be loaded; ``key`` names the configuration entry to look at."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split."""

    dataset: Dataset = "cifar10"
    root: str | None = None
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    subset: int | None = None
    seed: int = 0
    image_size: int = 32


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model. ``momentum`` applies to SGD only.

    ``schedule`` and ``warmup`` shape the learning rate over the run (:mod:`cae.schedule`).
    ``precision``: ``fp32``; ``bf16`` (bfloat16 autocast of the forward pass); or ``auto``, which is
    ``bf16`` where the device computes in bfloat16 natively and ``fp32`` elsewhere. ``compile``
    trains through ``torch.compile`` (measured slower on CPU for these small networks; for GPUs).
    """

    epochs: int = option(10, minimum=1)
    batch_size: int = option(64, minimum=1)
    lr: float = option(1e-3, minimum=0.0, strict=True)
    optimizer: Optimizer = "adam"
    schedule: Schedule = "constant"  # cae.schedule
    warmup: float = option(0.0, minimum=0.0)  # epochs of linear learning-rate warm-up
    weight_decay: float = option(0.0, minimum=0.0)
    momentum: float = option(0.9, minimum=0.0)
    loss: Loss = "mse"
    # what a study may not search: the seed makes trials comparable, the rest is the machine's
    seed: int = option(0, minimum=0, tunable=False)
    device: Device = option("auto", tunable=False)
    precision: Precision = option("auto", tunable=False)
    compile: bool = option(False, tunable=False)

    def __post_init__(self) -> None:
        check_fields(self)
