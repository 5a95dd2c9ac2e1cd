"""The data every method reads: the study's splits, the seeded validation rows for choices, and the labelled subsets."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from analysis import probe
from analysis.dataset import classes_words, require_classes
from analysis.encoding import encode_images
from analysis.probe import Labelled
from cae.data import DataError, ImageSet
from cae.spec import ArchitectureError
from cae.tasks import TASKS, task_of_architecture
from search.trials.record import read_trial
from search.trials.trial_model import LoadedTrial, find_trial, load_trial

LABELS = (0.01, 0.1, 1.0)
SEEDS = 3
VAL_IMAGES = 2000  # choices are made on this many (seeded) validation images: the same for every method
RECONSTRUCTION = TASKS["reconstruction"]


def per_class(n: int, classes: int, fraction: float) -> int:
    """Images of each class in a balanced subset of ``fraction`` of ``n`` train images."""
    return round(fraction * n / classes)


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded class-balanced sample: :func:`per_class` images of every class; all at fraction 1.

    Raises :class:`~cae.data.DataError` when that is under one image per class or more than a class holds.
    """
    n, classes = len(labels), int(labels.max()) + 1
    if fraction >= 1:
        return torch.arange(n)
    k = per_class(n, classes, fraction)
    counts = torch.bincount(labels, minlength=classes)
    if k < 1:
        raise DataError(
            f"fractions={fraction:g}",
            f"{fraction:g} of the {n:,} train images is under one image per class of {classes}; "
            f"expected a fraction ≥ {classes / n:.2g} (one image of each class)",
        )
    if k > counts.min():
        raise DataError(
            f"fractions={fraction:g}",
            f"{k} images per class, but class {int(counts.argmin())} has {int(counts.min())} train images; "
            f"expected a smaller fraction, or 1 for the whole split",
        )
    generator = torch.Generator().manual_seed(seed)
    picked = [torch.nonzero(labels == c).flatten() for c in range(classes)]
    return torch.cat([idx[torch.randperm(len(idx), generator=generator)[:k]] for idx in picked]).sort().values


def fingerprint(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.numpy().astype(np.int64).tobytes()).hexdigest()[:12]


def labelled_subsets(labels: torch.Tensor, fractions: Iterable[float], seeds: int) -> dict[tuple[float, int], torch.Tensor]:
    """Every (fraction, seed)'s balanced subset; one seed at fraction 1, where the subset is the split itself."""
    return {(f, s): balanced_subset(labels, f, s) for f in fractions for s in range(1 if f >= 1 else seeds)}


def check_fractions(fractions: Iterable[float], seeds: int) -> tuple[float, ...]:
    chosen = tuple(sorted(set(fractions)))
    if not chosen or not all(0 < f <= 1 for f in chosen):
        raise ValueError(f"fractions: expected numbers in (0, 1], got {list(fractions)}")
    if seeds < 1:
        raise ValueError(f"seeds: expected an integer ≥ 1, got {seeds}")
    return chosen


@dataclass(frozen=True)
class Parts:
    """What every trial's methods read: the train images, the validation rows for choices, the test images, the labelled subsets."""

    train: ImageSet
    val: ImageSet  # the seeded VAL_IMAGES of the study's validation split
    test: ImageSet
    subsets: dict[tuple[float, int], torch.Tensor]  # (fraction, seed) → indices of labelled train images
    classes: int

    def through(self, encoder: Callable[[torch.Tensor], torch.Tensor]) -> list[Labelled]:
        """``encoder``'s flat codes (no autograd) of train, validation and test images, with their labels."""
        return [Labelled(encode_images(encoder, s.images, RECONSTRUCTION), s.labels.numpy()) for s in (self.train, self.val, self.test)]

    def images(self) -> list[Labelled]:
        """The uint8 images themselves (no copy), for the networks that train their encoder."""
        return [Labelled(s.images.numpy(), s.labels.numpy()) for s in (self.train, self.val, self.test)]


def checked_trial(study: str, storage: str | None, number: int | None) -> LoadedTrial:
    """:func:`load_trial`, after refusing (from its record, before any weights are read) an encoder that is not an autoencoder's."""
    _, frozen, _ = find_trial(study, storage, number)
    recorded = read_trial(frozen).architecture
    if recorded is not None:
        task = task_of_architecture(recorded)
        if task.name != RECONSTRUCTION.name:
            raise ArchitectureError(
                f"trial {frozen.number} of study {study} is a {task.name} network: its encoder learned colours from gray images, "
                "so it cannot answer whether an autoencoder's pretraining pays against classifiers from scratch and on pixels; "
                "expected a reconstruction trial (analysis.probe reads a colorizer's gray latent)"
            )
    return load_trial(study, storage, number)


def load_parts(loaded: LoadedTrial, fractions: tuple[float, ...], seeds: int) -> tuple[Parts, str, int]:
    """The study's splits as :class:`Parts` (every subset drawn: a bad fraction, or images without classes, is refused
    before any training), their source with the classes read, and the validation split's size."""
    data = loaded.data()
    description = data.describe()
    require_classes(description, "a classifier")
    rows = probe.train_subset(len(data.val), VAL_IMAGES)
    val = ImageSet(data.val.images[rows], data.val.labels[rows])
    subsets = labelled_subsets(data.train.labels, fractions, seeds)
    source = f"{data.source} ({classes_words(description)})"
    return Parts(data.train, val, data.test, subsets, int(data.train.labels.max()) + 1), source, len(data.val)
