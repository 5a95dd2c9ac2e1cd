"""The one on-disk cache module (cae/cache.py) that the decoded images and PCA's curves and codes share."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from cae.cache import Fingerprint, cache_dir, load_npz, save_npy, save_npz, write_atomically


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CAE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "cae-search"


def test_a_fingerprint_tells_arrays_apart_by_type_and_shape_and_keeps_the_old_keys() -> None:
    flat = np.arange(12, dtype=np.uint8)
    keys = {Fingerprint("v1", a).hexdigest() for a in (flat, flat.reshape(3, 4), flat.astype(np.int16), flat + 1)}
    assert len(keys) == 4  # the same bytes in another shape, or the same values in another type, are another entry
    assert Fingerprint("v1", torch.from_numpy(flat)).hexdigest() == Fingerprint("v1", flat).hexdigest()
    # the keys of the caches already on disk: PCA's blake2b of version|dtype|shape|bytes, the images' sha1 of text and rows
    manual = hashlib.blake2b(b"v1", digest_size=16)
    manual.update(b"|u1|(12,)|")  # numpy's dtype.str, then the shape
    manual.update(flat.tobytes())
    assert Fingerprint("v1", flat).hexdigest() == manual.hexdigest()
    assert Fingerprint(flat.tobytes(), algorithm="sha1").hexdigest(12) == hashlib.sha1(flat.tobytes()).hexdigest()[:12]


def test_an_entry_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "entry.npz"
    assert save_npz(path, a=np.arange(3), b=np.eye(2))
    a, b = load_npz(path, "a", "b")
    assert a.tolist() == [0, 1, 2] and b.tolist() == [[1, 0], [0, 1]]

    def fails_half_way(file) -> None:
        file.write(b"half an entry")
        raise OSError(errno.ENOSPC, "No space left on device")

    assert write_atomically(path, fails_half_way) is False
    assert load_npz(path, "a")[0].tolist() == [0, 1, 2]  # the old entry is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["entry.npz"]  # and no temporary file is left

    with pytest.raises(ZeroDivisionError):  # a bug is no full disk: it is raised, and still leaves nothing behind
        write_atomically(path, lambda file: 1 / 0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["entry.npz"]


def test_an_unwritable_or_damaged_cache_costs_a_recomputation_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert save_npy(blocker / "x.npy", np.zeros(3)) is False  # under a file: nothing can be created, even as root
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    assert load_npz(damaged, "a") is None
    assert load_npz(tmp_path / "missing.npz", "a") is None
    assert save_npz(tmp_path / "one.npz", a=np.zeros(1))
    assert load_npz(tmp_path / "one.npz", "a", "b") is None  # an entry without a key it should hold
