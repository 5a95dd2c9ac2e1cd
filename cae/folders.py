"""A folder of images (``ROOT/<class>/*.png``, a ``train/``–``test/`` tree of them, or images with no classes),
decoded with PIL at their own size and mode, and cached.

The images keep what they are: gray files stay one channel (a folder with any colour image is read as
RGB, its gray images repeated into three channels), and their height and width are read from the files.
A folder whose images differ in size is refused, naming two that differ, unless the run asks for a size
(``image_size``: the centre square, resized); the networks are square, so non-square images need one too.

Decoding tens of thousands of image files takes tens of seconds, so the decoded array is cached once
under ``$CAE_CACHE_DIR`` (default ``~/.cache/cae-search``), keyed by the files' names, sizes and
modification times and by what the run asked of them. The cache is a pair of ``.npy`` files from which
only the chosen rows are read, a chunk at a time: a run on a subset reads only its own images, and no
run holds more than the images it keeps (plus one chunk). Each file is first read through once against
its checksum (:func:`cae.cache.checked_npy`: 0.3 s for CIFAR-10's 184 MB), so a file damaged in place is
decoded again rather than trained on. Caches written as one ``.npz`` by earlier versions are converted
on first use, and ``.npy`` caches without a checksum are decoded again once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from rich.console import Console
from rich.progress import track
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from cae.cache import Fingerprint, cache_dir, checked_npy, load_npy, load_npz, save_npy
from cae.settings import JPEG_EXPORT, DataError

# PIL modes of one channel (bilevel, 8-bit, 16- and 32-bit integer, float, and gray with alpha)
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "La"})


def _samples(root: Path, parts: list[Path]) -> tuple[list[tuple[str, int]], tuple[str, ...], dict[str, int]]:
    """The image files of ``parts`` with their class indices (torchvision's order), the class names, and how many
    images each part holds (by the part's folder name, in order).

    A part without class folders but with images of its own is one classless set (its labels are 0).
    """
    classes: list[str] | None = None
    samples: list[tuple[str, int]] = []
    sizes: dict[str, int] = {}
    for part in parts:
        try:
            part_classes, class_to_idx = find_classes(str(part)) if part.is_dir() else ([], {})
        except FileNotFoundError:  # torchvision's word for a folder without class folders
            part_classes, class_to_idx = [], {}
        if classes is not None and part_classes != classes:
            raise DataError("data.root", f"{part}: its class folders differ from those of {parts[0]}")
        classes = part_classes
        if class_to_idx:
            samples += make_dataset(str(part), class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=True)
        elif part.is_dir():
            samples += [(str(p), 0) for p in sorted(part.iterdir()) if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS]
        sizes[part.name] = len(samples) - sum(sizes.values())
    if not samples:
        raise DataError(
            "data.root",
            f"{root}: no images found (expected {root}/<class>/*.png, {root}/train/<class>/*.png or {root}/*.png)",
        )
    return samples, tuple(classes or ()), sizes


class FolderSource:
    """Image files under one or more parts, decoded with PIL and cached; ``name`` says what they are in sentences."""

    def __init__(self, root: Path, parts: list[Path], name: str, *, image_size: int | None = None, channels: int | None = None) -> None:
        self.root = root
        self.samples, self.classes, self.part_sizes = _samples(root, parts)
        self.n = len(self.samples)
        self.image_size = image_size
        self.channels = channels
        first = self.samples[0][0]
        try:
            with Image.open(first) as image:
                self._first_size = image.size  # width, height: the size every image must share unless a size is asked
        except (OSError, UnidentifiedImageError, ValueError) as error:
            raise DataError("data.root", f"{first}: cannot read this image ({error})") from None
        if image_size is None and self._first_size[0] != self._first_size[1]:
            w, h = self._first_size
            raise DataError(
                "data.image_size", f"{first} is {w}×{h} (width × height): the networks are square; set data.image_size to crop and resize"
            )
        kind = Path(first).suffix.lstrip(".").upper().replace("JPG", "JPEG")
        self.description = f"{name} ({kind} export) at {root}" if name != "images" else f"{kind} images at {root}"
        # lossy files are copies of a dataset's pixels, not the pixels themselves (published figures are on those)
        self.pixels = JPEG_EXPORT if kind == "JPEG" else "original"
        self._key = self._fingerprint()

    def _fingerprint(self) -> str:
        digest = Fingerprint(f"{self.root.resolve()}|{self.image_size}|{self.channels}|v2", algorithm="sha1")
        for path, label in self.samples:
            stat = os.stat(path)
            digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n")
        return digest.hexdigest(16)

    @property
    def _side(self) -> int:
        return self.image_size or self._first_size[1]

    def _decode(self, path: str) -> tuple[np.ndarray, bool]:
        """The image at ``path`` as an H×W×C array (C = 1 or 3), and whether its file holds colour."""
        try:
            with Image.open(path) as image:
                if self.image_size is None and image.size != self._first_size:
                    (w0, h0), (w, h) = self._first_size, image.size
                    raise DataError(
                        "data.image_size",
                        f"images of different sizes: {self.samples[0][0]} is {w0}×{h0}, {path} is {w}×{h}; "
                        "set data.image_size to crop and resize them all to one size",
                    )
                colour = image.mode not in GRAY_MODES
                gray = self.channels == 1 or (self.channels is None and not colour)
                image = image.convert("L" if gray else "RGB")
                if self.image_size is not None and image.size != (self.image_size, self.image_size):
                    image = ImageOps.fit(image, (self.image_size, self.image_size), Image.Resampling.BICUBIC)
                pixels = np.asarray(image)
                return (pixels[:, :, None] if pixels.ndim == 2 else pixels), colour
        except (OSError, UnidentifiedImageError, ValueError) as error:
            if isinstance(error, DataError):
                raise
            raise DataError("data.root", f"{path}: cannot read this image ({error})") from None

    def _decode_rows(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        # Serial on purpose: PIL decoding of small files is bound by per-file overhead under the GIL
        # (a thread pool measured slower). Written into one preallocated N×3×H×W array, gray images
        # repeated into its three channels until a colour one shows the folder is not gray (then kept
        # as three); an all-gray folder keeps one channel at the end.
        side = self._side
        x = np.empty((len(rows), self.channels or 3, side, side), dtype=np.uint8)
        any_colour = False
        for row, i in enumerate(_decoding(rows, len(rows))):
            pixels, colour = self._decode(self.samples[i][0])
            any_colour |= colour
            x[row] = pixels.transpose(2, 0, 1)  # broadcast: one gray channel fills three
        if self.channels is None and not any_colour:
            x = np.ascontiguousarray(x[:, :1])
        return x, np.array([self.samples[i][1] for i in rows], dtype=np.int64)

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows = indices.numpy()
        whole = cache_dir() / f"{self._key}-all"
        if _cache_exists(whole) or len(rows) == self.n:
            x, y = _cached(whole, lambda: self._decode_rows(list(range(self.n))), rows)
        else:
            chosen = Fingerprint(rows.tobytes(), algorithm="sha1").hexdigest(12)
            x, y = _cached(cache_dir() / f"{self._key}-{chosen}", lambda: self._decode_rows(rows.tolist()))
        return torch.from_numpy(x), torch.from_numpy(y)


GATHER_ROWS = 4096  # rows read at a time: 12 MB of CIFAR-10


def _cache_files(stem: Path) -> tuple[Path, Path]:
    return stem.with_name(f"{stem.name}-images.npy"), stem.with_name(f"{stem.name}-labels.npy")


def _cache_exists(stem: Path) -> bool:
    return _cache_files(stem)[0].exists() or stem.with_name(f"{stem.name}.npz").exists()


def gather(path: Path, rows: np.ndarray) -> np.ndarray:
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
    # checked against their checksums first: a file damaged in place (zeroed, say) would otherwise be read as images
    y = load_npy(labels) if images.exists() else None
    if y is not None and checked_npy(images):
        try:
            x = np.load(images, allow_pickle=False) if rows is None else gather(images, rows)
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
        return gather(images, rows), y[rows]
    return x[rows], y[rows]


def _decoding(items: Iterable[int], n: int) -> Iterable[int]:
    """``items`` with a transient progress bar on an interactive terminal's stderr only.

    Decoding a folder takes tens of seconds once; a person at a terminal should see it move, but a
    library call in a notebook, a pipe or a test prints nothing.
    """
    console = Console(stderr=True)
    return track(items, description=f"decoding {n:,} images", transient=True, console=console, disable=not console.is_terminal)
