"""Colour spaces and tasks: round trips, what gray means, and colorizers that train on real images."""

from __future__ import annotations

import pytest
import torch

from cae.builder import build
from cae.color import chroma, colorfulness, gray_as_rgb, luma, rgb_to_ycbcr, saturation, ycbcr_to_rgb
from cae.data import Splits
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose, MaxPool, Upsample, deepen, widen
from cae.tasks import TASKS, adapt, task_of
from cae.training import TrainConfig, evaluate, reconstruct, to_unit, train

REFERENCE = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12), MaxPool(), Conv(16)),
    decoder=(Upsample(), Conv(12), Upsample(), Conv(3, activation="none")),
)


def test_rgb_ycbcr_round_trip_within_1e_5(tiny_splits: Splits) -> None:
    images = to_unit(tiny_splits.train.images).contiguous()
    assert (ycbcr_to_rgb(rgb_to_ycbcr(images)) - images).abs().max() < 1e-5
    extremes = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 2, 2).clone()
    assert (ycbcr_to_rgb(rgb_to_ycbcr(extremes)) - extremes).abs().max() < 1e-5


def test_luma_is_bt601_and_chroma_of_gray_is_neutral() -> None:
    red, green, blue = (torch.eye(3)[i].view(1, 3, 1, 1) for i in range(3))
    assert [luma(c).item() for c in (red, green, blue)] == pytest.approx([0.299, 0.587, 0.114])
    gray = torch.full((2, 3, 4, 4), 0.3)
    assert torch.allclose(chroma(gray), torch.full((2, 2, 4, 4), 0.5), atol=1e-6)
    assert torch.allclose(gray_as_rgb(gray), gray, atol=1e-6)
    # every channel stays in [0, 1], so a sigmoid can predict it
    ycc = rgb_to_ycbcr(torch.rand(64, 3, 8, 8))
    assert ycc.min() >= -1e-6 and ycc.max() <= 1 + 1e-6


def test_colourfulness_and_saturation(tiny_splits: Splits) -> None:
    images = to_unit(tiny_splits.test.images).contiguous()
    assert colorfulness(gray_as_rgb(images)).abs().max() < 1e-6
    assert saturation(gray_as_rgb(images)).max() < 1e-5
    # Hasler–Süsstrunk on a pure red image: σ = 0, μ_rg = 1, μ_yb = 0.5
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1
    assert colorfulness(red).item() == pytest.approx(0.3 * (1 + 0.25) ** 0.5)
    assert saturation(red).item() == pytest.approx(1.0)
    # photographs are in between, and a washed-out version is less colourful
    washed = 0.5 * images + 0.5 * gray_as_rgb(images)
    assert colorfulness(images).mean() > 0.05 and colorfulness(washed).mean() < colorfulness(images).mean()


def test_adapt_sets_task_channels_and_task_of_reads_them() -> None:
    for name, task in TASKS.items():
        arch = adapt(REFERENCE, task)
        assert (arch.in_channels, arch.out_channels) == (task.in_channels, task.out_channels)
        assert arch.decoder[-1].out_channels == task.out_channels and arch.latent_shape == REFERENCE.latent_shape
        assert task_of(build(arch)).name == name
    # a decoder that ends in a transposed convolution is adapted too
    transposed = Architecture((Conv(4, stride=2),), (ConvTranspose(3),))
    assert adapt(transposed, TASKS["colorization_chroma"]).decoder[-1] == ConvTranspose(2)


def test_widen_scales_hidden_channels_only() -> None:
    wide = widen(REFERENCE, 2.0)
    assert [layer.out_channels for layer in wide.encoder if isinstance(layer, Conv)] == [16, 24, 32]
    assert wide.decoder[1].out_channels == 24 and wide.decoder[-1].out_channels == 3
    assert wide.latent_size == 2 * REFERENCE.latent_size
    assert widen(REFERENCE, 0.1).encoder[0].out_channels == 1


def test_deepen_adds_a_stage_on_each_side_of_the_bottleneck() -> None:
    deep = deepen(REFERENCE)
    assert deep.latent_shape == (16, 4, 4) and deep.receptive_field == 38  # 18, then +2·4 (conv), +1·4 (pool), +2·8 (latent conv)
    assert deep.encoder[-3:-1] == (Conv(12), MaxPool()) and deep.decoder[:2] == (Upsample(), Conv(12))
    assert build(deep)(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ArchitectureError, match="latent convolution"):
        deepen(Architecture((Conv(4), MaxPool()), (Upsample(), Conv(3))))


def test_receptive_field() -> None:
    assert REFERENCE.receptive_field == 18  # 3×3 conv, pool, 3×3 conv, pool, 3×3 conv
    assert Architecture((Conv(4, kernel=5), MaxPool(), Conv(4, kernel=5)), (Upsample(), Conv(3))).receptive_field == 14


@pytest.mark.parametrize("task", ["colorization", "colorization_chroma"])
def test_colorizers_train_on_gray_and_beat_their_start(tiny_splits: Splits, task: str) -> None:
    arch = adapt(REFERENCE, TASKS[task])
    torch.manual_seed(0)
    untrained = evaluate(build(arch), tiny_splits.val.images)
    model, result = train(arch, tiny_splits, TrainConfig(epochs=3, lr=3e-3, batch_size=32, device="cpu"))
    assert result.best_val_mse < untrained
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))
    # the model only ever sees gray: two images with the same gray get the same colours
    images = tiny_splits.test.images[:4]
    x = to_unit(images).contiguous()
    regray = (gray_as_rgb(x) * 255).round().to(torch.uint8)
    assert model(luma(x)).shape[1] == TASKS[task].out_channels
    same = reconstruct(model, images) - reconstruct(model, regray)
    assert same.abs().max() < 0.02  # only the 8-bit rounding of the gray differs
    if task == "colorization_chroma":
        # brightness is the input's own: only clamping to [0, 1] can change it
        out = reconstruct(model, images)
        assert (luma(out) - luma(x)).abs().mean() < 0.01
