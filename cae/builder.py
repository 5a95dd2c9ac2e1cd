"""From an :class:`~cae.spec.Architecture` value to a PyTorch module: one pure function per part.

Like torchvision's ``vgg.make_layers(cfg)``: no file reading, no printing, no search; a new layer
kind is one more branch in :func:`make_layers`.

    >>> from cae.spec import Architecture, Conv, MaxPool, Upsample
    >>> model = build(Architecture(encoder=(Conv(8), MaxPool()), decoder=(Upsample(), Conv(3, activation="none"))))
    >>> model.encode(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 8, 16, 16])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cae.spec import Architecture, Conv, ConvTranspose, Dense, Layer, MaxPool, Reshape, Shape, Upsample, out_shape

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


def make_layers(layers: tuple[Layer, ...], in_shape: Shape) -> nn.Sequential:
    """Modules for a sequence of spec layers, starting from an input of ``in_shape`` (C, H, W)."""
    modules: list[nn.Module] = []
    shape = in_shape
    for layer in layers:
        channels = shape[0]
        match layer:
            case Conv(out, k, s, p, act):
                modules += [nn.Conv2d(channels, out, k, stride=s, padding=p), *activation(act)]
                channels = out
            case ConvTranspose(out, k, s, p, op, act):
                modules += [
                    nn.ConvTranspose2d(channels, out, k, stride=s, padding=p, output_padding=op),
                    *activation(act),
                ]
                channels = out
            case MaxPool(k, s):
                modules.append(nn.MaxPool2d(k, stride=s))
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
    return nn.Sequential(*modules)


class CAE(nn.Module):
    """A convolutional autoencoder built from an :class:`Architecture`."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.encoder = make_layers(arch.encoder, (arch.in_channels, arch.image_size, arch.image_size))
        self.decoder = make_layers(arch.decoder, arch.latent_shape)
        self.output = nn.Sequential(*activation(arch.output))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.output(self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def build(arch: Architecture) -> CAE:
    """The module for ``arch`` (weights from PyTorch's default initialisation; seed before calling)."""
    return CAE(arch)
