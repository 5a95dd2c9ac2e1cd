"""Images of other shapes than CIFAR-10's 3×32×32: spec, builder, PCA, training, figures and checkpoints at the data's own C×H×W.

Real images: scikit-learn's handwritten digits (1,797 gray 8×8 images, bundled with the library, no
download), as they are and enlarged to MNIST's 1×28×28; and seeded smooth RGB images at 3×64×64.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

from cae.builder import build
from cae.checkpoint import load_checkpoint, save_checkpoint
from cae.data import ImageSet, Splits
from cae.figures import curves_figure, grid_scale, image_rows_figure, reconstruction_rows, save_reconstructions
from cae.halving import depth_hint, halvings
from cae.pca import GRAM_ABOVE, fit_pca, linear_code, mse_curve, pca_baseline, pca_reconstruct, split_key, start_from_linear_code
from cae.settings import TrainConfig
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose, Dense, MaxPool, Reshape, Upsample
from cae.summary import summary_text
from cae.training import evaluate, train

# The homework's MNIST network, exactly as written: 1×28×28 → 4×7×7 → 1×28×28.
MNIST = Architecture(
    encoder=(Conv(16), MaxPool(), Conv(4), MaxPool()),
    decoder=(ConvTranspose(16, 2, 2), ConvTranspose(1, 2, 2, activation="none")),
    in_channels=1,
    out_channels=1,
    image_size=28,
    output="sigmoid",
)


def cut(images: torch.Tensor, seed: int = 0) -> Splits:
    """uint8 images N×C×H×W as seeded 80/10/10 splits (labels all 0: the tests only reconstruct)."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    n_train, n_val = round(0.8 * len(images)), round(0.1 * len(images))
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    sets = [ImageSet(images[part].contiguous(), torch.zeros(len(part), dtype=torch.int64)) for part in parts]
    return Splits(train=sets[0], val=sets[1], test=sets[2], classes=("image",), source="test images")


@pytest.fixture(scope="module")
def digits() -> Splits:
    """scikit-learn's 1,797 digits, 1×8×8, their 0–16 scale as 0–255 (1,438 train / 180 val / 179 test)."""
    pixels = torch.from_numpy(load_digits().images).reshape(-1, 1, 8, 8)
    return cut((pixels * 255 / 16).round().to(torch.uint8))


@pytest.fixture(scope="module")
def digits_28(digits: Splits) -> Splits:
    """The same digits enlarged (bilinear) to MNIST's 1×28×28, with a little seeded noise so their PCA has every axis."""
    images = torch.cat([digits.train.images, digits.val.images, digits.test.images]).float()
    noise = torch.rand(len(images), 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 8
    return cut((F.interpolate(images, size=28, mode="bilinear", align_corners=False) + noise).clamp(0, 255).to(torch.uint8))


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def direct_mse(train: torch.Tensor, test: torch.Tensor, d: int) -> float:
    """PCA's test MSE with ``d`` components, straight from the SVD of the centred float64 training matrix."""
    x = train.reshape(len(train), -1).numpy().astype(np.float64) / 255
    y = test.reshape(len(test), -1).numpy().astype(np.float64) / 255
    mean = x.mean(axis=0)
    top = np.linalg.svd(x - mean, full_matrices=False)[2][:d]
    return float(np.mean((mean + (y - mean) @ top.T @ top - y) ** 2))


# ---- the shape walk at any size


def test_halvings_counts_the_even_halvings() -> None:
    assert [halvings(size) for size in (1, 7, 8, 27, 28, 32, 64, 96)] == [0, 0, 3, 0, 2, 5, 6, 5]
    for bad in (0, -4, 2.0, True):
        with pytest.raises(ValueError, match="expected an image size"):
            halvings(bad)
    assert depth_hint(28, 2) == "" and depth_hint(32, 5) == ""
    assert depth_hint(28, 3) == "28×28 halves evenly 2 times (28 → 14 → 7): a depth of at most 2 fits, not 3"
    assert depth_hint(30, 2) == "30×30 halves evenly once (30 → 15): a depth of at most 1 fits, not 2"
    assert depth_hint(27, 1) == "27×27 does not halve evenly (27 is odd): only a depth of 0 fits, not 1"


def down_up(depth: int, downsample: str, size: int) -> Architecture:
    """``depth`` conv stages that halve (max-pool or stride 2), mirrored by 2× up-sampling, on gray images of ``size``."""
    stage = (Conv(8), MaxPool()) if downsample == "maxpool" else (Conv(8, stride=2),)
    return Architecture(
        encoder=stage * depth,
        decoder=(Upsample(), Conv(8)) * (depth - 1) + (Upsample(), Conv(1, activation="none")),
        in_channels=1,
        out_channels=1,
        image_size=size,
    )


@pytest.mark.parametrize("downsample", ["maxpool", "stride"])
def test_a_depth_that_meets_an_odd_size_is_refused_with_the_depth_that_fits(downsample: str) -> None:
    arch = down_up(2, downsample, 28)  # 28 → 14 → 7 and back
    assert arch.depth == 2 and arch.latent_shape == (8, 7, 7) and arch.image_shape == (1, 28, 28)
    hint = "28×28 halves evenly 2 times (28 → 14 → 7): a depth of at most 2 fits, not 3"
    # a max-pool refuses the 7×7 map (a row never read); a strided conv rounds 7 up to 4, which doubles back to 8 ≠ 7
    where = (
        "maxpool 2×2/2\\): \\(7 − 2 \\+ 2·0\\)/2 \\+ 1 = 3.5"
        if downsample == "maxpool"
        else "the decoder returns 1×32×32, expected 1×28×28"
    )
    with pytest.raises(ArchitectureError, match=f"{where}.*; {re.escape(hint)}$"):
        down_up(3, downsample, 28)
    assert down_up(halvings(96), downsample, 96).latent_shape == (8, 3, 3)
    with pytest.raises(ArchitectureError, match="96×96 halves evenly 5 times \\(96 → 48 → 24 → 12 → 6 → 3\\)"):
        down_up(6, downsample, 96)


def test_other_refusals_get_no_depth_hint() -> None:
    # one halving of 32 fits: the 29×29 map comes from the unpadded 4×4 convolution, not from the depth
    with pytest.raises(ArchitectureError, match=r"= 14\.5 on a 29×29 input, a non-integer size: the last 1 row\(s\) would never be read$"):
        Architecture((Conv(4, kernel=4, padding=0), MaxPool()), (Upsample(), Conv(3)))
    with pytest.raises(
        ArchitectureError,
        match=r"the decoder returns 1×14×14, expected 1×28×28 \(the input's shape\); the encoder ends in a 8×14×14 latent$",
    ):
        Architecture((Conv(8), MaxPool()), (Conv(1),), in_channels=1, out_channels=1, image_size=28)


def test_the_homework_mnist_network_builds_exactly_as_written() -> None:
    assert MNIST.latent_shape == (4, 7, 7) and MNIST.latent_size == 196 and MNIST.depth == 2
    assert [row.out_shape for row in MNIST.shapes] == [(16, 28, 28), (16, 14, 14), (4, 14, 14), (4, 7, 7), (16, 14, 14), (1, 28, 28)]
    # by hand, weights + biases: conv 3×3 1→16: 1·16·9 + 16 = 160; conv 3×3 16→4: 16·4·9 + 4 = 580;
    # transpose 2×2 4→16: 4·16·4 + 16 = 272; transpose 2×2 16→1: 16·1·4 + 1 = 65; 160 + 580 + 272 + 65 = 1,077
    assert [row.params for row in MNIST.shapes] == [160, 0, 580, 0, 272, 65]
    assert MNIST.n_params == 1077
    assert MNIST.compression == 784 / 196
    model = build(MNIST).eval()
    assert sum(p.numel() for p in model.parameters()) == 1077
    assert [type(m) for m in model.encoder] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.MaxPool2d]
    assert [type(m) for m in model.decoder] == [nn.ConvTranspose2d, nn.ReLU, nn.ConvTranspose2d]
    assert isinstance(model.output[0], nn.Sigmoid)
    first, second = model.encoder[0], model.encoder[3]
    assert (first.in_channels, first.out_channels, first.kernel_size, first.padding) == (1, 16, (3, 3), (1, 1))
    assert (second.in_channels, second.out_channels, second.kernel_size, second.padding) == (16, 4, (3, 3), (1, 1))
    assert all(m.kernel_size == (2, 2) and m.stride == (2, 2) for m in (model.decoder[0], model.decoder[2]))
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert model.encode(x).shape == (5, 4, 7, 7)
        y = model(x)
    assert y.shape == (5, 1, 28, 28) and y.min() >= 0 and y.max() <= 1
    text = summary_text(MNIST)
    for shown in ("1×28×28", "4×7×7", "1,077 parameters", "latent 4×7×7 = 196 values", "compression 4.00×"):
        assert shown in text, text


# ---- real gray images at 1×8×8: scikit-learn's digits


def test_pca_of_the_digits_at_their_own_size(digits: Splits, private_cache: Path) -> None:
    train, test = digits.train.images, digits.test.images
    baseline = pca_baseline(train, test)
    assert (baseline.n_values, baseline.n_train, baseline.n_axes) == (64, 1438, 64)
    assert baseline.curve.shape == (65,)
    for d in (1, 8, 32, 60):
        assert baseline.mse(d) == pytest.approx(direct_mse(train, test, d), rel=1e-9), d
    assert baseline.mse(64) is None and "64 values" in baseline.reason(64)
    code = fit_pca(train)
    # a few border pixels are blank in every training digit: their variance is 0, and so are PCA's last eigenvalues
    blank = int((train.reshape(len(train), -1) == 0).all(dim=0).sum())
    assert blank >= 1 and np.all(code.eigenvalues[64 - blank :] < 1e-15) and code.eigenvalues[63 - blank] > 1e-6
    rebuilt = pca_reconstruct(code, test, 64)
    assert rebuilt.shape == test.shape == (len(test), 1, 8, 8)
    torch.testing.assert_close(rebuilt, test.float() / 255, atol=1e-6, rtol=0)


def test_images_of_other_shapes_never_share_a_cache_entry(digits: Splits, private_cache: Path) -> None:
    train, test = digits.train.images, digits.test.images
    # the same bytes as 4×4×4 images: the same 64 values each, another shape, so other keys
    other_train, other_test = train.reshape(-1, 4, 4, 4), test.reshape(-1, 4, 4, 4)
    assert split_key(train, test) != split_key(other_train, other_test)
    pca_baseline(train, test)
    pca_baseline(other_train, other_test)
    files = sorted(path.name for path in (private_cache / "pca").iterdir())
    assert len(files) == 4 and sum(name.startswith("code-") for name in files) == 2  # two curves, two codes


def test_a_tiny_cae_trains_on_the_digits_and_draws_them(digits: Splits, tmp_path: Path) -> None:
    arch = Architecture(
        encoder=(Conv(8), MaxPool(), Conv(2)),
        decoder=(Upsample(), Conv(8), Conv(1, activation="none")),
        in_channels=1,
        out_channels=1,
        image_size=8,
    )
    assert arch.latent_shape == (2, 4, 4)
    untrained = evaluate(build(arch), digits.val.images)
    model, result = train(arch, digits, TrainConfig(epochs=1, batch_size=32, lr=3e-3, device="cpu"))
    assert len(result.val_mse) == 1 and result.val_mse[0] < 0.7 * untrained
    assert result.test_mse == pytest.approx(evaluate(model, digits.test.images))
    _, bce = train(arch, digits, TrainConfig(epochs=1, batch_size=32, lr=3e-3, loss="bce", device="cpu"))
    assert 0 < bce.test_mse < untrained  # binary cross-entropy on one channel, errors still MSE

    images = digits.test.images[:6]
    rows = reconstruction_rows(model, images)
    assert [tuple(row.shape) for row in rows] == [(6, 1, 8, 8)] * 2  # the image and its reconstruction: no gray row to add
    path = save_reconstructions(model, images, tmp_path / "digits.png")
    assert grid_scale(8) == 16
    with Image.open(path) as picture:
        # 6 columns and 2 rows of 8×8 images enlarged 16× to 128 pixels, 2-pixel borders
        assert picture.size == (6 * 130 + 2, 2 * 130 + 2)
        r, g, b = (np.asarray(channel, dtype=np.int16) for channel in picture.convert("RGB").split())
    assert np.array_equal(r, g) and np.array_equal(g, b)  # gray drawn as gray
    tile = r[2 : 2 + 128, 2 : 2 + 128]  # the first digit: each pixel a 16×16 block (nearest-neighbour)
    assert np.array_equal(tile, np.repeat(np.repeat(tile[::16, ::16], 16, axis=0), 16, axis=1))
    assert np.array_equal(tile[::16, ::16], images[0, 0].numpy())
    figure = image_rows_figure({"digits": rows[0], "reconstructed": rows[1]}, title="digits")
    assert len(figure.axes) == 2
    assert len(curves_figure(result.train_mse, result.val_mse, title="digits").axes) == 1


# ---- MNIST's 1×28×28: linear_skip and checkpoints


def test_linear_skip_at_1x28x28_starts_as_pca(digits_28: Splits, private_cache: Path) -> None:
    arch = Architecture(
        encoder=(Conv(8, stride=2), Conv(4, stride=2)),
        decoder=(Conv(8), Conv(1, activation="none")),
        in_channels=1,
        out_channels=1,
        image_size=28,
        output="none",
        linear_skip=True,
    )
    assert arch.latent_shape == (4, 7, 7)
    assert arch.skip_params == 784 * 196 + 196 + 196 * 784 + 784
    code = linear_code(digits_28.train.images)
    assert code.n_values == code.n_axes == 784
    model = build(arch)
    start_from_linear_code(model, code)
    images = digits_28.test.images
    with torch.no_grad():
        ours = model(images.float() / 255)
    assert ours.shape == images.shape
    # the untrained network is PCA (whose reconstructions are clamped to [0, 1], as evaluation clamps the network's)
    assert torch.allclose(ours.clamp(0, 1), pca_reconstruct(code, images, 196), atol=2e-4)
    with pytest.raises(ValueError, match="on 64-value images, got a latent of 196 on 1×28×28 → 1×28×28"):
        start_from_linear_code(build(arch), fit_pca(cut(torch.zeros(10, 1, 8, 8, dtype=torch.uint8)).train.images))


def test_checkpoint_of_a_1x28x28_model_rebuilds_it_exactly(digits_28: Splits, tmp_path: Path) -> None:
    model, _ = train(MNIST, digits_28, TrainConfig(epochs=1, batch_size=64, device="cpu"))
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "mnist.pt"))
    assert loaded.arch == MNIST
    assert (loaded.arch.in_channels, loaded.arch.out_channels, loaded.arch.image_size) == (1, 1, 28)
    x = digits_28.test.images[:8].float() / 255
    model.eval()
    with torch.no_grad():
        # the same weights; the trained model's channels-last layout may round differently
        assert torch.allclose(loaded(x), model(x), atol=1e-6)


# ---- RGB at 3×64×64: more values per image than images


@pytest.fixture(scope="module")
def photos_64() -> Splits:
    """60 seeded smooth RGB images of 3×64×64 = 12,288 values (8×8 random colours, enlarged, with noise)."""
    generator = torch.Generator().manual_seed(2)
    coarse = torch.rand(60, 3, 8, 8, generator=generator) * 220
    images = F.interpolate(coarse, size=64, mode="bilinear", align_corners=False) + torch.rand(60, 3, 64, 64, generator=generator) * 35
    return cut(images.clamp(0, 255).to(torch.uint8))


def test_a_3x64x64_case_through_builder_pca_and_training(photos_64: Splits, private_cache: Path) -> None:
    arch = Architecture(
        encoder=(Conv(8, stride=2), Conv(8, stride=2), Conv(4, stride=2), Dense(24)),
        decoder=(Dense(4 * 8 * 8, "relu"), Reshape(4, 8), Upsample(), Conv(8), Upsample(), Conv(8), Upsample(), Conv(3, activation="none")),
        image_size=64,
    )
    assert arch.depth == 3 and arch.latent_shape == (24, 1, 1) and arch.image_shape == (3, 64, 64)
    assert [row.out_shape for row in arch.shapes][:3] == [(8, 32, 32), (8, 16, 16), (4, 8, 8)]
    assert build(arch)(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64)

    train_images, test_images = photos_64.train.images, photos_64.test.images
    # 48 images of 12,288 values: PCA through their 48×48 Gram matrix, no 12,288² covariance
    assert train_images.shape == (48, 3, 64, 64) and GRAM_ABOVE < 3 * 64 * 64
    baseline = pca_baseline(train_images, test_images)
    assert (baseline.n_values, baseline.n_train, baseline.n_axes) == (12_288, 48, 47)  # centring costs one axis
    for d in (1, 10, 24, 47):
        assert baseline.mse(d) == pytest.approx(direct_mse(train_images, test_images, d), rel=1e-9), d
    assert baseline.mse(48) is None and "past the 47 axes of PCA on 48 training images" in baseline.reason(48)
    code = fit_pca(train_images)
    assert code.components.shape == (12_288, 47)
    np.testing.assert_allclose(code.components.T @ code.components, np.eye(47), atol=1e-10)
    assert np.all(np.isnan(mse_curve(code, test_images)[48:12_288]))
    skip = Architecture(
        encoder=(Conv(4, stride=2), Dense(24)), decoder=(Conv(3, activation="none"),), image_size=64, output="none", linear_skip=True
    )
    model = build(skip)
    start_from_linear_code(model, code)  # a latent within the Gram fit's axes
    with torch.no_grad():
        ours = model(test_images.float() / 255).clamp(0, 1)
    assert torch.allclose(ours, pca_reconstruct(code, test_images, 24), atol=2e-4)
    with pytest.raises(ValueError, match="a latent of 48 is past the 47 axes of PCA"):
        start_from_linear_code(build(replace(skip, encoder=(Conv(4, stride=2), Dense(48)))), code)

    torch.manual_seed(0)  # the initial weights train() starts from (its seed 0): the epoch is judged against them, not a random draw
    untrained = evaluate(build(arch), photos_64.val.images)
    model, result = train(arch, photos_64, TrainConfig(epochs=1, batch_size=16, lr=3e-3, device="cpu"))
    assert len(result.train_mse) == 1 and 0 < result.val_mse[0] < untrained
    assert [tuple(row.shape) for row in reconstruction_rows(model, test_images[:3])] == [(3, 3, 64, 64)] * 2
