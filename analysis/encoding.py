"""Images as flat vectors through an encoder, for the views that look at codes (latent space, probes)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from cae.tasks import Task
from cae.training import EVAL_BATCH, to_unit


@torch.inference_mode()
def encode_images(
    encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, task: Task, device: torch.device | None = None
) -> np.ndarray:
    """One flat float32 vector per uint8 image: ``encoder`` applied to what the model sees (gray for a colorizer).

    Batched and without autograd: a whole train split of latents, with graphs, would not fit in memory.
    """
    parts = []
    for start in range(0, len(images), EVAL_BATCH):
        x = task.inputs(to_unit(images[start : start + EVAL_BATCH].to(device))).contiguous(memory_format=torch.channels_last)
        parts.append(encoder(x).flatten(1).float().cpu())
    return torch.cat(parts).numpy()


def pixels_words(task: Task, shape: tuple[int, int, int]) -> str:
    """What the raw-pixel reference of an encoder is, in words: the values its encoder sees of one image.

    >>> from cae.tasks import TASKS
    >>> pixels_words(TASKS["reconstruction"], (3, 32, 32)), pixels_words(TASKS["colorization"], (3, 32, 32))
    ('the 3,072 RGB values', "the 1,024 gray values (BT.601 luma) this colorizer's encoder sees")
    """
    channels, height, width = shape
    if task.in_channels < channels:  # a colorizer: gray in, colour out
        return f"the {height * width:,} gray values (BT.601 luma) this colorizer's encoder sees"
    kind = {1: "gray", 3: "RGB"}.get(channels, f"{channels}-channel")
    return f"the {channels * height * width:,} {kind} values"


def pixels_of(x: torch.Tensor) -> torch.Tensor:
    """The "encoder" of raw pixels, for baselines: the input itself."""
    return x
