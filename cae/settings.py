"""The settings of a run as plain values: what data, how to train, which task. No torch here.

A space file is parsed into these values, and a bad one refused, before torch (about 5 s of imports)
is loaded: ``cae.data``, ``cae.training``, ``cae.schedule`` and ``cae.tasks`` use them and re-export
them, so either import path names the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from cae.options import check_fields, option

TaskName = Literal["reconstruction", "colorization", "colorization_chroma", "colorization_classes"]
TASK_NAMES: tuple[str, ...] = get_args(TaskName)
Schedule = Literal["constant", "cosine", "onecycle", "plateau"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
Optimizer = Literal["adam", "adamw", "sgd"]
Loss = Literal["mse", "l1", "bce"]
Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]
OFFICIAL = "official"  # data.split: the dataset's own test part is the test split
DEFAULT_VAL = 0.1  # with the official split: the share of the training part kept for validation (CIFAR-10's 5,000 of 50,000)
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
    """Where the images come from, how they are split, and what the model sees of them.

    ``split`` is three fractions of all images joined (train, validation, test), or ``"official"``: the
    dataset's own test part is the test split and ``val`` (a fraction of its training part, or a count
    of images; default :data:`DEFAULT_VAL`) is carved from the training part for validation.

    ``image_size`` and ``channels`` change the images only when set: ``None`` keeps their own size
    (height and width) and channels; a size crops the centre square and resizes it, 1 channel
    converts to gray (BT.601 luma), 3 repeats a gray channel.
    """

    dataset: str = "cifar10"  # a name of cae.datasets.DATASETS
    root: str | None = None
    split: tuple[float, float, float] | str = (0.8, 0.1, 0.1)  # or OFFICIAL
    val: float | int | None = None  # with the official split only: a fraction of the training part, or a count
    subset: int | None = None
    seed: int = 0
    image_size: int | None = None
    channels: int | None = None
    parts: tuple[str, ...] | None = None  # the dataset's parts to join (None: its usual ones, cae.datasets)

    def __post_init__(self) -> None:
        if isinstance(self.split, str) and self.split != OFFICIAL:
            raise DataError("data.split", f"expected three fractions (train, val, test) or {OFFICIAL!r}, got {self.split!r}")
        if self.val is not None:
            if self.split != OFFICIAL:
                raise DataError("data.val", f"expected only with data.split: {OFFICIAL} (fractions set their own), got {self.val!r}")
            if not valid_val(self.val):
                raise DataError("data.val", f"{VAL_EXPECTED}, got {self.val!r}")
        if self.channels is not None and (isinstance(self.channels, bool) or self.channels not in (1, 3)):
            raise DataError("data.channels", f"expected 1 (gray), 3 (RGB) or None (the images' own), got {self.channels!r}")
        if self.image_size is not None and (
            isinstance(self.image_size, bool) or not isinstance(self.image_size, int) or self.image_size < 1
        ):
            raise DataError("data.image_size", f"expected an integer ≥ 1 or None (the images' own size), got {self.image_size!r}")

    @property
    def official(self) -> bool:
        """Whether the test split is the dataset's own test part."""
        return self.split == OFFICIAL


VAL_EXPECTED = "expected a fraction in (0, 1) of the training part or a count of images ≥ 1"


def valid_val(val: object) -> bool:
    """Whether ``val`` can size an official split's validation set: a fraction in (0, 1) or an integer count ≥ 1."""
    if isinstance(val, bool) or not isinstance(val, int | float):
        return False
    return val >= 1 if isinstance(val, int) else 0 < val < 1


Shape = tuple[int, int, int]  # channels, height, width
JPEG_EXPORT = "JPEG export"  # the pixels of lossy copies (cae.folders names a JPEG folder so)


@dataclass(frozen=True)
class DataDescription:
    """What a run's images were: the dataset's name, the shape the model saw, their classes and where they came from.

    Recorded with every study and trial; the defaults are what studies recorded before there was a record
    (CIFAR-10 at 3 × 32 × 32), so that old studies read as what they were.
    """

    dataset: str = "cifar10"
    shape: Shape = (3, 32, 32)
    classes: tuple[str, ...] = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    source: str = "CIFAR-10"
    root: str | None = None  # the folder read, resolved
    split: str = "random"  # "random": fractions of all images; "official": the test split is the dataset's test part
    pixels: str = "original"  # "original", or "JPEG export" where the files were lossy copies of the dataset's images

    @property
    def shape_text(self) -> str:
        """``3 × 32 × 32``."""
        return " × ".join(map(str, self.shape))

    @property
    def values(self) -> int:
        """Values in one image, C·H·W."""
        c, h, w = self.shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        known = {"dataset": self.dataset, "shape": list(self.shape), "classes": list(self.classes), "source": self.source}
        return known | {"root": self.root, "split": self.split, "pixels": self.pixels}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataDescription:
        """The description recorded as :meth:`to_dict` (missing keys take the defaults: an old study's CIFAR-10, split at
        random; its pixels were a JPEG export where its source says so)."""
        data = data or {}
        known = {f: data[f] for f in ("dataset", "source", "root", "split", "pixels") if f in data}
        if "pixels" not in data and JPEG_EXPORT in str(data.get("source", "")):
            known["pixels"] = JPEG_EXPORT
        if "shape" in data:
            known["shape"] = tuple(int(v) for v in data["shape"])
        if "classes" in data:
            known["classes"] = tuple(data["classes"])
        return cls(**known)


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model. ``momentum`` applies to SGD only.

    ``schedule`` and ``warmup`` shape the learning rate over the run (:mod:`cae.schedule`).
    ``precision``: ``fp32``; ``bf16`` (bfloat16 autocast of the forward pass); or ``auto``, which is
    ``bf16`` where the device computes in bfloat16 natively and ``fp32`` elsewhere. ``compile``
    trains through ``torch.compile`` (measured slower on CPU for these small networks; for GPUs).
    """

    # A bound that a typo (1e20 written out) crosses and no training does: the published CAE trained up to 500 epochs.
    epochs: int = option(10, minimum=1, maximum=100_000)
    batch_size: int = option(64, minimum=1)
    lr: float = option(1e-3, minimum=0.0, strict=True)
    optimizer: Optimizer = "adam"
    schedule: Schedule = "constant"  # cae.schedule
    warmup: float = option(0.0, minimum=0.0)  # epochs of linear learning-rate warm-up
    weight_decay: float = option(0.0, minimum=0.0)
    momentum: float = option(0.9, minimum=0.0)
    loss: Loss = "mse"
    ema: float = option(0.0, minimum=0.0, maximum=0.99999)
    # mirror a random half of every training batch left to right: twice the images a network sees for the price of
    # none (a photograph's mirror image is as likely as the photograph; a digit's or a letter's is not, so off)
    flip: bool = False
    # what a study may not search: the seed makes trials comparable, the rest is the machine's
    seed: int = option(0, minimum=0, tunable=False)
    device: Device = option("auto", tunable=False)
    precision: Precision = option("auto", tunable=False)
    compile: bool = option(False, tunable=False)

    def __post_init__(self) -> None:
        check_fields(self)
