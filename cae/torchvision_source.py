"""A dataset of :data:`cae.datasets.REGISTRY` read through torchvision's own class, one part at a time.

The files are where torchvision's download leaves them under the root. Parts whose files are all
there are read; the others are left out, and the source's description says so (the MNIST test set
alone is a dataset of 10,000 digits). With no part there, torchvision downloads the dataset (its
md5 sums checked); offline, the error names the folder and the files to put there.

The md5 sums are not checked on files already there, only that they exist: torchvision's check
refuses any copy that is not byte for byte its download (a re-export, or the few images the tests
write in each dataset's real format), and its download checks them anyway.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.datasets

from cae.datasets import Dataset
from cae.settings import DataError


def _exists(self: Any) -> bool:
    return True  # the part's files were checked before the class was made (TorchvisionSource._present)


@cache
def _unverified(name: str, check: str) -> type:
    """torchvision's dataset class ``name`` with its md5 check ``check`` replaced by the existence check made before it is called."""
    base = getattr(torchvision.datasets, name)
    methods: dict[str, Any] = {check: _exists}
    if isinstance(getattr(base, "meta", None), dict):
        # CIFAR checks its meta file with a module function no method override reaches: without an md5 it checks existence
        methods["meta"] = {**base.meta, "md5": None}
    return type(name, (base,), methods)  # the same name: the MNIST family finds its folder by its class's name


def _arrays(dataset: Any, entry: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A torchvision dataset's images as N×C×H×W uint8 and its labels as int64."""
    x = dataset.data
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if entry.layout == "nhw":
        x = x[:, None]
    elif entry.layout == "nhwc":
        x = x.transpose(0, 3, 1, 2)
    labels = getattr(dataset, entry.labels)
    y = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return np.ascontiguousarray(x, dtype=np.uint8), y.astype(np.int64).reshape(-1)


class TorchvisionSource:
    """The ``parts`` of ``entry`` under ``root``, joined in that order."""

    def __init__(self, entry: Dataset, root: Path, parts: tuple[str, ...]) -> None:
        unknown = [p for p in parts if p not in entry.parts]
        if unknown:
            raise DataError("data.parts", f"{entry.name} has the parts {', '.join(entry.parts)}, not {', '.join(unknown)}")
        present = [p for p in parts if self._present(entry, root, p)]
        if not present:
            present = list(parts)
            self._download(entry, root, parts)
        xs, ys, classes = [], [], None
        for part in present:
            try:
                dataset = _unverified(entry.torchvision, entry.check)(str(root), **entry.parts[part], **entry.extras)
                x, y = _arrays(dataset, entry)
            except Exception as error:  # a cut or damaged file: torchvision raises what its reader raises (pickle, scipy, numpy)
                reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                files = ", ".join(entry.files[part])
                raise DataError(
                    "data.root", f"{root}: {entry.title}'s {part} files ({files}) cannot be read ({reason}); put whole copies there"
                ) from None
            xs.append(x)
            ys.append(y)
            classes = classes or getattr(dataset, "classes", None)
        self.part_sizes = {part: len(y) for part, y in zip(present, ys, strict=True)}
        self.pixels = "original"
        self._x = np.concatenate(xs)
        self._y = torch.from_numpy(np.concatenate(ys))
        self.n = len(self._y)
        self.classes = tuple(classes or entry.classes)
        missing = [p for p in parts if p not in present]
        which = (
            f" ({' and '.join(present)} {'part' if len(present) == 1 else 'parts'}; no {', '.join(missing)} files there)" if missing else ""
        )
        self.description = f"{entry.title}{which} at {root}"

    @staticmethod
    def _present(entry: Dataset, root: Path, part: str) -> bool:
        return all((root / name).is_file() for name in entry.files[part])

    @staticmethod
    def _download(entry: Dataset, root: Path, parts: tuple[str, ...]) -> None:
        cls = getattr(torchvision.datasets, entry.torchvision)
        try:
            for part in parts:
                cls(str(root), **entry.parts[part], **entry.extras, download=True)
        except Exception as error:  # torchvision raises bare RuntimeError/URLError/OSError here
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            files = ", ".join(dict.fromkeys(f for part in parts for f in entry.files[part]))
            raise DataError(
                "data.root",
                f"{root}: {entry.title} is not there and could not be downloaded ({reason}); put its files there ({files}), "
                "or point data.root (or CAE_DATA_DIR) at the folder that holds them",
            ) from None

    def read(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the chosen rows first, then one copy of them only
        return torch.from_numpy(self._x[indices.numpy()]), self._y[indices]
