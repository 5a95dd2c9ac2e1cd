"""What a model learns to produce from what: the image from itself, or its colours from its gray.

A :class:`Task` turns a batch of RGB images into the model's inputs and training targets, and the
model's outputs back into an RGB image. Errors are always measured on that RGB image, so that a
reconstruction, a gray → RGB colorizer and a gray → chroma colorizer are compared on one scale.

- ``reconstruction``: the image → itself, at its own channels (RGB → RGB, the autoencoder of the
  assignment; gray → gray);
- ``colorization``: gray (BT.601 luma) → RGB;
- ``colorization_chroma``: gray → chrominance (Cb, Cr), merged with the input's own luma into RGB,
  so that the brightness of the result is exactly the photograph's.
- ``colorization_classes``: gray → a distribution over quantised chroma classes (Zhang et al. 2016,
  :mod:`cae.chroma_classes`), trained by rebalanced cross-entropy and decoded by the annealed mean,
  merged with the input's luma like ``colorization_chroma``. Its classes come from the training data,
  so its architecture carries them (``Architecture.classes``) and :func:`with_classes` makes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

import torch
from torch import nn

from cae.chroma_bins import ChromaBins
from cae.chroma_classes import annealed_mean, class_loss
from cae.color import chroma, luma, ycbcr_to_rgb
from cae.layers import ArchitectureError, Conv, ConvTranspose, Layer
from cae.settings import TaskName
from cae.spec import Architecture

Images = Callable[[torch.Tensor], torch.Tensor]


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def _output(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return outputs


def _with_luma(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    return ycbcr_to_rgb(torch.cat([inputs, outputs], dim=1))


@dataclass(frozen=True)
class Task:
    name: TaskName
    in_channels: int
    out_channels: int
    inputs: Images  # RGB batch in [0, 1] → model input
    targets: Images  # RGB batch in [0, 1] → what the loss compares the output with
    to_rgb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (input, output) → RGB image
    # (output, RGB batch) → the training loss, for tasks whose loss is their own (train.loss is then unused)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None

    @property
    def reconstructs(self) -> bool:
        """Whether the model's target is its own input (the autoencoder): PCA of the images is then its baseline, a
        linear skip path can start from PCA, and it sees the images at their own channels. Otherwise it colorizes."""
        return self.name == "reconstruction"


TASKS: dict[str, Task] = {
    "reconstruction": Task("reconstruction", 3, 3, _same, _same, _output),
    "colorization": Task("colorization", 1, 3, luma, _same, _output),
    "colorization_chroma": Task("colorization_chroma", 1, 2, luma, chroma, _with_luma),
}


CLASSES = "colorization_classes"


class TaskError(ArchitectureError):
    """A task the data cannot serve: a colorizer of gray images (there is no colour to learn)."""


def get_task(name: str, channels: int) -> Task:
    """The task ``name`` for images of ``channels`` channels (``colorization_classes`` needs its bins: :func:`classes_task`).

    Raises :class:`TaskError` for a colorizer of one-channel images.
    """
    if name not in TASKS:
        raise ValueError(f"task: expected one of {', '.join(TASKS)} (or {CLASSES}, through classes_task), got {name!r}")
    check_channels(name, channels)
    if name == "reconstruction":
        return replace(TASKS[name], in_channels=channels, out_channels=channels)
    return TASKS[name]


def check_channels(name: str, channels: int) -> None:
    """Refuse (:class:`TaskError`) a colorizing task on images that are not RGB."""
    if name != "reconstruction" and channels != 3:
        raise TaskError(
            f"task {name} learns colour from gray, but the images have {channels} channel{'s' * (channels != 1)}: it needs RGB images"
        )


@cache
def classes_task(bins: ChromaBins) -> Task:
    """Gray → logits of ``bins``' classes, decoded at ``bins.temperature`` and merged with the input's luma."""

    def to_rgb(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        return _with_luma(inputs, annealed_mean(outputs, bins))

    def loss(outputs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return class_loss(outputs, chroma(x), bins)

    return Task(CLASSES, 1, bins.n_classes, luma, chroma, to_rgb, loss)


def task_of(model: nn.Module) -> Task:
    """The task a model was built for, read from its architecture's channels (1 → 2 is chroma).

    Reading it from the architecture value means a checkpoint, which stores that value, always
    evaluates the way it was trained. Modules without an architecture are reconstructions.
    """
    arch = getattr(model, "arch", None)
    if arch is None:
        return TASKS["reconstruction"]
    return task_of_architecture(arch)


def task_of_architecture(arch: Architecture) -> Task:
    """The task an architecture's image channels in and out make (C → C is reconstruction), or its classes'."""
    if arch.classes is not None:
        return classes_task(arch.classes)
    if arch.in_channels == arch.out_channels:
        return get_task("reconstruction", arch.in_channels)
    for task in TASKS.values():
        if (task.in_channels, task.out_channels) == (arch.in_channels, arch.out_channels):
            return task
    raise ValueError(f"no task takes {arch.in_channels} channels to {arch.out_channels}; expected one of {', '.join(TASKS)}")


def _last_convolution(decoder: list[Layer], what: str) -> int:
    """Index of the decoder's last (transposed) convolution: the layer that makes the output's channels."""
    last = max((i for i, layer in enumerate(decoder) if isinstance(layer, Conv | ConvTranspose)), default=None)
    if last is None:
        raise ArchitectureError(f"the decoder has no convolution to produce {what}")
    return last


def adapt(arch: Architecture, task: Task) -> Architecture:
    """``arch`` with the input and output channels of ``task`` (the decoder's last convolution changes).

    A chroma classifier adapted to another task stops being one: its classes are dropped.
    """
    if (arch.in_channels, arch.out_channels) == (task.in_channels, task.out_channels) and arch.classes is None:
        return arch
    decoder = list(arch.decoder)
    last = _last_convolution(decoder, "the task's output channels")
    decoder[last] = replace(decoder[last], out_channels=task.out_channels)
    return replace(arch, decoder=tuple(decoder), in_channels=task.in_channels, out_channels=task.out_channels, classes=None)


def with_classes(arch: Architecture, bins: ChromaBins) -> Architecture:
    """``arch`` as a chroma classifier of ``bins``: 1 gray channel in, one logit per class out.

    The last convolution loses its activation and normalisation and there is no output activation:
    logits take any real value. A stride-1 last convolution becomes 1×1, a per-pixel classifier of the
    features before it as in Zhang et al. (their class layer is 1×1): at 3×3 it would cost 9 × Q
    multiply-adds per input channel and pixel, most of a step with a few hundred classes.
    """
    if arch.linear_skip:
        raise ArchitectureError("a chroma classifier cannot have linear_skip (a dense path to every class logit of every pixel)")
    decoder = list(arch.decoder)
    last = _last_convolution(decoder, "the class logits")
    layer = replace(decoder[last], out_channels=bins.n_classes, activation="none", norm="none")
    if isinstance(layer, Conv) and layer.stride == 1:
        layer = replace(layer, kernel=1, padding=0)
    decoder[last] = layer
    return replace(arch, decoder=tuple(decoder), in_channels=1, out_channels=bins.n_classes, output="none", classes=bins)
