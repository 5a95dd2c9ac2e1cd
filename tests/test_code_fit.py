"""Codes fitted per image to the decoder (``cae.code_fit``), in ``search.evaluate``, its command and the flagship's table."""

from __future__ import annotations

import pytest
import torch

from cae.builder import build
from cae.code_fit import CodeFit, FittedCodes, LinearCodes, fit_codes
from cae.pca import fit_pca, pca_reconstruct, start_from_linear_code
from cae.spec import Architecture, Conv, Dense, Reshape


def _linear_decoder(latent: int = 8, seed: int = 0) -> torch.nn.Module:
    """An encoder of one strided convolution and a dense code, and a linear decoder: D(z) = W z + b."""
    torch.manual_seed(seed)
    return build(Architecture(encoder=(Conv(4, stride=2), Dense(latent)), decoder=(Dense(3 * 32 * 32), Reshape(3, 32)), output="none"))


def _mse(model: torch.nn.Module, code: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return (model.decode(code) - x).square().flatten(1).mean(1)


def test_a_linear_decoders_fitted_code_is_its_least_squares_code() -> None:
    model, x = _linear_decoder(), torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    linear = model.decoder[1]  # Flatten, Linear, Unflatten: the decoder is W z + b
    with torch.no_grad():
        linear.weight.mul_(20)  # codes matter: the untrained encoder's are far from each image's best
    best = torch.linalg.lstsq(linear.weight.detach(), (x.flatten(1) - linear.bias.detach()).T).solution.T
    least = _mse(model, best.reshape(4, -1, 1, 1), x)
    encoder = _mse(model, model.encode(x), x)
    fitted = _mse(model, fit_codes(model, x, CodeFit(steps=400, lr=0.05)), x)
    assert (encoder > least * 1.05).all()  # the encoder's one pass is not the best code: there is something to fit
    assert torch.allclose(fitted, least, rtol=1e-3)  # and the steps find the least-squares code of each image


def test_no_steps_is_the_encoders_code_and_the_weights_are_left_alone() -> None:
    model, x = _linear_decoder(), torch.rand(3, 3, 32, 32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        assert torch.equal(FittedCodes(model, CodeFit(0))(x), model(x))
    with torch.inference_mode():  # as cae.training's evaluation loops run it
        out = FittedCodes(model, CodeFit(5))(x)
    assert out.shape == x.shape and not torch.equal(out, model(x).detach())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


def test_an_images_code_does_not_depend_on_the_batch_it_is_fitted_in() -> None:
    model, x = _linear_decoder(), torch.rand(5, 3, 32, 32)
    together = fit_codes(model, x, CodeFit(20))
    alone = torch.cat([fit_codes(model, x[i : i + 1], CodeFit(20)) for i in range(5)])
    assert together.shape == model.encode(x).shape  # the code keeps its size
    assert torch.allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize(
    ("steps", "lr", "said"), [(-1, 0.01, "steps: expected a whole number"), (2.5, 0.01, "steps:"), (3, 0, "lr: expected")]
)
def test_a_bad_fit_is_refused(steps, lr, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        CodeFit(steps, lr)


def test_the_linear_code_decodes_as_pca_whatever_the_encoder_adds() -> None:
    """``LinearCodes``: a network started from PCA (``linear_skip``) decodes PCA's code alone, without its encoder's correction."""
    arch = Architecture(
        encoder=(Conv(4, stride=2), Conv(4, stride=2)),
        decoder=(Conv(4), Conv(3, activation="none")),
        image_size=8,
        output="none",
        linear_skip=True,
    )
    generator = torch.Generator().manual_seed(2)
    train, test = (torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=generator) for n in (300, 20))
    code = fit_pca(train)
    torch.manual_seed(0)
    model = build(arch)
    start_from_linear_code(model, code)
    pca, x = pca_reconstruct(code, test, arch.latent_size), test.float() / 255
    with torch.no_grad():
        assert torch.allclose(LinearCodes(model)(x).clamp(0, 1), pca, atol=2e-4)  # the linear path's code is PCA's
        [conv for conv in model.encoder.modules() if isinstance(conv, torch.nn.Conv2d)][-1].weight.fill_(0.05)
        model.decoder[-1].weight.fill_(0.01)  # a decoder that reads the code: the encoder's correction now shows
        assert not torch.allclose(model(x), LinearCodes(model)(x), atol=1e-3)
        assert torch.allclose(model.encode(x) - model.encoder(x), model.linear_encode(x), atol=1e-6)
    with pytest.raises(ValueError, match="expected a linear_skip model"):
        LinearCodes(_linear_decoder())
