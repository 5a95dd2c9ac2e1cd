"""The on-disk cache of derived arrays (decoded images, PCA's curves and codes): where it lives, how an
entry is keyed, and how it is written so that a crash or a full disk never leaves a half entry.

    >>> key = Fingerprint("pca-curve-1").update(np.zeros((2, 3), np.uint8)).hexdigest()
    >>> len(key)
    32

Everything cached can be made again: an entry that cannot be written or read back only costs the next
run the time to recompute it, so writing reports failure by its result instead of raising.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def cache_dir() -> Path:
    """``$CAE_CACHE_DIR``, else ``$XDG_CACHE_HOME/cae-search``, else ``~/.cache/cae-search``."""
    base = os.environ.get("CAE_CACHE_DIR")
    if base:
        return Path(base).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cae-search"


class Fingerprint:
    """An incremental hash for a cache key: text, raw bytes, and arrays (their type and shape, then their bytes).

    ``algorithm`` (16-byte BLAKE2b, or a :func:`hashlib.new` name) is fixed by each cache's existing keys: a changed key orphans the entries
    already on disk (a minute of PCA, tens of seconds of decoding each).
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


def write_atomically(path: Path, write: Callable[[IO[bytes]], None]) -> bool:
    """``write(file)`` into a temporary file beside ``path``, then renamed onto it: readers see the old entry or the
    whole new one, never a part. False (and nothing left behind) when the folder or the disk refuses."""
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as file:
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


def save_npy(path: Path, array: np.ndarray) -> bool:
    """One array as a ``.npy`` entry (readable a row at a time), written atomically."""
    return write_atomically(path, lambda file: np.save(file, array, allow_pickle=False))


def load_npz(path: Path, *names: str) -> tuple[np.ndarray, ...] | None:
    """The arrays ``names`` of the ``.npz`` entry at ``path``; None when it is missing, damaged or lacks one of them."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return tuple(stored[name] for name in names)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
