"""Any image dataset as three in-memory uint8 tensors, train, validation and test, at the images' own shape.

Every run sees the same split: the dataset's parts (train and test) are joined (60,000 images for
CIFAR-10), permuted with a fixed seed and cut 80/10/10 into 48,000 / 6,000 / 6,000. A ``subset``
keeps the first N images of that same permutation before cutting, for tiny runs.

What is read, under the root (``root`` argument, else ``$CAE_DATA_DIR``, else ``./data``):

- a dataset of :data:`cae.datasets.REGISTRY` (``cifar10``, ``mnist``, ``svhn``, ...): its files where
  torchvision's download puts them, read by torchvision's own class (:mod:`cae.torchvision_source`),
  downloaded when none is there;
- else ``ROOT/{train,test}/<class>/*.png``: the dataset exported as class folders (the offline CIFAR-10
  here is such a JPEG export), and for ``imagefolder`` ``ROOT/<class>/*.png`` or ``ROOT/*.png``
  (:mod:`cae.folders`).

The images keep their channels, height and width; ``image_size`` and ``channels`` change them only
when the run asks (:func:`fit_images`), and :meth:`Splits.describe` says what the model sees.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from cae.datasets import DATASETS, REGISTRY, known_shape, title
from cae.folders import FolderSource
from cae.settings import DataConfig, DataDescription, DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class ImageSet:
    """Images as one uint8 tensor N×C×H×W (pixels 0–255) and their integer class labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device: torch.device | str) -> ImageSet:
        """The same images on ``device`` (the same object when they are there already)."""
        want, have = torch.device(device), self.images.device
        if want.type == have.type and want.index in (None, have.index):
            return self
        return ImageSet(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    classes: tuple[str, ...]  # () for a folder of images without class folders
    source: str  # what was read, for reports: "CIFAR-10 (JPEG export) at ../shared/data/cifar10"
    dataset: str = "cifar10"
    root: str | None = None  # the folder read, resolved

    @property
    def shape(self) -> tuple[int, int, int]:
        """What the model sees of one image: channels, height, width."""
        c, h, w = self.train.images.shape[1:]
        return (int(c), int(h), int(w))

    def describe(self) -> DataDescription:
        """The dataset, shape, classes and source, as studies and trials record them."""
        return DataDescription(self.dataset, self.shape, self.classes, self.source, self.root)

    def to(self, device: torch.device | str) -> Splits:
        """The three sets on ``device``, moved once: on a GPU, training and evaluation then copy nothing per batch."""
        return dataclasses.replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))


def resolve_root(root: str | None) -> Path:
    """The data folder: the configured root, else ``$CAE_DATA_DIR``, else ``./data``."""
    return Path(root or os.environ.get("CAE_DATA_DIR") or "data").expanduser()


def split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` items by ``fractions``; test takes the rounding remainder (60,000 → 48,000/6,000/6,000)."""
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    return n_train, n_val, n - n_train - n_val


def split_indices(
    n: int, fractions: tuple[float, float, float], seed: int, subset: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of the train, validation and test images among ``n``, the same for every call."""
    if subset is not None and not 1 <= subset <= n:
        raise DataError("data.subset", f"expected between 1 and {n} images (the source holds {n}), got {subset}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: subset or n]
    n_train, n_val, _ = split_sizes(len(order), fractions)
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


class Source(Protocol):
    """A readable collection of images: how many, their classes, and the images at given indices (N×C×H×W uint8)."""

    n: int
    classes: tuple[str, ...]
    description: str

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def open_source(cfg: DataConfig) -> Source:
    """The images ``cfg`` names, unread: a registered dataset's files, its class-folder export, or a folder of images."""
    root = resolve_root(cfg.root)
    if cfg.dataset not in DATASETS:
        raise DataError("data.dataset", f"expected one of {', '.join(DATASETS)}, got {cfg.dataset!r}")
    entry = REGISTRY.get(cfg.dataset)
    parts = cfg.parts or (entry.joined if entry else ())
    folders = [root / part for part in (parts or ("train", "test"))]
    exported = all(part.is_dir() for part in folders)
    if entry is not None and not exported:
        from cae.torchvision_source import TorchvisionSource  # torchvision's dataset classes, only for those who read one

        return TorchvisionSource(entry, root, parts)
    if not exported and cfg.parts:
        raise DataError("data.parts", f"{root}: no {' or '.join(str(p) for p in folders if not p.is_dir())} folder")
    if not exported:
        if not root.is_dir():
            raise DataError("data.root", f"{root}: no such folder")
        folders = [root]
    return FolderSource(root, folders, title(cfg.dataset), image_size=cfg.image_size, channels=cfg.channels)


def fit_images(images: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """``images`` (N×C×H×W uint8) with ``channels`` (1: BT.601 luma; 3: gray repeated) and the centre square
    resized to ``image_size`` (bicubic, antialiased): unchanged where a setting is ``None`` or already met."""
    c, h, w = images.shape[1:]
    if channels is not None and channels != c:
        images = _luma(images) if channels == 1 else images.expand(-1, channels, -1, -1).contiguous()
    if image_size is not None and (h, w) != (image_size, image_size):
        side = min(h, w)
        images = tvf.center_crop(images, [side, side])
        images = tvf.resize(images, [image_size, image_size], interpolation=InterpolationMode.BICUBIC, antialias=True)
    elif image_size is None and h != w:
        raise DataError("data.image_size", f"the images are {w}×{h} (width × height): the networks are square; set data.image_size")
    return images.contiguous()


def _luma(images: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB uint8 images, rounded as PIL's ``convert("L")`` does (fixed point, 16 bits): a folder,
    converted by PIL, and a torchvision dataset, converted here, then give the same gray for the same pixels."""
    weights = torch.tensor([19595, 38470, 7471], dtype=torch.int64).view(1, 3, 1, 1)
    return ((images.to(torch.int64) * weights).sum(1, keepdim=True) + 0x8000).div(1 << 16, rounding_mode="floor").to(torch.uint8)


def data_shape(cfg: DataConfig) -> tuple[int, int, int]:
    """The shape (C, H, W) the model will see of ``cfg``'s images: known from the dataset's name, or read from
    its first image (a folder)."""
    shape = known_shape(cfg.dataset, cfg.image_size, cfg.channels)
    if shape is not None:
        return shape
    image = load_images(cfg, torch.tensor([0])).images
    c, h, w = image.shape[1:]
    return (int(c), int(h), int(w))


def load_images(cfg: DataConfig, indices: torch.Tensor) -> ImageSet:
    """The source's images at ``indices`` of its own order, without splitting: for class folders,
    the ``train/`` part then the ``test/`` part, each by class and then by file name (the order of
    ``torchvision.datasets.ImageFolder``). Benchmarks use it to feed other pipelines the same images."""
    images, labels = open_source(cfg).read(indices)
    return ImageSet(fit_images(images, cfg.image_size, cfg.channels), labels)


def load_splits(cfg: DataConfig) -> Splits:
    """The train/validation/test split of ``cfg``'s images, identical on every call."""
    source = open_source(cfg)
    parts = split_indices(source.n, cfg.split, cfg.seed, cfg.subset)
    images, labels = source.read(torch.cat(parts))
    images = fit_images(images, cfg.image_size, cfg.channels)
    sets, start = [], 0
    for part in parts:
        sets.append(ImageSet(images[start : start + len(part)], labels[start : start + len(part)]))
        start += len(part)
    root = str(resolve_root(cfg.root).resolve())
    return Splits(*sets, classes=source.classes, source=source.description, dataset=cfg.dataset, root=root)
