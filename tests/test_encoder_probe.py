"""benchmarks.encoder_probe: a network's encoder trained alone leaves its decoder, batch-norm statistics included, as it was."""

from __future__ import annotations

import torch

from benchmarks.encoder_probe import EncoderOnly
from cae.builder import build
from cae.pca import linear_code, start_from_linear_code
from cae.spec import Architecture, Conv, Dense
from cae.training import TrainConfig, fit


def test_the_encoder_trains_alone_and_the_decoder_and_linear_path_stay_as_they_were(tiny_splits) -> None:
    arch = Architecture(
        encoder=(Conv(8, stride=2, norm="batch"), Conv(4, stride=2), Dense(16)),
        decoder=(Conv(8, norm="batch"), Conv(3, activation="none")),
        output="none",
        linear_skip=True,
    )
    torch.manual_seed(0)
    model = build(arch)
    start_from_linear_code(model, linear_code(tiny_splits.train.images))
    with torch.no_grad():  # a trained network's decoder reads the code: not the zero start's
        model.decoder[-1].weight.normal_(0, 0.01)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    result = fit(EncoderOnly(model), tiny_splits, TrainConfig(epochs=1, batch_size=64, device="cpu"))
    assert len(result.val_mse) == 1
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # decoder weights, its running statistics, the skip path
    assert any(not torch.equal(model.encoder.state_dict()[k], v) for k, v in encoder.items())  # the encoder learned
