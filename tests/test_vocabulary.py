"""The vocabulary of good CAEs (issue 11): normalisation, residual blocks, blocks per stage, linear
bottlenecks, tanh outputs, the linear path started from PCA, learning-rate schedules and bounds.

Each layer option's shapes and parameter count are checked against what PyTorch builds and runs.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pytest
import torch

from analysis.activations import layer_outputs
from cae.builder import LayerStack, build
from cae.pca import fit_pca, pca_reconstruct, start_from_linear_code
from cae.schedule import LearningRate
from cae.spec import Architecture, ArchitectureError, AvgPool, Conv, ConvTranspose, Dense, MaxPool, Reshape, Residual, Upsample
from search.sample import random_suggest, sample
from search.space import SpaceError, load_space
from search.space_check import check_space

torch.set_num_threads(1)  # small models: threads only add overhead, and other tests may run beside

ARCHITECTURES = {
    "batch-norm": Architecture(
        (Conv(8, norm="batch"), MaxPool(), Conv(4, activation="none")), (Upsample(), Conv(3, activation="none")), output="sigmoid"
    ),
    "group-norm": Architecture(
        (Conv(12, 3, 2, norm="group", activation="gelu"), Conv(6, norm="group")),
        (ConvTranspose(12, norm="group"), Conv(3, activation="none")),
    ),
    "residual": Architecture(
        (Conv(8, 3, 2), Residual(8, 3, "gelu", "batch"), Residual(8, 5), Conv(2)),
        (Upsample(2, "bilinear"), Conv(8), Residual(8, norm="group"), Conv(3, activation="none")),
    ),
    "avg-pool": Architecture((Conv(8), AvgPool(), Conv(8), AvgPool(4), Conv(4)), (Upsample(8), Conv(3, activation="none"))),
    "tanh": Architecture((Conv(8, 3, 2), Conv(4)), (Upsample(), Conv(3, activation="none")), output="tanh"),
    # the decoder of a linear_skip network refines the linear path's image: image shape in, image shape out
    "linear-skip-conv-latent": Architecture(
        (Conv(8, 3, 2, norm="batch"), Conv(8, 3, 2), Conv(4, activation="none")),
        (Conv(8, 3, 2), Residual(8), Upsample(), Conv(3, activation="none")),
        output="none",
        linear_skip=True,
    ),
    "linear-skip-dense": Architecture(
        (Conv(4, 3, 2), Dense(20)),
        (Conv(4, 3, 2), Dense(16, "relu"), Dense(4 * 16 * 16, "relu"), Reshape(4, 16), Upsample(), Conv(3, activation="none")),
        output="none",
        linear_skip=True,
    ),
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_parameter_count_and_every_layer_shape_agree_with_pytorch(name: str) -> None:
    arch = ARCHITECTURES[name]
    model = build(arch)
    assert sum(p.numel() for p in model.parameters()) == arch.n_params
    outputs = layer_outputs(model, torch.rand(2, 3, 32, 32))
    assert [tuple(o.shape[1:]) for o in outputs] == [row.out_shape for row in arch.shapes]
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32)


def test_each_part_declares_where_its_spec_layers_end() -> None:
    """cae.builder.LayerStack: the contract analysis.activations hooks into, on an ordinary Sequential's children and keys."""
    model = build(ARCHITECTURES["batch-norm"])
    assert isinstance(model.encoder, LayerStack) and isinstance(model.encoder, torch.nn.Sequential)
    assert model.encoder.layer_ends == (2, 3, 4)  # conv, batch norm, relu | maxpool | conv
    assert model.decoder.layer_ends == (0, 1)
    assert [type(m).__name__ for m in model.encoder.layer_modules()] == ["ReLU", "MaxPool2d", "Conv2d"]
    assert "encoder.1.running_mean" in model.state_dict()  # checkpoints keep their keys
    with pytest.raises(ValueError, match="expected increasing layer ends, the last at module 1, got \\(0, 0\\)"):
        LayerStack([torch.nn.ReLU(), torch.nn.ReLU()], [0, 0])
    with pytest.raises(ValueError, match="the last at module 1"):
        LayerStack([torch.nn.ReLU(), torch.nn.ReLU()], [0])


def test_norm_modules_are_the_ones_named() -> None:
    kinds = {type(m).__name__ for m in build(ARCHITECTURES["batch-norm"]).modules()}
    assert "BatchNorm2d" in kinds and "GroupNorm" not in kinds
    groups = [m for m in build(ARCHITECTURES["group-norm"]).modules() if isinstance(m, torch.nn.GroupNorm)]
    assert [(g.num_groups, g.num_channels) for g in groups] == [(4, 12), (2, 6), (4, 12)]  # gcd(channels, 8) groups


def test_residual_block_adds_its_input() -> None:
    arch = Architecture((Residual(3, 3, "none"),), (Conv(3, activation="none"),), output="none")
    model = build(arch)
    block = model.encoder[0]
    for module in block.body:
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(block(x), x)  # a zero body leaves the identity path alone


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (lambda: (Conv(8), Residual(4)), "keeps its input's channels, but its input has 8 and it says 4"),
        (lambda: (Conv(8), Residual(8, 4)), "Residual.kernel must be odd"),
        (lambda: (Conv(8, norm="layer"),), "Conv.norm must be one of none, batch, group"),
    ],
)
def test_impossible_layers_are_refused_with_their_reason(layers, message: str) -> None:
    with pytest.raises(ArchitectureError, match=message.replace(".", r"\.")):
        Architecture(layers(), (Conv(3, activation="none"),))


def test_tanh_network_reads_centred_images_and_writes_the_unit_scale() -> None:
    model = build(ARCHITECTURES["tanh"])
    x = torch.rand(4, 3, 32, 32)
    assert torch.allclose(model.encode(x), model.encoder(2 * x - 1))
    out = model(x)
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(out, (torch.tanh(model.decoder(model.encode(x))) + 1) / 2)


def test_linear_skip_needs_an_identity_output() -> None:
    with pytest.raises(ArchitectureError, match="linear_skip needs output: none"):
        Architecture((Conv(4, 3, 2),), (Upsample(), Conv(3, activation="none")), linear_skip=True)


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_linear_skip_started_from_pca_reconstructs_exactly_as_pca(tiny_splits) -> None:
    code = fit_pca(tiny_splits.train.images)
    arch = ARCHITECTURES["linear-skip-conv-latent"]  # latent 4×8×8 = 256
    model = build(arch).eval()
    start_from_linear_code(model, code)
    images = tiny_splits.test.images
    ours = model(images.float() / 255).clamp(0, 1)
    assert torch.allclose(ours, pca_reconstruct(code, images, arch.latent_size), atol=2e-4)
    # the linear path stays PCA; training moves the convolutions, whose last layers start at zero but get gradients
    assert not any(p.requires_grad for p in (*model.skip_in.parameters(), *model.skip_out.parameters()))
    loss = torch.nn.functional.mse_loss(model(images.float() / 255), images.float() / 255)
    loss.backward()
    assert model.encoder.layer_modules()[-1].weight.grad.abs().sum() > 0
    assert model.decoder.layer_modules()[-1].weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- the template


def _space(tmp_path: Path, model: str, train: str = "epochs: 2") -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(f"study: {{name: vocab}}\ntrain: {{{train}}}\nmodel:\n{model}")
    return path


def test_template_blocks_residual_norm_and_linear_bottleneck(tmp_path: Path) -> None:
    model = """  channels: [16, 32]
  blocks: 3
  residual: true
  norm: group
  downsample: stride
  latent_channels: 4
  linear_bottleneck: true
  activation: gelu
"""
    arch = check_space(load_space(_space(tmp_path, model))).architecture
    encoder = [type(layer).__name__ for layer in arch.encoder]
    assert encoder == ["Conv", "Residual", "Residual", "Conv", "Residual", "Residual", "Conv"]
    assert arch.encoder[-1].activation == "none" and arch.encoder[-1].norm == "none"  # the linear code
    assert all(layer.norm == "group" for layer in arch.encoder[:-1])
    # decoder: stage 1 up + conv + 2 residual; stage 0 conv to 16 and 1 residual at 16×16, then up + conv to the image
    decoder = [type(layer).__name__ for layer in arch.decoder]
    assert decoder == ["Upsample", "Conv", "Residual", "Residual", "Conv", "Residual", "Upsample", "Conv"]
    assert arch.shapes[len(arch.encoder) + 5].out_shape == (16, 16, 16)
    assert arch.decoder[-1].out_channels == 3 and arch.decoder[-1].activation == "none"
    assert arch.latent_shape == (4, 8, 8)
    model_ = build(arch)
    assert sum(p.numel() for p in model_.parameters()) == arch.n_params


def test_average_pooling_is_a_layer_a_space_writes_and_a_mean_of_its_window(tmp_path: Path) -> None:
    model = """  encoder:
    - {conv: 8}
    - {avgpool: 2}
    - {conv: 4, kernel: 3}
    - {avgpool: 4}
  decoder:
    - {upsample: 8}
    - {conv: 3}
"""
    arch = check_space(load_space(_space(tmp_path, model))).architecture
    assert arch.encoder[1] == AvgPool(2, 2) and arch.encoder[3] == AvgPool(4, 4) and arch.encoder[1] != MaxPool(2, 2)
    assert [row.out_shape for row in arch.shapes[:4]] == [(8, 32, 32), (8, 16, 16), (4, 16, 16), (4, 4, 4)]
    assert arch.depth == 3 and arch.receptive_field == 3 + 1 + 2 * 2 + 3 * 2  # conv 3, pool 2, conv 3 at ×2, pool 4 at ×2
    assert arch.encoder[1].describe() == "avgpool 2×2/2"
    pool = build(Architecture((Conv(3), AvgPool()), (Upsample(), Conv(3)))).encoder.layer_modules()[1]
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert pool(x).flatten().tolist() == [2.5, 4.5, 10.5, 12.5]  # each output is its 2×2 window's mean
    with pytest.raises(ArchitectureError, match=r"avgpool 2×2/2\): \(5 − 2 \+ 2·0\)/2 \+ 1 = 2\.5"):
        Architecture((Conv(4), AvgPool()), (Upsample(), Conv(3)), image_size=5)


def test_template_with_one_block_is_unchanged(tmp_path: Path) -> None:
    """blocks: 1 (the default) builds exactly what earlier versions built: the shipped studies stay comparable."""
    arch = check_space(load_space(_space(tmp_path, "  channels: [8, 12]\n  latent_channels: 16\n"))).architecture
    assert [type(layer).__name__ for layer in arch.encoder] == ["Conv", "MaxPool", "Conv", "MaxPool", "Conv"]
    assert [type(layer).__name__ for layer in arch.decoder] == ["Upsample", "Conv", "Upsample", "Conv"]
    assert arch.n_params == 4911 and arch.latent_size == 1024  # the assignment's network


LINEAR_SKIP = """  channels: [32, 64, 64]
  downsample: stride
  norm: batch
  latent_channels: 8
  latent_dim: 256
  linear_skip: true
  output: none
"""


def test_refine_depth_keeps_the_first_stages_of_the_refining_hourglass_at_full_resolution(tmp_path: Path) -> None:
    """refine_depth R: the decoder that refines PCA's image halves it R times, not depth times (the encoder is unchanged)."""
    full = check_space(load_space(_space(tmp_path, LINEAR_SKIP))).architecture
    same = check_space(load_space(_space(tmp_path, LINEAR_SKIP + "  refine_depth: 3\n"))).architecture
    assert same == full  # R = depth is the default: the stored studies' designs stay as they were
    narrowest = {}
    for refine in (1, 2, 3):
        arch = check_space(load_space(_space(tmp_path, LINEAR_SKIP + f"  refine_depth: {refine}\n"))).architecture
        assert arch.encoder == full.encoder and arch.latent_size == 256
        strides = [layer.stride for layer in arch.decoder if isinstance(layer, Conv)]
        assert strides == [1] * (3 - refine) + [2] * refine + [1] * refine  # down the stages, then R up-samplings
        shapes = [s.out_shape for s in arch.shapes[len(arch.encoder) :]]
        narrowest[refine] = min(shape[1] for shape in shapes)
        assert shapes[-1] == (3, 32, 32)
        model = build(arch)
        assert sum(p.numel() for p in model.parameters()) == arch.n_params
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    assert narrowest == {1: 16, 2: 8, 3: 4}


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (LINEAR_SKIP + "  refine_depth: 4\n", r"model\.refine_depth 4: the hourglass can halve the image at most depth \(3\) times"),
        (LINEAR_SKIP.replace("linear_skip: true", "linear_skip: false") + "  refine_depth: 2\n", "it needs linear_skip: true"),
    ],
)
def test_refine_depth_beyond_the_depth_or_without_the_linear_path_is_refused(tmp_path: Path, model: str, message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        check_space(load_space(_space(tmp_path, model)))


def test_max_latent_refuses_larger_draws_and_spaces_with_none_below(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, "  depth: 1\n  latent_channels: {choice: [1, 64]}\n  max_latent: 256\n"))
    draws = set()
    for seed in range(20):
        try:
            draws.add(sample(space, random_suggest(random.Random(seed))).architecture.latent_size)
        except ArchitectureError as error:
            assert "latent 16,384 is above model.max_latent (256)" in str(error)
            draws.add("refused")
    assert draws == {256, "refused"}
    with pytest.raises(SpaceError, match=r"is above model\.max_latent"):
        check_space(load_space(_space(tmp_path, "  depth: 1\n  latent_channels: 64\n  max_latent: 256\n")))


def test_max_params_bounds_the_parameter_count(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"parameters 4,911 is above model\.max_params \(4,000\)"):
        check_space(load_space(_space(tmp_path, "  channels: [8, 12]\n  latent_channels: 16\n  max_params: 4000\n")))


# ---------------------------------------------------------------- learning-rate schedules


def _rates(name: str, epochs: int = 4, steps: int = 10, warmup: float = 0.0, val: list[float] | None = None) -> list[float]:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    rate = LearningRate(optimizer, name, epochs=epochs, steps_per_epoch=steps, warmup=warmup)
    seen = []
    for epoch in range(epochs):
        for _ in range(steps):
            seen.append(rate.lr)
            optimizer.step()
            rate.after_batch()
        rate.after_epoch(val[epoch] if val else 1.0)
    return seen


def test_warmup_rises_linearly_then_constant() -> None:
    rates = _rates("constant", warmup=1)  # 10 steps of warm-up
    assert rates[0] == pytest.approx(0.01 / 11)
    assert all(b > a for a, b in itertools.pairwise(rates[:11]))
    assert rates[10:] == [pytest.approx(0.01)] * 30


def test_cosine_falls_to_nearly_zero() -> None:
    rates = _rates("cosine")
    assert rates[0] == pytest.approx(0.01)
    assert all(b <= a for a, b in itertools.pairwise(rates))
    assert rates[-1] < 0.01 * 0.01


def test_onecycle_peaks_at_the_configured_rate_after_its_warmup() -> None:
    rates = _rates("onecycle", warmup=1)
    peak = max(range(len(rates)), key=rates.__getitem__)
    assert rates[peak] == pytest.approx(0.01, rel=1e-3)
    assert peak == pytest.approx(10, abs=1)
    assert rates[0] < 0.01 / 10 and rates[-1] < 0.01 / 100


@pytest.mark.parametrize("name", ["onecycle", "cosine"])
def test_a_schedule_shortened_at_its_peak_anneals_to_zero_by_its_new_end(name: str) -> None:
    # a deadline that leaves 2 of 4 epochs (cae.training.ShortenTraining): stopping there would keep the peak's weights
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    rate = LearningRate(optimizer, name, epochs=4, steps_per_epoch=10, warmup=1)
    for _ in range(12):
        optimizer.step()
        rate.after_batch()
    at = rate.lr
    assert at > 0.005  # near the peak
    rate.anneal(until=20)
    seen = []
    for _ in range(8):
        optimizer.step()
        rate.after_batch()
        seen.append(rate.lr)
    assert all(b < a for a, b in itertools.pairwise([at, *seen]))
    assert seen[0] == pytest.approx(at * 0.5 * (1 + math.cos(math.pi / 8)))
    assert seen[-1] == pytest.approx(0.0, abs=1e-12)  # annealed at step 20, not 40


def test_a_constant_rate_is_not_annealed_by_a_shortened_plan() -> None:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    rate = LearningRate(optimizer, "constant", epochs=4, steps_per_epoch=10)
    rate.anneal(until=5)
    for _ in range(10):
        optimizer.step()
        rate.after_batch()
    assert rate.lr == pytest.approx(0.01)


def test_plateau_halves_the_rate_when_validation_stalls() -> None:
    rates = _rates("plateau", epochs=5, val=[1.0, 0.5, 0.5, 0.5, 0.5])
    per_epoch = [rates[i * 10] for i in range(5)]
    assert per_epoch[:4] == [pytest.approx(0.01)] * 4
    assert per_epoch[4] == pytest.approx(0.005)  # epochs 3 and 4 did not improve on 2: more than the patience of 1


def test_warmup_must_end_before_training_does() -> None:
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    with pytest.raises(ValueError, match=r"train\.warmup"):
        LearningRate(optimizer, "cosine", epochs=2, steps_per_epoch=5, warmup=2)
    assert math.isclose(_rates("cosine", warmup=0.5)[0], 0.01 / 6)
