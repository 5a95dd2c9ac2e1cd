"""Architecture values: shape inference, parameter counts, refusals, and the builder agreeing with both."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cae.builder import build
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose, Dense, MaxPool, Reshape, Upsample

REFERENCE = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12), MaxPool(), Conv(16)),
    decoder=(Upsample(), Conv(12), Upsample(), Conv(3, activation="none")),
)


def test_reference_shapes_follow_the_assignments_formula() -> None:
    assert [row.out_shape for row in REFERENCE.shapes] == [
        (8, 32, 32), (8, 16, 16), (12, 16, 16), (12, 8, 8), (16, 8, 8),
        (16, 16, 16), (12, 16, 16), (12, 32, 32), (3, 32, 32),
    ]  # fmt: skip
    # The assignment's worked example: (32 − 3 + 2·1)/1 + 1 = 32, and 32²·8 = 8,192 values.
    assert REFERENCE.shapes[0].values == 8192


def test_reference_counts() -> None:
    assert [row.params for row in REFERENCE.shapes] == [224, 0, 876, 0, 1744, 0, 1740, 0, 327]
    assert REFERENCE.n_params == 4911
    assert REFERENCE.latent_shape == (16, 8, 8)
    assert REFERENCE.latent_size == 1024
    assert REFERENCE.compression == 3.0


def test_built_reference_matches_its_spec() -> None:
    model = build(REFERENCE)
    assert sum(p.numel() for p in model.parameters()) == 4911
    x = torch.rand(2, 3, 32, 32)
    z = model.encode(x)
    assert z.shape == (2, 16, 8, 8)
    y = model.decode(z)
    assert y.shape == (2, 3, 32, 32)
    assert torch.equal(model(x), y)
    assert y.min() >= 0 and y.max() <= 1  # sigmoid output


# One architecture per layer kind and option; the spec's shapes and counts must match PyTorch's.
EVERY_KIND = {
    "conv 5x5 same": Architecture((Conv(6, kernel=5), MaxPool()), (Upsample(), Conv(3, kernel=5, activation="none"))),
    "conv stride 2": Architecture((Conv(6, stride=2),), (Upsample(mode="bilinear"), Conv(3, activation="none"))),
    "conv valid padding": Architecture((Conv(6, kernel=3, padding=0),), (ConvTranspose(3, kernel=3, stride=1, activation="none"),)),
    "maxpool 4": Architecture((Conv(4), MaxPool(4)), (Upsample(4), Conv(3, activation="none"))),
    "maxpool overlapping": Architecture((Conv(4), MaxPool(3, stride=1)), (ConvTranspose(3, kernel=3, stride=1, activation="none"),)),
    "upsample bilinear": Architecture((Conv(4), MaxPool()), (Upsample(2, "bilinear"), Conv(3, activation="none"))),
    "transpose 2/2": Architecture((Conv(4), MaxPool(), Conv(6), MaxPool()), (ConvTranspose(6), ConvTranspose(3, activation="none"))),
    "transpose 3/2 op1": Architecture(
        (Conv(5, stride=2),), (ConvTranspose(3, kernel=3, stride=2, padding=1, output_padding=1, activation="none"),)
    ),
    "activations": Architecture(
        (Conv(4, activation="leaky_relu"), Conv(4, activation="elu"), Conv(4, activation="gelu")),
        (Conv(4, activation="tanh"), Conv(3, activation="sigmoid")),
        output="none",
    ),
}


@pytest.mark.parametrize("arch", EVERY_KIND.values(), ids=EVERY_KIND.keys())
def test_every_layer_kind_builds_with_the_inferred_shapes(arch: Architecture) -> None:
    model = build(arch).eval()
    shapes: list[tuple[int, ...]] = []
    for module in model.modules():  # registration order: encoder layers, then decoder layers
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.MaxPool2d | nn.Upsample):
            module.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape[1:])))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert model(x).shape == x.shape
    assert shapes == [row.out_shape for row in arch.shapes]
    assert sum(p.numel() for p in model.parameters()) == arch.n_params
    assert model.encode(x).shape[1:] == arch.latent_shape


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda: Architecture((Conv(4), MaxPool(), MaxPool(), MaxPool(), MaxPool(), MaxPool(), MaxPool()), (Upsample(64), Conv(3))),
            "larger than its padded 1×1",
        ),
        (lambda: Architecture((Conv(4, kernel=4, padding=0), MaxPool()), (Upsample(), Conv(3))), r"\(29 − 2 \+ 2·0\)/2 \+ 1 = 14.5"),
        (lambda: Architecture((Conv(4, kernel=1, stride=2, padding=0),), (Upsample(), Conv(3))), "never be read"),
        (lambda: Architecture((Conv(4), MaxPool()), (Conv(3),)), "decoder returns 3×16×16, expected 3×32×32"),
        (lambda: Architecture((Conv(4),), (Conv(1),)), "decoder returns 1×32×32"),
        (lambda: Architecture((Conv(0),), (Conv(3),)), "out_channels must be an integer ≥ 1"),
        (lambda: Architecture((Conv(4, activation="swish"),), (Conv(3),)), "activation must be one of"),
        (lambda: Architecture((Conv(4, padding=-1),), (Conv(3),)), r"Conv\.padding must be an integer ≥ 0, got -1"),
        (lambda: Architecture((Conv(4),), (ConvTranspose(3, output_padding=-1),)), r"output_padding must be an integer ≥ 0, got -1"),
        (lambda: Architecture((Conv(4),), (ConvTranspose(3, stride=2, output_padding=2),)), "output_padding must be smaller"),
        (lambda: Architecture((), (Conv(3),)), "at least one encoder"),
        (lambda: Architecture((Conv(4),), (Upsample(mode="bicubic"), Conv(3))), "mode must be one of"),
    ],
)
def test_impossible_architectures_are_refused_with_a_reason(make, reason: str) -> None:
    with pytest.raises(ArchitectureError, match=reason):
        make()


def test_round_trip_through_plain_data() -> None:
    for arch in (REFERENCE, *EVERY_KIND.values()):
        assert Architecture.from_dict(arch.to_dict()) == arch


DENSE_2 = Architecture(
    encoder=(*REFERENCE.encoder, Dense(2)),
    decoder=(Dense(1024, "relu"), Reshape(16, 8), *REFERENCE.decoder),
)


def test_dense_bottleneck_shapes_and_parameter_count() -> None:
    assert [row.out_shape for row in DENSE_2.shapes][4:7] == [(16, 8, 8), (2, 1, 1), (1024, 1, 1)]
    assert DENSE_2.shapes[6 + 1].out_shape == (16, 8, 8)  # reshape
    assert DENSE_2.latent_shape == (2, 1, 1) and DENSE_2.latent_size == 2
    # 1,024 → 2 and 2 → 1,024 linear maps, with biases, on top of the reference's 4,911
    assert [row.params for row in DENSE_2.shapes][5:8] == [1024 * 2 + 2, 2 * 1024 + 1024, 0]
    assert DENSE_2.n_params == 4911 + 2050 + 3072
    assert DENSE_2.receptive_field == 32  # every latent value sees the whole image
    model = build(DENSE_2)
    assert sum(p.numel() for p in model.parameters()) == DENSE_2.n_params
    x = torch.rand(3, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    assert model.encode(x).shape == (3, 2, 1, 1) and model(x).shape == (3, 3, 32, 32)
    # the flattening order is PyTorch's logical C, H, W whatever the memory format
    assert torch.allclose(model.encode(x), model.encode(x.contiguous()), atol=1e-6)


def test_dense_and_reshape_refusals() -> None:
    with pytest.raises(ArchitectureError, match=r"reshape → 16×4×4\): 16×4×4 = 256 values, but its input 1024×1×1 has 1,024"):
        Architecture((*REFERENCE.encoder, Dense(2)), (Dense(1024), Reshape(16, 4), *REFERENCE.decoder))
    with pytest.raises(ArchitectureError, match=r"Dense\.features must be an integer ≥ 1"):
        Dense(0)
    assert Architecture.from_dict(DENSE_2.to_dict()) == DENSE_2
