"""What a model learns to produce from what: the image from itself, or its colours from its gray.

A :class:`Task` turns a batch of RGB images into the model's inputs and training targets, and the
model's outputs back into an RGB image. Errors are always measured on that RGB image, so that a
reconstruction, a gray → RGB colorizer and a gray → chroma colorizer are compared on one scale.

- ``reconstruction``: RGB → RGB, the autoencoder of the assignment;
- ``colorization``: gray (BT.601 luma) → RGB;
- ``colorization_chroma``: gray → chrominance (Cb, Cr), merged with the input's own luma into RGB,
  so that the brightness of the result is exactly the photograph's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, get_args

import torch
from torch import nn

from cae.color import chroma, luma, ycbcr_to_rgb
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose

TaskName = Literal["reconstruction", "colorization", "colorization_chroma"]
TASK_NAMES: tuple[str, ...] = get_args(TaskName)
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


TASKS: dict[str, Task] = {
    "reconstruction": Task("reconstruction", 3, 3, _same, _same, _output),
    "colorization": Task("colorization", 1, 3, luma, _same, _output),
    "colorization_chroma": Task("colorization_chroma", 1, 2, luma, chroma, _with_luma),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"task: expected one of {', '.join(TASKS)}, got {name!r}") from None


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
    """The task an architecture's image channels in and out make (3 → 3 is reconstruction)."""
    for task in TASKS.values():
        if (task.in_channels, task.out_channels) == (arch.in_channels, arch.out_channels):
            return task
    raise ValueError(f"no task takes {arch.in_channels} channels to {arch.out_channels}; expected one of {', '.join(TASKS)}")


def adapt(arch: Architecture, task: Task) -> Architecture:
    """``arch`` with the input and output channels of ``task`` (the decoder's last convolution changes)."""
    if (arch.in_channels, arch.out_channels) == (task.in_channels, task.out_channels):
        return arch
    decoder = list(arch.decoder)
    last = max((i for i, layer in enumerate(decoder) if isinstance(layer, Conv | ConvTranspose)), default=None)
    if last is None:
        raise ArchitectureError("the decoder has no convolution to produce the task's output channels")
    decoder[last] = replace(decoder[last], out_channels=task.out_channels)
    return replace(arch, decoder=tuple(decoder), in_channels=task.in_channels, out_channels=task.out_channels)
