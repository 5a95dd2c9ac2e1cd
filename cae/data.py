"""CIFAR-10 (or any folder of images) as three in-memory uint8 tensors: train, validation, test.

Every run sees the same split: the train and test parts of the source are joined (60,000 images
for CIFAR-10), permuted with a fixed seed and cut 80/10/10 into 48,000 / 6,000 / 6,000. A
``subset`` keeps the first N images of that same permutation before cutting, for tiny runs.

Sources, tried in this order under the root (``root`` argument, else ``$CAE_DATA_DIR``, else
``./data``):

- ``ROOT/cifar-10-batches-py``: the original pickles, through ``torchvision.datasets.CIFAR10``;
- ``ROOT/{train,test}/<class>/*.{png,jpg,...}``: a class-folder tree (the offline export of CIFAR-10);
- ``ROOT/<class>/*.{png,jpg,...}``: any image folder (``dataset: imagefolder``), resized to 32×32;
- nothing there and ``dataset: cifar10``: torchvision downloads the pickles into ROOT.

Decoding tens of thousands of image files takes tens of seconds, so the decoded array is cached
once under ``$CAE_CACHE_DIR`` (default ``~/.cache/cae-search``), keyed by the files' names, sizes
and modification times; the pickles load in about a second and need no cache. The cache is a
pair of ``.npy`` files from which only the chosen rows are read, a chunk at a time: a run on a
subset reads only its own images, and no run holds more than the images it keeps (plus one
chunk). Caches written as one ``.npz`` by earlier versions are converted on first use.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from rich.console import Console
from rich.progress import track
from torchvision.datasets import CIFAR10
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from cae.cache import Fingerprint, cache_dir, load_npz, save_npy
from cae.settings import DATASETS, DataConfig, DataError

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
    classes: tuple[str, ...]
    source: str  # what was read, for reports: "CIFAR-10 (JPEG export) at ../shared/data/cifar10"

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


class _Source:
    """A readable collection of images: how many, their classes, and the images at given indices."""

    n: int
    classes: tuple[str, ...]
    description: str

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class _Pickles(_Source):
    def __init__(self, root: Path, download: bool) -> None:
        try:
            parts = [CIFAR10(str(root), train=train, download=download) for train in (True, False)]
        except Exception as error:  # torchvision raises bare RuntimeError/URLError/OSError here
            hint = (
                "put cifar-10-batches-py there, or point CAE_DATA_DIR (or data.root) at a folder "
                "holding it or a train/<class>/*.png, test/<class>/*.png tree"
            )
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise DataError("data.root", f"{root}: CIFAR-10 could not be loaded ({reason}); {hint}") from None
        self._x = np.concatenate([p.data for p in parts])  # N×H×W×C, as the pickles hold it
        self._y = torch.tensor([t for p in parts for t in p.targets], dtype=torch.int64)
        self.n = len(self._y)
        self.classes = tuple(parts[0].classes)
        self.description = f"CIFAR-10 at {root}"

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the chosen rows first, then one N×C×H×W copy of them only
        return torch.from_numpy(self._x[indices.numpy()]).permute(0, 3, 1, 2).contiguous(), self._y[indices]


class _Folders(_Source):
    """Class folders (``PART/<class>/*.png``) over one or more parts, decoded with PIL and cached."""

    def __init__(self, root: Path, parts: list[Path], image_size: int, dataset: str) -> None:
        classes = None
        samples: list[tuple[str, int]] = []
        for part in parts:
            try:
                part_classes, class_to_idx = find_classes(str(part)) if part.is_dir() else ([], {})
            except FileNotFoundError:  # torchvision's word for a folder without class folders: refused below
                part_classes, class_to_idx = [], {}
            if classes is not None and part_classes != classes:
                raise DataError("data.root", f"{part}: its class folders differ from those of {parts[0]}")
            classes = part_classes
            if class_to_idx:
                samples += make_dataset(str(part), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
        if not samples:
            raise DataError(
                "data.root",
                f"{root}: no images found (expected {root}/<class>/*.png or {root}/train/<class>/*.png, or cifar-10-batches-py)",
            )
        self.root = root
        self.samples = samples
        self.n = len(samples)
        self.classes = tuple(classes or ())
        self.image_size = image_size
        kind = Path(samples[0][0]).suffix.lstrip(".").upper().replace("JPG", "JPEG")
        name = f"CIFAR-10 ({kind} export)" if dataset == "cifar10" else f"{kind} images"
        self.description = f"{name} at {root}"
        self._key = self._fingerprint()

    def _fingerprint(self) -> str:
        digest = Fingerprint(f"{self.root.resolve()}|{self.image_size}", algorithm="sha1")
        for path, label in self.samples:
            stat = os.stat(path)
            digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n")
        return digest.hexdigest(16)

    def _decode(self, path: str) -> np.ndarray:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (self.image_size, self.image_size):
                    image = ImageOps.fit(image, (self.image_size, self.image_size), Image.Resampling.BICUBIC)
                return np.asarray(image)
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DataError("data.root", f"{path}: cannot read this image ({error})") from None

    def _decode_all(self) -> tuple[np.ndarray, np.ndarray]:
        # Serial on purpose: PIL decoding of 32×32 files is bound by per-file overhead under the
        # GIL; a thread pool measured slower here (4,200 vs 4,800 images/s). Written into one
        # preallocated N×C×H×W array: no list of pictures, no stacked copy.
        size = self.image_size
        x = np.empty((self.n, 3, size, size), dtype=np.uint8)
        for i in _decoding(range(self.n), self.n):
            x[i] = self._decode(self.samples[i][0]).transpose(2, 0, 1)
        y = np.array([label for _, label in self.samples], dtype=np.int64)
        return x, y

    def _decode_some(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = self.image_size
        x = np.empty((len(indices), 3, size, size), dtype=np.uint8)
        for row, i in enumerate(_decoding(indices.tolist(), len(indices))):
            x[row] = self._decode(self.samples[i][0]).transpose(2, 0, 1)
        return x, np.array([self.samples[i][1] for i in indices.tolist()], dtype=np.int64)

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = indices.numpy()
        whole = cache_dir() / f"{self._key}-all"
        if _cache_exists(whole) or len(rows) == self.n:
            x, y = _cached(whole, self._decode_all, rows)
        else:
            chosen = Fingerprint(rows.tobytes(), algorithm="sha1").hexdigest(12)
            x, y = _cached(cache_dir() / f"{self._key}-{chosen}", lambda: self._decode_some(rows))
        return torch.from_numpy(x), torch.from_numpy(y)


GATHER_ROWS = 4096  # rows read at a time: 12 MB of CIFAR-10


def _cache_files(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(f"{stem.name}-images.npy"), stem.with_name(f"{stem.name}-labels.npy")


def _cache_exists(stem: Path) -> bool:
    return _cache_files(stem)[0].exists() or stem.with_name(f"{stem.name}.npz").exists()


def _gather(path: Path, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (in that order) of the ``.npy`` array at ``path``, reading only those rows.

    Rows are read in file order, :data:`GATHER_ROWS` at a time (a run of consecutive rows in one
    read) into a small buffer, then put in place: the peak memory is the rows kept plus one chunk.
    Plain reads, not a memory map: the kernel maps pages around each one touched (here, 600
    scattered rows mapped 170 MB of the 184 MB file into the process).
    """
    header = np.load(path, mmap_mode="r", allow_pickle=False)  # the shape, type and data offset; maps nothing yet
    shape, dtype, offset = header.shape, header.dtype, header.offset
    del header
    if len(rows) and not (rows.min() >= 0 and rows.max() < shape[0]):
        raise ValueError(f"{path}: rows out of range")
    row_bytes = dtype.itemsize * math.prod(shape[1:])
    out = np.empty((len(rows), *shape[1:]), dtype)
    order = np.argsort(rows, kind="stable")
    buffer = np.empty((min(GATHER_ROWS, len(rows)), *shape[1:]), dtype)
    with open(path, "rb", buffering=0) as file:
        for start in range(0, len(rows), GATHER_ROWS):
            chunk = rows[order[start : start + GATHER_ROWS]]
            firsts = np.flatnonzero(np.diff(chunk, prepend=-2) != 1)  # where each run of consecutive rows starts
            for first, end in zip(firsts.tolist(), [*firsts[1:].tolist(), len(chunk)], strict=True):
                view = memoryview(buffer[first:end]).cast("B")
                file.seek(offset + int(chunk[first]) * row_bytes)
                if file.readinto(view) != len(view):
                    raise ValueError(f"{path}: shorter than its header says")
            out[order[start : start + len(chunk)]] = buffer[: len(chunk)]
    return out


def _store(stem: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write the cache files atomically; images last, as they mark a complete cache (an unwritable one costs the next run its decoding)."""
    images, labels = _cache_files(stem)
    if save_npy(labels, y):
        save_npy(images, x)


def _migrate(stem: Path) -> None:
    """A cache written by earlier versions (one ``.npz``) becomes the ``.npy`` pair once; the ``.npz`` goes."""
    old = stem.with_name(f"{stem.name}.npz")
    if not old.exists() or _cache_files(stem)[0].exists():
        return
    stored = load_npz(old, "x", "y")
    if stored is None:
        return  # damaged: rebuilt by the caller
    _store(stem, *stored)
    if _cache_files(stem)[0].exists():
        old.unlink(missing_ok=True)


def _cached(stem: Path, make: Callable[[], tuple[np.ndarray, np.ndarray]], rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The cached ``(images, labels)`` at ``stem`` (only ``rows`` of them, if given), or make and store them there."""
    _migrate(stem)
    images, labels = _cache_files(stem)
    if images.exists():
        try:
            y = np.load(labels, allow_pickle=False)
            x = np.load(images, allow_pickle=False) if rows is None else _gather(images, rows)
            if x.dtype == np.uint8 and x.ndim == 4 and y.ndim == 1 and len(x) == (len(y) if rows is None else len(rows)):
                return x, (y if rows is None else y[rows])
        except (OSError, ValueError, IndexError):
            pass  # a damaged cache is rebuilt below
    x, y = make()
    _store(stem, x, y)
    if rows is None:
        return x, y
    if images.exists():
        del x  # the rows from the file just written: no second copy of the whole array in memory
        return _gather(images, rows), y[rows]
    return x[rows], y[rows]


def _open_source(cfg: DataConfig) -> _Source:
    root = resolve_root(cfg.root)
    if cfg.dataset not in DATASETS:
        raise DataError("data.dataset", f"expected one of {', '.join(DATASETS)}, got {cfg.dataset!r}")
    if cfg.dataset == "cifar10" and (root / "cifar-10-batches-py").is_dir():
        return _Pickles(root, download=False)
    parts = [root / "train", root / "test"]
    if all(part.is_dir() for part in parts):
        return _Folders(root, parts, cfg.image_size, cfg.dataset)
    if cfg.dataset == "imagefolder":
        if not root.is_dir():
            raise DataError("data.root", f"{root}: no such folder")
        return _Folders(root, [root], cfg.image_size, cfg.dataset)
    return _Pickles(root, download=True)


def _decoding(items: Iterable[int], n: int) -> Iterable[int]:
    """``items`` with a transient progress bar on an interactive terminal's stderr only.

    Decoding a folder takes tens of seconds once; a person at a terminal should see it move, but a
    library call in a notebook, a pipe or a test prints nothing.
    """
    console = Console(stderr=True)
    return track(items, description=f"decoding {n:,} images", transient=True, console=console, disable=not console.is_terminal)


def load_images(cfg: DataConfig, indices: torch.Tensor) -> ImageSet:
    """The source's images at ``indices`` of its own order, without splitting: for class folders,
    the ``train/`` part then the ``test/`` part, each by class and then by file name (the order of
    ``torchvision.datasets.ImageFolder``). Benchmarks use it to feed other pipelines the same images."""
    images, labels = _open_source(cfg).read(indices)
    return ImageSet(images, labels)


def load_splits(cfg: DataConfig) -> Splits:
    """The train/validation/test split of ``cfg``'s images, identical on every call."""
    source = _open_source(cfg)
    parts = split_indices(source.n, cfg.split, cfg.seed, cfg.subset)
    images, labels = source.read(torch.cat(parts))
    sets, start = [], 0
    for part in parts:
        sets.append(ImageSet(images[start : start + len(part)], labels[start : start + len(part)]))
        start += len(part)
    return Splits(*sets, classes=source.classes, source=source.description)
