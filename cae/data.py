"""Any image dataset as three in-memory uint8 tensors, train, validation and test, at the images' own shape.

Every run sees the same split: the dataset's parts (train and test) are joined (60,000 images for
CIFAR-10), permuted with a fixed seed and cut 80/10/10 into 48,000 / 6,000 / 6,000. A ``subset``
keeps the first N images of that same permutation before cutting, for tiny runs.

``split: official`` keeps the dataset's own parts instead (:func:`official_indices`): its test part is
the test split, and validation is carved from its training part (``val``: 10%, or a count), so
CIFAR-10 splits 45,000 / 5,000 / 10,000 as published results do. A ``subset`` of N images then takes
each part's share of N (600 of CIFAR-10: 500 of the training part, 100 of the test part).

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
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as tvf

from cae.datasets import DATASETS, REGISTRY, known_shape, title
from cae.folders import FolderSource
from cae.settings import DEFAULT_VAL, OFFICIAL, DataConfig, DataDescription, DataError

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
    source: str  # what was read, for reports: "CIFAR-10 (JPEG export) at ../shared/data/cifar10[, official split]"
    dataset: str = "cifar10"
    root: str | None = None  # the folder read, resolved
    split: str = "random"  # or "official": the test split is the dataset's own test part
    pixels: str = "original"  # or "JPEG export": what the files hold of the dataset's pixels

    @property
    def shape(self) -> tuple[int, int, int]:
        """What the model sees of one image: channels, height, width."""
        c, h, w = self.train.images.shape[1:]
        return (int(c), int(h), int(w))

    def describe(self) -> DataDescription:
        """The dataset, shape, classes and source, as studies and trials record them."""
        return DataDescription(self.dataset, self.shape, self.classes, self.source, self.root, self.split, self.pixels)

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


def official_indices(
    part_sizes: dict[str, int], val: float | int | None, seed: int, subset: int | None = None, *, test: str = "test"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices of the train, validation and test images of parts joined in the order of ``part_sizes``, the same for
    every call: the test split is the ``test`` part (in its own order), validation ``val`` of the other parts (a
    fraction, or a count; default :data:`cae.settings.DEFAULT_VAL`) drawn with ``seed``, and training the rest.

    ``subset`` keeps N images, each part its share of N (rounded), drawn with the same seed.
    """
    starts = dict(zip(part_sizes, itertools.accumulate(part_sizes.values(), initial=0), strict=False))
    test_part = torch.arange(starts[test], starts[test] + part_sizes[test])
    training_part = torch.cat([torch.arange(starts[p], starts[p] + n) for p, n in part_sizes.items() if p != test])
    generator = torch.Generator().manual_seed(seed)
    training_part = training_part[torch.randperm(len(training_part), generator=generator)]
    n = len(test_part) + len(training_part)
    if subset is not None:
        if not 1 <= subset <= n:
            raise DataError("data.subset", f"expected between 1 and {n} images (the source holds {n}), got {subset}")
        kept = round(subset * len(training_part) / n)
        training_part = training_part[:kept]
        test_part = test_part[torch.randperm(len(test_part), generator=generator)[: subset - kept]].sort().values
    val = DEFAULT_VAL if val is None else val
    n_val = val if isinstance(val, int) else round(val * len(training_part))
    if not 1 <= n_val < len(training_part):
        held = f"{len(training_part):,} images" + (f" (its share of data.subset's {subset:,})" if subset is not None else "")
        raise DataError(
            "data.val", f"expected 1 to {len(training_part) - 1:,} validation images of the training part's {held}, got {n_val:,}"
        )
    return training_part[n_val:], training_part[:n_val], test_part


class Source(Protocol):
    """A readable collection of images: how many, their classes, and the images at given indices (N×C×H×W uint8).

    ``part_sizes`` are the images of each part read (``train``, ``test``), in the order they are joined;
    ``pixels`` says whether they are the dataset's own (``original``) or lossy copies (``JPEG export``).
    """

    n: int
    classes: tuple[str, ...]
    description: str
    part_sizes: dict[str, int]
    pixels: str

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def open_source(cfg: DataConfig) -> Source:
    """The images ``cfg`` names, unread: a registered dataset's files, its class-folder export, or a folder of images."""
    root = resolve_root(cfg.root)
    if cfg.dataset not in DATASETS:
        raise DataError("data.dataset", f"expected one of {', '.join(DATASETS)}, got {cfg.dataset!r}")
    entry = REGISTRY.get(cfg.dataset)
    parts = cfg.parts or (entry.joined if entry else ())
    if cfg.official and "test" not in (parts or ("test",)):
        raise DataError("data.parts", f"expected the test part among them with data.split: {OFFICIAL}, got {', '.join(parts)}")
    folders = [root / part for part in (parts or ("train", "test"))]
    exported = all(part.is_dir() for part in folders)
    if entry is not None and not exported:
        from cae.torchvision_source import TorchvisionSource  # torchvision's dataset classes, only for those who read one

        return _with_parts(TorchvisionSource(entry, root, parts), cfg, root, parts)
    if not exported and (cfg.parts or cfg.official):
        key = "data.parts" if cfg.parts else "data.split"
        missing = " or ".join(f"{p.name}/" for p in folders if not p.is_dir())
        whose = f"{title(cfg.dataset)}'s" if cfg.dataset in REGISTRY else "the folder's"
        needs = f" (data.split: {OFFICIAL} reads {whose} own train/ and test/ parts)" if cfg.official else ""
        raise DataError(key, f"{root}: no {missing} folder{needs}")
    if not exported:
        if not root.is_dir():
            raise DataError("data.root", f"{root}: no such folder")
        folders = [root]
    return FolderSource(root, folders, title(cfg.dataset), image_size=cfg.image_size, channels=cfg.channels)


def _with_parts(source: Source, cfg: DataConfig, root: Path, parts: tuple[str, ...]) -> Source:
    """``source``, refused where the official split needs a part it lacks (the MNIST test files alone, say)."""
    missing = [p for p in parts if p not in source.part_sizes]
    if cfg.official and (missing or len(source.part_sizes) < 2):
        having = " and ".join(source.part_sizes)
        raise DataError(
            "data.split",
            f"{OFFICIAL} needs {title(cfg.dataset)}'s {' and '.join(parts)} parts; {root} holds only its {having} files: "
            "use fractions (data.split: [0.8, 0.1, 0.1])",
        )
    return source


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


def split_parts(source: Source, cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The indices of ``cfg``'s train, validation and test images in ``source`` (``cfg`` opened), identical on every call."""
    if cfg.official:
        return official_indices(source.part_sizes, cfg.val, cfg.seed, cfg.subset)
    return split_indices(source.n, cfg.split, cfg.seed, cfg.subset)


def load_splits(cfg: DataConfig) -> Splits:
    """The train/validation/test split of ``cfg``'s images, identical on every call."""
    source = open_source(cfg)
    parts = split_parts(source, cfg)
    images, labels = source.read(torch.cat(parts))
    images = fit_images(images, cfg.image_size, cfg.channels)
    sets, start = [], 0
    for part in parts:
        sets.append(ImageSet(images[start : start + len(part)], labels[start : start + len(part)]))
        start += len(part)
    root = str(resolve_root(cfg.root).resolve())
    split = OFFICIAL if cfg.official else "random"
    description = f"{source.description}, {OFFICIAL} split" if cfg.official else source.description  # the run's first line says so
    return Splits(*sets, classes=source.classes, source=description, dataset=cfg.dataset, root=root, split=split, pixels=source.pixels)
