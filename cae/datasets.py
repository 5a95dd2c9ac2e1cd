"""The datasets a space can name, one entry each: where torchvision keeps their files, their parts and classes.

Adding a dataset is one entry in :data:`REGISTRY`. No torch here (the space parser reads the names
before torch is imported): :mod:`cae.data` turns an entry into images through torchvision's own class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Layout = Literal["nhwc", "nchw", "nhw"]  # how the torchvision class holds its ``data`` array

_DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class Dataset:
    """One dataset torchvision reads: its class, its parts and the files each part needs under the root.

    ``parts`` maps a part's name to the keyword arguments that select it (``{"train": True}``,
    ``{"split": "extra"}``) and ``files`` to the files it reads, relative to the root; ``joined`` are
    the parts a study joins and splits unless the space names others (``data.parts``).
    """

    name: str
    title: str  # for sentences: "CIFAR-10"
    torchvision: str  # the class in torchvision.datasets
    shape: tuple[int, int, int]  # its images' channels, height and width
    parts: dict[str, dict[str, Any]]
    files: dict[str, tuple[str, ...]]
    joined: tuple[str, ...] = ("train", "test")
    layout: Layout = "nhwc"
    labels: str = "targets"  # the attribute holding the labels
    classes: tuple[str, ...] = ()  # where the torchvision class names none
    # the method through which torchvision checks the files' md5 sums (replaced by a check that they exist)
    check: str = "_check_integrity"
    extras: dict[str, Any] = field(default_factory=dict)  # further constructor arguments

    @property
    def folder(self) -> str:
        """The folder (under the root) a download fills, for messages."""
        return next(iter(self.files.values()))[0].split("/")[0]


def _cifar(name: str, title: str, folder: str, train: tuple[str, ...], meta: str) -> Dataset:
    test = "test_batch" if name == "cifar10" else "test"
    return Dataset(
        name,
        title,
        "CIFAR10" if name == "cifar10" else "CIFAR100",
        (3, 32, 32),
        parts={"train": {"train": True}, "test": {"train": False}},
        files={"train": tuple(f"{folder}/{f}" for f in (*train, meta)), "test": (f"{folder}/{test}", f"{folder}/{meta}")},
    )


def _mnist(name: str, title: str, cls: str) -> Dataset:
    raw = f"{cls}/raw"
    return Dataset(
        name,
        title,
        cls,
        (1, 28, 28),
        parts={"train": {"train": True}, "test": {"train": False}},
        files={
            part: (f"{raw}/{stem}-images-idx3-ubyte", f"{raw}/{stem}-labels-idx1-ubyte")
            for part, stem in (("train", "train"), ("test", "t10k"))
        },
        layout="nhw",
        check="_check_exists",
    )


REGISTRY: dict[str, Dataset] = {
    d.name: d
    for d in (
        _cifar("cifar10", "CIFAR-10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "batches.meta"),
        _cifar("cifar100", "CIFAR-100", "cifar-100-python", ("train",), "meta"),
        _mnist("mnist", "MNIST", "MNIST"),
        _mnist("fashionmnist", "Fashion-MNIST", "FashionMNIST"),
        _mnist("kmnist", "KMNIST", "KMNIST"),
        Dataset(
            "svhn",
            "SVHN",
            "SVHN",
            (3, 32, 32),
            parts={part: {"split": part} for part in ("train", "test", "extra")},
            files={part: (f"{part}_32x32.mat",) for part in ("train", "test", "extra")},
            layout="nchw",
            labels="labels",
            classes=_DIGITS,
        ),
        Dataset(
            "stl10",
            "STL-10",
            "STL10",
            (3, 96, 96),
            parts={part: {"split": part} for part in ("train", "test", "unlabeled")},
            files={
                "train": ("stl10_binary/train_X.bin", "stl10_binary/train_y.bin"),
                "test": ("stl10_binary/test_X.bin", "stl10_binary/test_y.bin"),
                "unlabeled": ("stl10_binary/unlabeled_X.bin",),
            },
            layout="nchw",
            labels="labels",
            classes=("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
        ),
    )
}

IMAGEFOLDER = "imagefolder"  # any folder of class folders: read with PIL (cae.data), not a torchvision class
DATASETS: tuple[str, ...] = (*REGISTRY, IMAGEFOLDER)


def title(name: str) -> str:
    """The dataset's name for sentences (``CIFAR-10``; a folder of images is ``images``)."""
    return REGISTRY[name].title if name in REGISTRY else "images"


def known_shape(name: str, image_size: int | None = None, channels: int | None = None) -> tuple[int, int, int] | None:
    """The shape a model sees of dataset ``name`` resized to ``image_size`` with ``channels``, without reading
    an image; ``None`` when only the images can say (a folder, unless both are set)."""
    native = REGISTRY[name].shape if name in REGISTRY else None
    if native is None and (image_size is None or channels is None):
        return None
    c, h, _ = native or (channels, image_size, image_size)
    size = image_size or h
    return (channels or c, size, size)
