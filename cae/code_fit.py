"""Codes other than the encoder's, decoded by the same decoder: each image's code fitted to it by gradient steps on the
latent, starting from the encoder's code (:class:`FittedCodes`); and a ``linear_skip`` model's linear code alone, PCA's,
without the encoder's correction (:class:`LinearCodes`). Between them they split a network's gain over PCA into what its
decoder adds to PCA's code, what its encoder adds to that, and what its encoder leaves on the table.

An encoder is one forward guess at the code its decoder reconstructs best (an *amortised* inference); the code that
minimises an image's error under the same decoder is usually better. COIN++ fits its codes per image this way; here
the decoder stays the network's own and only the code moves, so it keeps its size (``latent_size`` values an image)::

    >>> from cae.builder import build
    >>> from cae.spec import Architecture, Conv, Dense, Reshape
    >>> model = build(Architecture(encoder=(Conv(4, stride=2), Dense(16)),
    ...                            decoder=(Dense(3 * 32 * 32), Reshape(3, 32))))
    >>> x = torch.rand(2, 3, 32, 32)
    >>> codes = fit_codes(model, x, CodeFit(steps=5))
    >>> codes.shape == model.encode(x).shape
    True

The decoder's weights are not changed and get no gradients. PCA needs no such step: its code is already the
least-squares optimum of its linear decoder. Each image's code is fitted on its own error alone (Adam is per
coordinate and the loss a sum over images), so a code does not depend on the batch it was fitted in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cae.builder import CAE


@dataclass(frozen=True)
class CodeFit:
    """How each image's code is fitted: ``steps`` of Adam at learning rate ``lr`` on the image's MSE."""

    steps: int
    lr: float = 0.01

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps: expected a whole number of steps >= 0, got {self.steps!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a learning rate > 0, got {self.lr!r}")

    def steps_words(self) -> str:
        return f"{self.steps} Adam steps at {self.lr:g}"

    def words(self) -> str:
        return f"codes fitted per image ({self.steps_words()})"


def fit_codes(model: CAE, x: torch.Tensor, fit: CodeFit) -> torch.Tensor:
    """The codes of images ``x`` (floats in [0, 1]) that ``fit.steps`` Adam steps on each image's MSE reach from the encoder's.

    The model is used in evaluation mode (batch norm with its running statistics) and its weights stay as they are.
    Works inside ``torch.inference_mode`` and ``torch.no_grad`` too: the steps need gradients of the code only.
    """
    model.eval()
    # an evaluation loop may run in inference mode; its tensors cannot take part in autograd, their clones can
    with torch.inference_mode(False), torch.enable_grad():
        x = x.clone()
        with torch.no_grad():
            code = model.encode(x)
        if fit.steps == 0:
            return code
        code.requires_grad_(True)
        optimizer = torch.optim.Adam([code], lr=fit.lr)
        for _ in range(fit.steps):
            # a sum of per-image losses: each code's gradient is its own image's alone. autograd.grad, not backward:
            # only the code's gradient is computed, and the weights' .grad stay untouched without freezing them
            loss = (model.decode(code) - x).square().flatten(1).mean(1).sum()
            (code.grad,) = torch.autograd.grad(loss, code)
            optimizer.step()
        return code.detach()


class FittedCodes(nn.Module):
    """``model`` whose forward pass decodes each image's fitted code (:func:`fit_codes`) instead of the encoder's.

    It keeps ``model``'s ``arch``, so whatever reads a model's task and shape (``cae.training.rgb_batches``,
    ``cae.training.evaluate``) measures it as it measures ``model``.
    """

    def __init__(self, model: CAE, fit: CodeFit) -> None:
        super().__init__()
        self.model, self.fit, self.arch = model, fit, model.arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = fit_codes(self.model, x, self.fit)
        with torch.no_grad():
            return self.model.decode(code)


class LinearCodes(nn.Module):
    """A ``linear_skip`` ``model`` whose forward pass decodes the linear path's code alone (:meth:`cae.builder.CAE.linear_encode`):
    PCA's code through the trained decoder, so its error against PCA's is the decoder's share of the network's gain
    and the network's against it the encoder's. Keeps ``model``'s ``arch``, as :class:`FittedCodes` does."""

    def __init__(self, model: CAE) -> None:
        super().__init__()
        if not model.arch.linear_skip:
            raise ValueError("LinearCodes: expected a linear_skip model, which has a linear code")
        self.model, self.arch = model, model.arch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.decode(self.model.linear_encode(x))
