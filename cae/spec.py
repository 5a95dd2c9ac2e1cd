"""A CAE architecture as a plain, typed value, and everything known about it before a tensor exists.

An :class:`Architecture` is two tuples of layers (encoder, decoder) and the shape of the images they
read and write (``in_channels``, ``out_channels``, square ``image_size``: CIFAR-10's 3 × 32 × 32 unless
given; 1 × 28 × 28 for MNIST). :attr:`Architecture.shapes` walks the layers from that shape
with the assignment's formula ``out = (W − K + 2P) / S + 1`` and refuses, with a reason, any
architecture whose shapes cannot work. Latent size and parameter count follow from the walk.
On CIFAR-10 images:

    >>> arch = Architecture(
    ...     encoder=(Conv(8), MaxPool(), Conv(12), MaxPool(), Conv(16)),
    ...     decoder=(Upsample(), Conv(12), Upsample(), Conv(3, activation="none")),
    ... )
    >>> arch.latent_shape, arch.latent_size, arch.n_params
    ((16, 8, 8), 1024, 4911)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from typing import Any, Literal, get_args

from cae.chroma_bins import ChromaBins
from cae.halving import depth_hint
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
class MaxPool:
    """Max-pooling; ``stride=None`` means the kernel size (2×2 pooling halves the image)."""

    kernel: int = option(2, minimum=1)
    stride: int | None = option(None, minimum=1)

    def __post_init__(self) -> None:
        if self.stride is None:
            object.__setattr__(self, "stride", self.kernel)
        check_fields(self, ArchitectureError)

    def describe(self) -> str:
        return f"maxpool {self.kernel}×{self.kernel}/{self.stride}"

    def walk(self, shape: Shape, name: str) -> tuple[Shape, int]:
        c, h, _ = shape
        size = _window_size(name, h, self.kernel, self.stride, 0)
        return (c, size, size), 0

    def see(self, field: int, jump: int, image_size: int) -> tuple[int, int]:
        return field + (self.kernel - 1) * jump, jump * self.stride


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


Layer = Conv | ConvTranspose | Residual | MaxPool | Upsample | Dense | Reshape
# A layer kind is one class above (its fields, checks, shape walk, description and receptive field)
# and one branch in cae.builder.make_layers; a space's keys for it are derived from the class
# (search.space.schema.LAYER_KEYS: the kind's name holds the first field, e.g. {conv: 8, kernel: 3}).
LAYER_KINDS: dict[str, type] = {
    "conv": Conv,
    "transpose": ConvTranspose,
    "residual": Residual,
    "maxpool": MaxPool,
    "upsample": Upsample,
    "dense": Dense,
    "reshape": Reshape,
}
_KIND_OF = {cls: kind for kind, cls in LAYER_KINDS.items()}


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


def _halving_steps(layer: Layer) -> int:
    """How many 2× down-samplings a layer makes (a stride of 4 is two; strides that are no power of 2 count none)."""
    stride = layer.stride if isinstance(layer, Conv | MaxPool) else 1
    return stride.bit_length() - 1 if stride & (stride - 1) == 0 else 0


def out_shape(layer: Layer, shape: Shape, *, part: str = "layer", index: int = 0) -> tuple[Shape, int]:
    """Output shape and parameter count of one layer on an input of ``shape``."""
    return layer.walk(shape, f"{part} layer {index} ({layer.describe()})")


@dataclass(frozen=True)
class LayerShape:
    """One row of an architecture's shape walk."""

    part: Literal["encoder", "decoder"]
    index: int
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    params: int

    @property
    def values(self) -> int:
        return math.prod(self.out_shape)


@dataclass(frozen=True)
class Architecture:
    """A convolutional autoencoder: encoder layers to the latent map, decoder layers back to the image.

    The encoder reads ``in_channels`` × ``image_size`` × ``image_size`` images and the decoder must return
    ``out_channels`` × ``image_size`` × ``image_size`` (the same channels for a reconstruction, gray or RGB).
    ``output`` is the activation after the last decoder layer (``sigmoid`` keeps pixels in [0, 1]).
    ``linear_skip`` puts the optimal linear code at the heart of the network. A dense map from the
    image to the latent is added to the encoder's code, and a dense map from the latent back to an
    image, the linear reconstruction, is what the decoder's layers receive (they run from the
    image's shape to the image's shape) and correct: the output is the linear reconstruction plus
    the decoder's output. Started from PCA of the training images (:func:`cae.pca.start_from_linear_code`)
    with the last encoder and decoder layers at zero, the network begins as PCA, and its convolutions
    learn only what a linear code cannot: its gain over PCA is the nonlinearity's worth. (A linear
    reconstruction holds everything the code holds, so refining it in image space is a complete
    decoder of the code, and its convolutions see images, which they suit, not a list of
    coefficients. PCA initialisation of autoencoders: Seuret, Alberti, Liwicki & Ingold, ICDAR 2017.)
    """

    encoder: tuple[Layer, ...]
    decoder: tuple[Layer, ...]
    in_channels: int = option(3, minimum=1)
    out_channels: int = option(3, minimum=1)
    image_size: int = option(32, minimum=1)
    output: OutputActivation = "sigmoid"
    linear_skip: bool = False
    classes: ChromaBins | None = None  # a chroma classifier: its outputs are these classes' logits

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder", tuple(self.encoder))
        object.__setattr__(self, "decoder", tuple(self.decoder))
        if not self.encoder or not self.decoder:
            raise ArchitectureError("an architecture needs at least one encoder and one decoder layer")
        check_fields(self, ArchitectureError)
        if self.linear_skip and self.output != "none":
            raise ArchitectureError(
                f"linear_skip needs output: none (the linear path's image is added before the output activation, "
                f"and only none keeps it as it is), got {self.output}"
            )
        if self.classes is not None:
            wanted = (1, self.classes.n_classes, "none", False)
            if (self.in_channels, self.out_channels, self.output, self.linear_skip) != wanted:
                raise ArchitectureError(
                    f"a chroma classifier takes 1 gray channel to {self.classes.n_classes} class logits with output: none "
                    f"and no linear_skip, got {self.in_channels} → {self.out_channels}, output {self.output}, skip {self.linear_skip}"
                )
        for layer in (*self.encoder, *self.decoder):
            if type(layer) not in _KIND_OF:
                raise ArchitectureError(f"not a layer: {layer!r}")
        expected = (self.out_channels, self.image_size, self.image_size)
        if self.shapes[-1].out_shape != expected:
            got, want, latent = ("×".join(map(str, shape)) for shape in (self.shapes[-1].out_shape, expected, self.latent_shape))
            # the decoder of a linear_skip model starts from the image, so the encoder's depth cannot be why
            hint = "" if self.linear_skip else depth_hint(self.image_size, self.depth)
            raise ArchitectureError(
                f"the decoder returns {got}, expected {want} (the input's shape); the encoder ends in a {latent} latent"
                + (f"; {hint}" if hint else "")
            )

    @cached_property
    def shapes(self) -> tuple[LayerShape, ...]:
        """Every layer's input and output shape and parameter count, encoder first."""
        rows: list[LayerShape] = []
        shape: Shape = (self.in_channels, self.image_size, self.image_size)
        halved = 0  # the encoder's 2× down-samplings so far
        for part, layers in (("encoder", self.encoder), ("decoder", self.decoder)):
            if part == "decoder" and self.linear_skip:
                shape = self.image_shape  # the decoder refines the linear path's image
            for index, layer in enumerate(layers):
                if part == "encoder":
                    halved += _halving_steps(layer)
                try:
                    out, params = out_shape(layer, shape, part=part, index=index)
                except ArchitectureError as error:
                    # an encoder that halved more often than the image size allows met an odd map: say which depth fits
                    hint = depth_hint(self.image_size, halved) if part == "encoder" else ""
                    if not hint:
                        raise
                    raise ArchitectureError(f"{error}; {hint}") from None
                rows.append(LayerShape(part, index, layer, shape, out, params))
                shape = out
        return tuple(rows)

    @property
    def image_shape(self) -> Shape:
        """The output image's shape (C×H×W)."""
        return (self.out_channels, self.image_size, self.image_size)

    @property
    def latent_shape(self) -> Shape:
        return self.shapes[len(self.encoder) - 1].out_shape

    @property
    def latent_size(self) -> int:
        """Values in the bottleneck representation, C × H × W."""
        return math.prod(self.latent_shape)

    @property
    def n_params(self) -> int:
        return sum(row.params for row in self.shapes) + self.skip_params

    @property
    def skip_params(self) -> int:
        """Parameters of the linear path (``linear_skip``): image → latent and latent → image, with biases."""
        if not self.linear_skip:
            return 0
        d_in, d_out = self.in_channels * self.image_size**2, self.out_channels * self.image_size**2
        return d_in * self.latent_size + self.latent_size + self.latent_size * d_out + d_out

    @property
    def depth(self) -> int:
        """The encoder's 2× down-samplings (max-pools and strided convolutions; a stride of 4 counts twice).

        At most :func:`halvings` of the image size for an encoder mirrored by 2× up-sampling.
        """
        return sum(_halving_steps(layer) for layer in self.encoder)

    @property
    def receptive_field(self) -> int:
        """Input pixels (per side) that one latent value depends on: the context the encoder sees."""
        field, jump = 1, 1
        for layer in self.encoder:
            field, jump = layer.see(field, jump, self.image_size)
        return field

    @property
    def compression(self) -> float:
        """Input values per latent value (3 for the assignment's network)."""
        return self.in_channels * self.image_size**2 / self.latent_size

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (Optuna user attributes, checkpoints); :meth:`from_dict` reverses it."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("encoder", "decoder", "classes")}
        if self.classes is not None:  # left out otherwise: records of older architectures stay as they were
            plain["classes"] = self.classes.to_dict()
        for part in ("encoder", "decoder"):
            plain[part] = [{"kind": _KIND_OF[type(layer)], **asdict(layer)} for layer in getattr(self, part)]
        return plain

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        data = dict(data)
        if data.get("classes") is not None:
            data["classes"] = ChromaBins.from_dict(data["classes"])
        for part in ("encoder", "decoder"):
            layers = []
            for entry in data[part]:
                entry = dict(entry)
                layers.append(LAYER_KINDS[entry.pop("kind")](**entry))
            data[part] = tuple(layers)
        return cls(**data)


def widen(arch: Architecture, factor: float) -> Architecture:
    """``arch`` with every hidden convolution's channels × ``factor`` (rounded, at least 1).

    The decoder's last convolution keeps its channels: they are the image's.
    """
    if factor == 1:
        return arch
    convs = [i for i, layer in enumerate(arch.decoder) if isinstance(layer, Conv | ConvTranspose)]
    image_layer = convs[-1] if convs else None

    def scaled(layers: tuple[Layer, ...], keep: int | None) -> tuple[Layer, ...]:
        return tuple(
            replace(layer, out_channels=max(1, round(layer.out_channels * factor)))
            if isinstance(layer, Conv | ConvTranspose) and i != keep
            else replace(layer, channels=max(1, round(layer.channels * factor)))
            if isinstance(layer, Residual)
            else layer
            for i, layer in enumerate(layers)
        )

    return replace(arch, encoder=scaled(arch.encoder, None), decoder=scaled(arch.decoder, image_layer))


def deepen(arch: Architecture) -> Architecture:
    """``arch`` with one more stage on each side of the bottleneck: conv + 2×2 max-pool before the
    latent convolution, up-sampling + conv after it (copies of the last encoder convolution).

    The latent map halves in height and width and each latent value sees about twice as far:
    more context for the same kind of layers.
    """
    *body, latent = arch.encoder
    convs = [layer for layer in body if isinstance(layer, Conv)]
    if not isinstance(latent, Conv) or not convs:
        raise ArchitectureError("deepen needs an encoder of convolutions that ends in a latent convolution")
    last = convs[-1]
    stage = Conv(last.out_channels, last.kernel, 1, last.kernel // 2, last.activation)
    return replace(arch, encoder=(*body, stage, MaxPool(2), latent), decoder=(Upsample(2), stage, *arch.decoder))


def at_latent_size(arch: Architecture, size: int) -> Architecture:
    """``arch`` with a code of exactly ``size`` values: its bottleneck layer's outputs changed, nothing else.

    A dense bottleneck takes any size; a convolutional one holds ``channels × H × W`` values, so ``size``
    must be a multiple of its map's H × W. The layers after it read their inputs from the shape walk.
    Raises :class:`ArchitectureError` when the bottleneck cannot hold ``size`` values.
    """
    *body, last = arch.encoder
    if isinstance(last, Dense):
        bottleneck: Layer = replace(last, features=size)
    elif isinstance(last, Conv | ConvTranspose):
        _, height, width = arch.latent_shape
        if size % (height * width):
            raise ArchitectureError(
                f"a {height}×{width} latent map holds a multiple of {height * width} values, not {size:,} (a dense one holds any size)"
            )
        bottleneck = replace(last, out_channels=size // (height * width))
    else:
        raise ArchitectureError(f"the encoder ends in {last.describe()}, which sets no latent size (expected a dense or conv bottleneck)")
    return replace(arch, encoder=(*body, bottleneck))
