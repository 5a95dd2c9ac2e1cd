"""A CAE architecture as a plain, typed value, and everything known about it before a tensor exists.

An :class:`Architecture` is two tuples of layers (encoder, decoder; the kinds are :mod:`cae.layers`, whose
names this module re-exports) and the shape of the images they
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
from typing import Any, Literal

from cae.chroma_bins import ChromaBins
from cae.halving import depth_hint

# The layer kinds live in cae.layers; they are named here too, where every importer has always found them.
from cae.layers import (
    ACTIVATIONS,
    GROUPS,
    KIND_OF,
    LAYER_KINDS,
    NORMS,
    OUTPUT_ACTIVATIONS,
    UPSAMPLE_MODES,
    Activation,
    ArchitectureError,
    AvgPool,
    Conv,
    ConvTranspose,
    Dense,
    Layer,
    MaxPool,
    Norm,
    OutputActivation,
    Reshape,
    Residual,
    Shape,
    Upsample,
    UpsampleMode,
    describe,
    halving_steps,
    norm_params,
    out_shape,
)
from cae.options import check_fields, option

__all__ = [
    "ACTIVATIONS",
    "GROUPS",
    "LAYER_KINDS",
    "NORMS",
    "OUTPUT_ACTIVATIONS",
    "UPSAMPLE_MODES",
    "Activation",
    "Architecture",
    "ArchitectureError",
    "AvgPool",
    "Conv",
    "ConvTranspose",
    "Dense",
    "Layer",
    "LayerShape",
    "MaxPool",
    "Norm",
    "OutputActivation",
    "Reshape",
    "Residual",
    "Shape",
    "Upsample",
    "UpsampleMode",
    "at_latent_size",
    "deepen",
    "describe",
    "norm_params",
    "out_shape",
    "widen",
]


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
            if type(layer) not in KIND_OF:
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
                    halved += halving_steps(layer)
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
        return sum(halving_steps(layer) for layer in self.encoder)

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
            plain[part] = [{"kind": KIND_OF[type(layer)], **asdict(layer)} for layer in getattr(self, part)]
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
