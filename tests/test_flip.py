"""Mirrored training images (train.flip): what the network sees, and what the option leaves alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from cae.settings import TrainConfig
from cae.spec import Architecture, Conv, MaxPool, Upsample
from cae.training import train
from search.space import load_space
from search.space.messages import SpaceError
from tests.conftest import train_key_space

SMALL = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12)),
    decoder=(Upsample(), Conv(3, activation="none")),
)
CFG = TrainConfig(epochs=1, batch_size=32, lr=3e-3, device="cpu", precision="fp32")


def _seen(splits, cfg: TrainConfig) -> torch.Tensor:
    """Every image the training loop fed the network, in order."""
    batches: list[torch.Tensor] = []

    def record(model: nn.Module) -> None:
        model.register_forward_pre_hook(lambda _, args: batches.append(args[0].detach().clone()) if model.training else None)

    train(SMALL, splits, cfg, init=record)
    return torch.cat(batches)


def test_about_half_the_images_are_mirrored_and_the_order_is_kept(tiny_splits) -> None:
    plain, flipped = _seen(tiny_splits, CFG), _seen(tiny_splits, replace(CFG, flip=True))
    assert plain.shape == flipped.shape == (320, 3, 32, 32)
    same = (flipped == plain).flatten(1).all(1)
    mirrored = (flipped == plain.flip(-1)).flatten(1).all(1)
    # each image is the plain run's image at the same place or its mirror: the order is the plain run's
    assert bool((same | mirrored).all())
    assert 0.35 < (mirrored & ~same).float().mean().item() < 0.65
    # the unflipped run sees the training images themselves
    images = tiny_splits.train.images.flatten(1).float() / 255
    distances = torch.cdist(plain.flatten(1), images, compute_mode="donot_use_mm_for_euclid_dist")
    assert distances.min(1).values.max().item() < 1e-4


def test_flip_is_a_train_key_and_a_bad_value_is_refused(tmp_path) -> None:
    good = tmp_path / "flip.yaml"
    good.write_text(train_key_space("flip", "true"))
    assert load_space(good).train["flip"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text(train_key_space("flip", "sometimes"))
    with pytest.raises(SpaceError, match=r"train\.flip"):
        load_space(bad)
