"""From an :class:`~cae.spec.Architecture` value to a PyTorch module: one pure function per part.

Like torchvision's ``vgg.make_layers(cfg)``: no file reading, no printing, no search; a new layer
kind is one more branch in :func:`make_layers`. The module reads and writes images of the
architecture's own shape (here its default, CIFAR-10's 3×32×32):

    >>> from cae.spec import Architecture, Conv, MaxPool, Upsample
    >>> model = build(Architecture(encoder=(Conv(8), MaxPool()), decoder=(Upsample(), Conv(3, activation="none"))))
    >>> model.encode(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 8, 16, 16])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cae.layers import GROUPS, AvgPool, Conv, ConvTranspose, Dense, Layer, MaxPool, Reshape, Residual, Shape, Upsample, out_shape
from cae.spec import Architecture

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation(name: str) -> list[nn.Module]:
    """The activation named in a spec, as a list so that ``none`` adds no module."""
    return [] if name == "none" else [_ACTIVATIONS[name]()]


def normalisation(name: str, channels: int) -> list[nn.Module]:
    """The normalisation named in a spec (``none`` adds no module)."""
    if name == "batch":
        return [nn.BatchNorm2d(channels)]
    if name == "group":
        return [nn.GroupNorm(math.gcd(channels, GROUPS), channels)]
    return []


class ResidualBlock(nn.Module):
    """``act(x + norm(conv(act(norm(conv(x))))))``: see :class:`cae.layers.Residual`."""

    def __init__(self, channels: int, kernel: int, act: str, norm: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel, padding=pad),
            *normalisation(norm, channels),
            *activation(act),
            nn.Conv2d(channels, channels, kernel, padding=pad),
            *normalisation(norm, channels),
        )
        self.act = nn.Sequential(*activation(act))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class LayerStack(nn.Sequential):
    """The modules of a sequence of spec layers, and where each layer's modules end.

    A spec layer becomes one or more modules (a convolution, its normalisation, its activation);
    ``layer_ends[i]`` is the index of spec layer ``i``'s last module, whose output is that layer's
    output: hooks (analysis.activations) attach to :meth:`layer_modules`. A plain ``Sequential``
    otherwise: the same children, the same ``state_dict`` keys.
    """

    layer_ends: tuple[int, ...]

    def __init__(self, modules: list[nn.Module], layer_ends: list[int] | tuple[int, ...]) -> None:
        super().__init__(*modules)
        ends = tuple(layer_ends)
        if list(ends) != sorted(set(ends)) or (ends and not (ends[0] >= 0 and ends[-1] == len(modules) - 1)):
            raise ValueError(f"expected increasing layer ends, the last at module {len(modules) - 1}, got {ends}")
        self.layer_ends = ends

    def layer_modules(self) -> list[nn.Module]:
        """The module whose output is each spec layer's output, in the layers' order."""
        return [self[end] for end in self.layer_ends]


def make_layers(layers: tuple[Layer, ...], in_shape: Shape) -> LayerStack:
    """Modules for a sequence of spec layers, starting from an input of ``in_shape`` (C, H, W) (see :class:`LayerStack`)."""
    modules: list[nn.Module] = []
    ends: list[int] = []
    shape = in_shape
    for layer in layers:
        channels = shape[0]
        match layer:
            case Conv(out, k, s, p, act, norm):
                modules += [nn.Conv2d(channels, out, k, stride=s, padding=p), *normalisation(norm, out), *activation(act)]
            case ConvTranspose(out, k, s, p, op, act, norm):
                modules += [
                    nn.ConvTranspose2d(channels, out, k, stride=s, padding=p, output_padding=op),
                    *normalisation(norm, out),
                    *activation(act),
                ]
            case Residual(c, k, act, norm):
                modules.append(ResidualBlock(c, k, act, norm))
            case MaxPool(k, s):
                modules.append(nn.MaxPool2d(k, stride=s))
            case AvgPool(k, s):
                modules.append(nn.AvgPool2d(k, stride=s))
            case Upsample(scale, mode):
                align = False if mode == "bilinear" else None
                modules.append(nn.Upsample(scale_factor=scale, mode=mode, align_corners=align))
            case Dense(features, act):
                # kept 4-D (F×1×1) so that every layer, and every hook, sees N×C×H×W tensors
                linear = nn.Linear(math.prod(shape), features)
                modules += [nn.Flatten(), linear, *activation(act), nn.Unflatten(1, (features, 1, 1))]
            case Reshape(c, size):
                modules += [nn.Flatten(), nn.Unflatten(1, (c, size, size))]
            case _:
                raise TypeError(f"not a layer: {layer!r}")
        shape = out_shape(layer, shape)[0]
        ends.append(len(modules) - 1)
    return LayerStack(modules, ends)


_OUTPUTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class CAE(nn.Module):
    """A convolutional autoencoder built from an :class:`Architecture`."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.encoder = make_layers(arch.encoder, (arch.in_channels, arch.image_size, arch.image_size))
        self.decoder = make_layers(arch.decoder, arch.image_shape if arch.linear_skip else arch.latent_shape)
        self.output = nn.Sequential(*([_OUTPUTS[arch.output]()] if arch.output in _OUTPUTS else []))
        # tanh networks work on [-1, 1] (zero-centred inputs, the output's own range); every
        # caller still gives and gets images in [0, 1], so errors stay on one scale.
        self.centred = arch.output == "tanh"
        if arch.linear_skip:
            pixels = arch.image_size**2
            self.skip_in = nn.Linear(arch.in_channels * pixels, arch.latent_size)
            self.skip_out = nn.Linear(arch.latent_size, arch.out_channels * pixels)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The latent code of images in [0, 1]."""
        z = self.encoder(x * 2 - 1 if self.centred else x)
        return z + self.linear_encode(x) if self.arch.linear_skip else z

    def linear_encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of a ``linear_skip`` model's linear path alone, without the encoder's correction: PCA's code for a
        model started from it (:func:`cae.pca.start_from_linear_code` freezes that path)."""
        if not self.arch.linear_skip:
            raise ValueError("linear_encode: expected a linear_skip model, which has a linear path")
        return self.skip_in(x.flatten(1)).reshape(len(x), *self.arch.latent_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in the [0, 1] scale of the input (exactly in [0, 1] for sigmoid and tanh outputs)."""
        if self.arch.linear_skip:
            linear = self.skip_out(z.flatten(1)).reshape(len(z), *self.arch.image_shape).contiguous(memory_format=torch.channels_last)
            out = linear + self.decoder(linear)
        else:
            out = self.decoder(z)
        out = self.output(out)
        return (out + 1) / 2 if self.centred else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def build(arch: Architecture) -> CAE:
    """The module for ``arch`` (weights from PyTorch's default initialisation; seed before calling)."""
    return CAE(arch)
