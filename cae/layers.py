"""The layer kinds of a CAE as frozen values, each with its own checks, description, shape walk and receptive field.

A layer is data (``Conv(8)``, ``MaxPool()``): it checks its fields when made, names itself
(:func:`describe`), and walks an input shape to its output shape and parameter count
(:func:`out_shape`, with the assignment's formula ``out = (W − K + 2P) / S + 1``), refusing with a
reason a shape it cannot take. :class:`cae.spec.Architecture` strings them into an encoder and a
decoder. No torch here: a space is checked against these classes before torch is loaded.

    >>> out_shape(Conv(8, stride=2), (3, 32, 32))
    ((8, 16, 16), 224)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

from cae.options import check_fields, option

Activation = Literal["relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "none"]
# The output activation fixes the scale the network works on: sigmoid reads and writes [0, 1];
# tanh reads [-1, 1] and its (tanh + 1) / 2 is the image; none reads [0, 1] and writes as is.
OutputActivation = Literal["sigmoid", "tanh", "none"]
UpsampleMode = Literal["nearest", "bilinear"]
Norm = Literal["none", "batch", "group"]
Shape = tuple[int, int, int]  # channels, height, width

ACTIVATIONS: tuple[str, ...] = get_args(Activation)
OUTPUT_ACTIVATIONS: tuple[str, ...] = get_args(OutputActivation)
UPSAMPLE_MODES: tuple[str, ...] = get_args(UpsampleMode)
NORMS: tuple[str, ...] = get_args(Norm)
GROUPS = 8  # group norm: at most this many groups (the channels' greatest common divisor with it)


def norm_params(norm: str, channels: int) -> int:
    """Learned parameters of a normalisation over ``channels`` (a scale and a shift each; running statistics are buffers)."""
    return 0 if norm == "none" else 2 * channels


class ArchitectureError(ValueError):
    """An architecture that cannot be built; the message is the one-line reason."""


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution followed by an activation. ``padding=None`` means ``kernel // 2`` ("same")."""

    out_channels: int = option(minimum=1)
    kernel: int = option(3, minimum=1)
    stride: int = option(1, minimum=1)
    padding: int | None = option(None, minimum=0, none_word="same")
    activation: Activation = "relu"
    norm: Norm = "none"  # between the convolution and its activation

    def __post_init__(self) -> None:
        if self.padding is None and isinstance(self.kernel, int):
            object.__setattr__(self, "padding", self.kernel // 2)
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        k, s = self.kernel, self.stride
        return f"conv {k}×{k}/{s} p{self.padding} → {self.out_channels}, {_with_norm(self.activation, self.norm)}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c, h, _ = shape
        size = _window_size(name, h, self.kernel, self.stride, self.padding)
        out = self.out_channels
        return (out, size, size), c * out * self.kernel**2 + out + norm_params(self.norm, out)

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field + (self.kernel - 1) * jump, jump * self.stride


@dataclass(frozen=True)
class ConvTranspose:
    """A transposed convolution (learned up-sampling) followed by an activation."""

    out_channels: int = option(minimum=1)
    kernel: int = option(2, minimum=1)
    stride: int = option(2, minimum=1)
    padding: int = option(0, minimum=0)
    output_padding: int = option(0, minimum=0)
    activation: Activation = "relu"
    norm: Norm = "none"

    def __post_init__(self) -> None:
        check_fields(self, ArchitectureError)
        if self.output_padding >= self.stride:
            raise ArchitectureError(
                f"ConvTranspose.output_padding must be smaller than its stride ({self.stride}), got {self.output_padding}"
            )

    def describe(self) -> str:
        k, s, op = self.kernel, self.stride, self.output_padding
        extra = f" op{op}" if op else ""
        return f"transpose {k}×{k}/{s} p{self.padding}{extra} → {self.out_channels}, {_with_norm(self.activation, self.norm)}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c, h, _ = shape
        size = (h - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding
        if size < 1:
            raise ArchitectureError(f"{name}: output size {size} on a {h}×{h} input")
        out = self.out_channels
        return (out, size, size), c * out * self.kernel**2 + out + norm_params(self.norm, out)

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        # rare in an encoder: widens the field, refines the step
        return field + (self.kernel - 1) * jump // self.stride, max(jump // self.stride, 1)


@dataclass(frozen=True)
class Residual:
    """A residual block that keeps its input's shape: ``act(x + norm(conv(act(norm(conv(x))))))``, two same-padded
    ``kernel``×``kernel`` convolutions of ``channels`` (which must be the input's channels).

    The identity path lets a deep stack start as (nearly) the identity and learn corrections, which
    is why a few of these train faster than as many plain convolutions.
    """

    channels: int = option(minimum=1)
    kernel: int = option(3, minimum=1)
    activation: Activation = "relu"
    norm: Norm = "none"

    def __post_init__(self) -> None:
        check_fields(self, ArchitectureError)
        if self.kernel % 2 == 0:
            raise ArchitectureError(f"Residual.kernel must be odd (a same-padded convolution keeps the shape), got {self.kernel}")

    def describe(self) -> str:
        return f"residual 2× conv {self.kernel}×{self.kernel} → {self.channels}, {_with_norm(self.activation, self.norm)}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c = shape[0]
        if self.channels != c:
            raise ArchitectureError(
                f"{name}: a residual block keeps its input's channels, but its input has {c} and it says {self.channels}"
            )
        return shape, 2 * (c * c * self.kernel**2 + c + norm_params(self.norm, c))

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field + 2 * (self.kernel - 1) * jump, jump


@dataclass(frozen=True)
class _Pool:
    """A fixed pooling window; ``stride=None`` means the kernel size (2×2 pooling halves the image)."""

    kernel: int = option(2, minimum=1)
    stride: int | None = option(None, minimum=1)

    def __post_init__(self) -> None:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        return f"{KIND_OF[type(self)]} {self.kernel}×{self.kernel}/{self.stride}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c, h, _ = shape
        size = _window_size(name, h, self.kernel, self.stride, 0)
        return (c, size, size), 0

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field + (self.kernel - 1) * jump, jump * self.stride


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max-pooling: each output is its window's largest value; ``stride=None`` means the kernel size."""


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Average pooling: each output is its window's mean; ``stride=None`` means the kernel size.

    Every input pixel counts towards the output and receives gradient, where a max-pool passes on
    only the largest value of each window: a smooth, anti-aliased down-sampling.
    """


@dataclass(frozen=True)
class Upsample:
    """Fixed up-sampling by an integer factor (nearest or bilinear interpolation)."""

    scale: int = option(2, minimum=1)
    mode: UpsampleMode = "nearest"

    def __post_init__(self) -> None:
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        return f"upsample ×{self.scale}, {self.mode}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c, h, _ = shape
        return (c, h * self.scale, h * self.scale), 0

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field, max(jump // self.scale, 1)


@dataclass(frozen=True)
class Dense:
    """A fully connected layer on the flattened input: a vector of ``features`` values (shape F×1×1).

    At the end of an encoder it is a dense bottleneck, so the latent size can be any number (2
    included) instead of a multiple of a feature map's H × W.
    """

    features: int = option(minimum=1)
    activation: Activation = "none"

    def __post_init__(self) -> None:
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        return f"dense → {self.features}, {self.activation}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        return (self.features, 1, 1), math.prod(shape) * self.features + self.features

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return max(field, image_size), jump  # every output sees every input pixel


@dataclass(frozen=True)
class Reshape:
    """A vector back to a ``channels × size × size`` feature map (after a :class:`Dense` layer)."""

    channels: int = option(minimum=1)
    size: int = option(minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        return f"reshape → {self.channels}×{self.size}×{self.size}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        values = self.channels * self.size**2
        if values != math.prod(shape):
            got = "×".join(map(str, shape))
            raise ArchitectureError(
                f"{name}: {self.channels}×{self.size}×{self.size} = {values:,} values, but its input {got} has {math.prod(shape):,}"
            )
        return (self.channels, self.size, self.size), 0

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field, jump


Layer = Conv | ConvTranspose | Residual | MaxPool | AvgPool | Upsample | Dense | Reshape
# A layer kind is one class above (its fields, checks, shape walk, description and receptive field)
# and one branch in cae.builder.make_layers; a space's keys for it are derived from the class
# (search.space.schema.LAYER_KEYS: the kind's name holds the first field, e.g. {conv: 8, kernel: 3}).
LAYER_KINDS: dict[str, type] = {
    "conv": Conv,
    "transpose": ConvTranspose,
    "residual": Residual,
    "maxpool": MaxPool,
    "avgpool": AvgPool,
    "upsample": Upsample,
    "dense": Dense,
    "reshape": Reshape,
}
KIND_OF = {cls: kind for kind, cls in LAYER_KINDS.items()}


def describe(layer: Layer) -> str:
    """A short human name for one layer, e.g. ``conv 3×3/1 p1 → 8, relu``."""
    return layer.describe()


def _with_norm(activation: str, norm: str) -> str:
    return activation if norm == "none" else f"{norm} norm, {activation}"


def _window_size(name: str, size: int, k: int, s: int, p: int) -> int:
    """``(W − K + 2P) / S + 1`` rounded down as PyTorch does, refusing pixels that no window reads.

    A strided conv with "same" padding floors but still reads every input pixel (32 → 16 with a
    3×3/2 conv), so it is fine; a 2×2 max-pool on a 5×5 map never reads the last row and column
    (the "non-integer size" of the assignment's formula), so it is refused.
    """
    span = size - k + 2 * p
    if span < 0:
        raise ArchitectureError(f"{name}: kernel {k} is larger than its padded {size}×{size} input")
    out = span // s + 1
    last_read = (out - 1) * s - p + k - 1
    if last_read < size - 1:
        exact = f"{span / s + 1:g}"
        raise ArchitectureError(
            f"{name}: ({size} − {k} + 2·{p})/{s} + 1 = {exact} on a {size}×{size} input, "
            f"a non-integer size: the last {size - 1 - last_read} row(s) would never be read"
        )
    return out


def halving_steps(layer: Layer) -> int:
    """How many 2× down-samplings a layer makes (a stride of 4 is two; strides that are no power of 2 count none)."""
    stride = layer.stride if isinstance(layer, Conv | _Pool) else 1
    return stride.bit_length() - 1 if stride & (stride - 1) == 0 else 0


def out_shape(layer: Layer, shape: Shape, *, part: str = "layer", index: int = 0) -> tuple[Shape, int]:
    """Output shape and parameter count of one layer on an input of ``shape``."""
    return layer.walk(shape, f"{part} layer {index} ({layer.describe()})")
