"""The on-disk cache of derived arrays (decoded images, PCA's curves and codes): where it lives, how an
entry is keyed, and how it is written so that a crash or a full disk never leaves a half entry.

    >>> key = Fingerprint("pca-curve-1").update(np.zeros((2, 3), np.uint8)).hexdigest()
    >>> len(key)
    32

Everything cached can be made again: an entry that cannot be written or read back only costs the next
run the time to recompute it, so writing reports failure by its result instead of raising.

Every entry carries a checksum of its content, checked on every read, so a file damaged in place (a
disk block zeroed, a copy cut short) is made again instead of trusted: a ``.npy`` entry ends with a
BLAKE2b digest of the bytes before it (numpy reads the array and ignores what follows it), and each
array of a ``.npz`` entry has its zip archive's CRC-32, which numpy's read through :mod:`zipfile` checks.
A writer killed mid-write leaves its temporary file; the next write into that folder removes it once
its writer is gone (:func:`sweep_partial_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

_HOST = socket.gethostname().replace("~", "-") or "localhost"


def cache_dir() -> Path:
    """``$CAE_CACHE_DIR``, else ``$XDG_CACHE_HOME/cae-search``, else ``~/.cache/cae-search``."""
    base = os.environ.get("CAE_CACHE_DIR")
    if base:
        return Path(base).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cae-search"


class Fingerprint:
    """An incremental hash for a cache key: text, raw bytes, and arrays (their type and shape, then their bytes).

    ``algorithm`` (16-byte BLAKE2b, or a :func:`hashlib.new` name) is fixed by each cache's existing keys: a changed key orphans the entries
    already on disk (each a PCA fit or a dataset's decoding to do again).
    """

    def __init__(self, *parts: Any, algorithm: str = "blake2b") -> None:
        self._hash = hashlib.blake2b(digest_size=16) if algorithm == "blake2b" else hashlib.new(algorithm)
        for part in parts:
            self.update(part)

    def update(self, part: Any) -> Fingerprint:
        """Add ``part``: a str (UTF-8), bytes as they are, or an array (numpy, or anything with ``.numpy()``: a CPU tensor)."""
        if isinstance(part, str):
            self._hash.update(part.encode())
        elif isinstance(part, bytes | bytearray | memoryview):
            self._hash.update(part)
        else:
            array = np.ascontiguousarray(part.detach().cpu().numpy() if hasattr(part, "detach") else part)
            self._hash.update(f"{array.dtype.str}|{array.shape}|".encode())
            self._hash.update(memoryview(array).cast("B"))
        return self

    def hexdigest(self, length: int | None = None) -> str:
        return self._hash.hexdigest()[:length]


# A temporary file's name says whose it is: ``<entry>~<host>~<pid>~<random>.partial``.
_PARTIAL = re.compile(r"[^~/]+~(?P<host>[^~/]+)~(?P<pid>\d+)~[a-z0-9_]+\.partial")
# A temporary file of another machine (a shared cache folder) is taken for abandoned after this long without a
# write: its writer's process cannot be asked, and the largest entry (a 184 MB image array) is written in seconds.
PARTIAL_STALE_SECONDS = 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def sweep_partial_files(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files that writers killed mid-write (SIGKILL, a lost machine) left in ``folder``; the removed.

    Only this module's temporary files are touched (a cache folder may be shared with anything): those of a
    process of this machine that is gone, and those of another machine untouched for :data:`PARTIAL_STALE_SECONDS`.
    A live writer's file taken by mistake (a process of another PID namespace under the same host name) only
    costs that writer its entry: its rename fails, and no reader ever sees a part.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _PARTIAL.fullmatch(entry.name)
        if found is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            idle = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        gone = not _alive(int(found["pid"])) if found["host"] == _HOST else idle > PARTIAL_STALE_SECONDS
        if gone:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> bool:
    """``write(file)`` into a temporary file beside ``path``, then renamed onto it: readers see the old entry or the
    whole new one, never a part. False (and nothing left behind) when the folder or the disk refuses.

    The temporary files that killed writers left in that folder are swept first (:func:`sweep_partial_files`).
    """
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_partial_files(path.parent)
        prefix = f"{path.name}~{_HOST}~{os.getpid()}~"
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=prefix, suffix=".partial", delete=False) as file:
            temporary = Path(file.name)
            write(file)
        os.replace(temporary, path)
        return True
    except OSError:
        return False
    finally:  # gone already after the rename; a partial file after any failure
        if temporary is not None:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)


def save_npz(path: Path, **arrays: np.ndarray) -> bool:
    """Arrays as one ``.npz`` entry, written atomically (:func:`write_atomically`)."""
    return write_atomically(path, lambda file: np.savez(file, **arrays))  # a file object: given a name, savez would add ".npz"


class _Hashing:
    """A file that hashes what is written to it (numpy writes a non-file object chunk by chunk through ``write``)."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.hash = _content_hash()

    def write(self, data: bytes | memoryview) -> int:
        self.hash.update(data)
        return self.file.write(data)


def _content_hash() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=16)


# The trailer of a ``.npy`` entry: a mark, then the digest of every byte before it.
_TRAILER_MARK = b"cae-search blake2b:"
_TRAILER = len(_TRAILER_MARK) + 16
_CHUNK = 1 << 20


def save_npy(path: Path, array: np.ndarray) -> bool:
    """One array as a ``.npy`` entry (readable a row at a time), with its checksum, written atomically."""

    def write(file: IO[bytes]) -> None:
        hashing = _Hashing(file)
        np.save(hashing, array, allow_pickle=False)
        file.write(_TRAILER_MARK + hashing.hash.digest())

    return write_atomically(path, write)


def checked_npy(path: Path) -> bool:
    """Whether the ``.npy`` entry at ``path`` is whole: its content matches its checksum (read through, a chunk at a time).

    False for a missing or damaged entry, and for one without a checksum (written by an earlier version): all are made again.
    """
    try:
        # O_NONBLOCK: a FIFO put in an entry's place would block the open (and the run) forever; it is then refused
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_size < _TRAILER:
                return False  # a device (/dev/zero), a FIFO, or too short to hold a checksum
            size = status.st_size
            digest, left = _content_hash(), size - _TRAILER
            buffer = bytearray(min(_CHUNK, left))
            view = memoryview(buffer)
            while left:
                got = file.readinto(view[: min(_CHUNK, left)])
                if not got:
                    return False
                digest.update(view[:got])
                left -= got
            return file.read(_TRAILER) == _TRAILER_MARK + digest.digest()
    except OSError:
        return False


def load_npy(path: Path) -> np.ndarray | None:
    """The array of the ``.npy`` entry at ``path``; None when it is missing, damaged or carries no checksum."""
    if not checked_npy(path):
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None


def load_npz(path: Path, *names: str) -> tuple[np.ndarray, ...] | None:
    """The arrays ``names`` of the ``.npz`` entry at ``path``; None when it is missing, damaged or lacks one of them
    (or is no plain file: a FIFO in its place would block the read forever)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with np.load(path, allow_pickle=False) as stored:
            return tuple(stored[name] for name in names)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
