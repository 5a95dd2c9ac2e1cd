"""Caches that cannot be trusted (issue 32, item 8): checked by their checksums, and the leftovers of killed writers swept.

An image cache zeroed in place (the same size, its header intact) used to be read as images: the run
trained on black pictures. A writer killed mid-write (SIGKILL) left its temporary file (6 MB for a
small run's PCA code) in the cache folder forever.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cae.cache import PARTIAL_STALE_SECONDS, checked_npy, load_npy, load_npz, save_npy, save_npz, sweep_partial_files
from cae.data import DataConfig, load_splits
from cae.pca import pca_baseline

HOST = socket.gethostname()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def image_folder(root: Path) -> Path:
    """20 bright, seeded 16 × 16 PNG images in two class folders: nothing in them is black."""
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray((rng.random((16, 16, 3)) * 155 + 100).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def zero_in_place(path: Path, start: int, end: int | None = None) -> None:
    """Bytes ``start`` to ``end`` of ``path`` overwritten with zeros: the file keeps its size (a lost block, a failed copy)."""
    with open(path, "r+b") as file:
        file.seek(start)
        file.write(bytes((end if end is not None else path.stat().st_size) - start))


def array_offset(path: Path) -> int:
    """Where the array's bytes start in a ``.npy`` file (after its header)."""
    return np.load(path, mmap_mode="r").offset


@pytest.mark.parametrize("subset", [None, 12], ids=["every-image", "rows-of-the-whole-cache"])
def test_an_image_cache_zeroed_in_place_is_decoded_again(subset: int | None, cache: Path, tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images")
    load_splits(DataConfig(dataset="imagefolder", root=str(root)))  # every image: the whole-folder cache
    first = load_splits(DataConfig(dataset="imagefolder", root=str(root), subset=subset))  # a subset: rows of it
    images = next(cache.glob("*-all-images.npy"))
    size = images.stat().st_size
    zero_in_place(images, array_offset(images), array_offset(images) + 16 * 16 * 3 * 20)  # every pixel; header and checksum kept
    assert images.stat().st_size == size and not np.load(images, allow_pickle=False).any()
    again = load_splits(DataConfig(dataset="imagefolder", root=str(root), subset=subset))
    for split in ("train", "val", "test"):  # the real images, not black ones
        assert torch.equal(getattr(again, split).images, getattr(first, split).images)
    assert again.train.images.float().mean() > 100
    assert checked_npy(images) and np.load(images, allow_pickle=False).min() >= 100  # and the cache is whole again


def test_a_label_cache_zeroed_in_place_is_decoded_again(cache: Path, tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images")
    first = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    labels = next(cache.glob("*-all-labels.npy"))
    zero_in_place(labels, array_offset(labels), array_offset(labels) + 8 * 20)  # every image would be class 0
    again = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    assert torch.equal(again.train.labels, first.train.labels) and again.train.labels.any()


def test_every_npy_entry_is_checked_against_its_checksum(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    path = tmp_path / "x.npy"
    assert save_npy(path, array)
    np.testing.assert_array_equal(load_npy(path), array)
    np.testing.assert_array_equal(np.load(path), array)  # still a .npy file for numpy: the checksum follows the array
    whole = path.read_bytes()
    for damaged in (
        whole[:-1],  # cut short
        whole[: len(whole) // 2],
        whole[:-10] + bytes(10),  # the checksum itself damaged
        whole[:-40] + bytes([whole[-40] ^ 1]) + whole[-39:],  # one bit of the array
        bytes(len(whole)),  # zeroed entirely
    ):
        path.write_bytes(damaged)
        assert load_npy(path) is None and not checked_npy(path)
    np.save(path, array)  # an entry of an earlier version: no checksum, so made again
    assert load_npy(path) is None
    assert load_npy(tmp_path / "missing.npy") is None


def test_a_pca_cache_zeroed_in_place_is_fitted_again(cache: Path) -> None:
    rng = np.random.default_rng(3)
    train, test = (torch.from_numpy(rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)) for n in (120, 30))
    first = pca_baseline(train, test)
    for entry in sorted((cache / "pca").iterdir()):
        zero_in_place(entry, entry.stat().st_size // 3, entry.stat().st_size // 3 + 256)  # inside an array, the archive's index kept
    messages: list[str] = []
    np.testing.assert_array_equal(pca_baseline(train, test, on_progress=messages.append).curve, first.curve)
    assert messages == ["fitting PCA on 120 training images (cached afterwards)"]  # the damaged code was not trusted


def test_a_truncated_npz_entry_is_none(tmp_path: Path) -> None:
    path = tmp_path / "e.npz"
    assert save_npz(path, a=np.arange(1000.0))
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(whole) // 2, 10, 0):
        path.write_bytes(whole[:cut])
        assert load_npz(path, "a") is None


# ---------------------------------------------------------------- temporary files of killed writers


def partial(folder: Path, entry: str, host: str, pid: int, *, age: float = 0) -> Path:
    """A temporary file as :func:`cae.cache.write_atomically` names it, last written ``age`` seconds ago."""
    path = folder / f"{entry}~{host}~{pid}~abcd1234.partial"
    path.write_bytes(b"half an entry")
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_leftovers_of_gone_writers_are_swept_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    gone = partial(folder, "x-images.npy", HOST, dead_pid())  # this machine's writer is gone: at once
    abandoned = partial(folder, "y.npz", "other-node", 12345, age=PARTIAL_STALE_SECONDS + 60)  # another machine's, long idle
    writing = partial(folder, "z.npz", HOST, os.getpid())  # a writer still running here
    fresh = partial(folder, "w.npz", "other-node", 12345, age=60)  # another machine's, written a minute ago
    strangers = [folder / name for name in ("tmpabcd1234.tmp", "notes.partial", "a~b~c~d.partial", "old.tmp")]
    for path in strangers:  # not this module's: a cache folder may be shared with anything
        path.write_text("someone else's")
        os.utime(path, (0, 0))
    (folder / "linked~h~1~abcd1234.partial").symlink_to(tmp_path / "elsewhere")
    assert save_npy(folder / "entry.npy", np.zeros(3))  # a write into the folder sweeps it
    assert not gone.exists() and not abandoned.exists()
    assert writing.exists() and fresh.exists() and all(path.exists() for path in strangers)
    assert (folder / "linked~h~1~abcd1234.partial").is_symlink()
    assert sweep_partial_files(folder, now=time.time() + PARTIAL_STALE_SECONDS + 120) == [fresh]  # idle long enough now
    assert writing.exists()  # a live writer of this machine is never swept, however long it takes
    assert sorted(p.name for p in folder.glob("entry*")) == ["entry.npy"]


@pytest.mark.slow  # a process killed mid-write
@pytest.mark.serial
def test_a_writer_killed_mid_write_leaves_a_file_the_next_write_sweeps(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    writer = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cae.cache import write_atomically\n"
        "def write(file):\n"
        "    file.write(bytes(6 << 20)); file.flush(); print('writing', flush=True); time.sleep(600)\n"
        "write_atomically(Path(sys.argv[1]), write)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer, str(folder / "code.npz")], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1]
    )
    try:
        assert process.stdout.readline() == "writing\n"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    left = list(folder.iterdir())
    assert len(left) == 1 and left[0].stat().st_size == 6 << 20 and left[0].name.endswith(".partial")  # what SIGKILL leaves
    assert save_npz(folder / "other.npz", a=np.zeros(1))
    assert sorted(p.name for p in folder.iterdir()) == ["other.npz"]


# ---------------------------------------------------------------- hostile entries: no plain file where an entry should be


class Hung(BaseException):
    """Raised by the alarm: no ``except OSError`` on the way may take it for a damaged entry."""


@contextlib.contextmanager
def within(seconds: int) -> Iterator[None]:
    def hung(*_args: object) -> None:
        raise Hung(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fifo_or_a_device_in_an_entry_place_is_made_again_not_waited_on(cache: Path, tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images")
    first = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    images = next(cache.glob("*-all-images.npy"))
    images.unlink()
    os.mkfifo(images)  # opened for reading, a FIFO blocks until a writer comes: forever
    with within(30):
        again = load_splits(DataConfig(dataset="imagefolder", root=str(root)))
    assert torch.equal(again.train.images, first.train.images) and checked_npy(images)  # decoded, and the FIFO replaced
    fifo = tmp_path / "entry.npz"
    os.mkfifo(fifo)
    with within(10):
        assert load_npz(fifo, "a") is None and load_npy(fifo) is None
    device = tmp_path / "zeros.npy"
    device.symlink_to("/dev/zero")  # endless zeros: never taken for images, never read to the end
    with within(10):
        assert load_npy(device) is None
