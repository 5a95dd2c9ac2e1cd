"""What the analyses need of a study's data: its name in sentences, its classes, its colour; refusals where they lack.

Every analysis names the study's own dataset, taken from its data (:meth:`cae.data.Splits.describe`), never
a fixed one. Those that read classes (:mod:`analysis.probe`, :mod:`analysis.transfer`,
:mod:`analysis.latent_space`) refuse in one line a folder of images without class folders
(``classes == ()``: there is nothing for them to read), and :mod:`analysis.colorize` refuses images of
one channel (there is no colour to learn), each before any training.
"""

from __future__ import annotations

from pathlib import Path

from cae.datasets import IMAGEFOLDER, title
from cae.settings import DataDescription, DataError


class NoClassesError(DataError):
    """A question about classes asked of images without any (a folder of images with no class folders)."""


class GrayImagesError(DataError):
    """Colour asked of images that have none: a colorizer trained on gray images (MNIST, or ``data.channels: 1``)."""


def data_name(data: DataDescription) -> str:
    """The dataset's name for sentences.

    >>> data_name(DataDescription())
    'CIFAR-10'
    >>> data_name(DataDescription(dataset="imagefolder", root="/data/photos"))
    'the folder photos'
    """
    if data.dataset == IMAGEFOLDER:
        return f"the folder {Path(data.root).name}" if data.root else "a folder of images"
    return title(data.dataset)


def classes_words(data: DataDescription) -> str:
    """``the 10 classes of CIFAR-10``: how many classes, of which data.

    >>> classes_words(DataDescription(dataset="mnist", shape=(1, 28, 28), classes=tuple("0123456789")))
    'the 10 classes of MNIST'
    """
    return f"the {len(data.classes)} classes of {data_name(data)}"


def require_classes(data: DataDescription, question: str) -> tuple[str, ...]:
    """The classes of ``data``; :class:`NoClassesError` (one line naming the folder) where it has none.

    ``question`` says what needs them, for the message: ``"a linear probe of the latent"``.
    """
    if len(data.classes) >= 2:
        return data.classes
    held = "no class folders" if not data.classes else f"one class folder ({data.classes[0]})"
    if data.dataset == IMAGEFOLDER:
        raise NoClassesError(
            "data.root",
            f"{data.root or data.source} holds images with {held}, so {question} has no classes to read; put each "
            "class's images in a folder of its own (ROOT/<class>/*.png)",
        )
    count = f"{len(data.classes)} class" if data.classes else "no classes"
    raise NoClassesError("data", f"{data.source} has {count}, so {question} has none to tell apart")


def require_colour(data: DataDescription, question: str, *, key: str = "data.dataset") -> None:
    """Refuse (:class:`GrayImagesError`, one line naming the dataset and its channels) images of fewer than 3 channels.

    ``key`` is the setting that made them gray (``data.channels`` where the study converted colour images).

    >>> require_colour(DataDescription(dataset="mnist", shape=(1, 28, 28)), "a colorizer")
    Traceback (most recent call last):
    ...
    analysis.dataset.GrayImagesError: data.dataset: MNIST: its images are 1 × 28 × 28 (1 channel), so a colorizer ...
    """
    channels = data.shape[0]
    if channels < 3:
        raise GrayImagesError(
            key,
            f"{data_name(data)}: its images are {data.shape_text} ({channels} channel{'s' * (channels != 1)}), so {question} has "
            "no colour to learn from them; expected images of 3 channels (RGB)",
        )
