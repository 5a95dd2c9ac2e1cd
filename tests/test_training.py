"""The training loop on real CIFAR-10 images: curves, seeding, callbacks, divergence, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cae.builder import build
from cae.checkpoint import load_checkpoint, save_checkpoint
from cae.spec import Architecture, ArchitectureError, Conv, ConvTranspose, MaxPool, Upsample
from cae.training import NonFiniteLoss, ShortenTraining, StopTraining, TrainConfig, check_loss, cudnn_benchmark, evaluate, fit, psnr, train

REFERENCE = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12), MaxPool(), Conv(16)),
    decoder=(Upsample(), Conv(12), Upsample(), Conv(3, activation="none")),
)


def test_training_learns_and_reports_every_epoch(tiny_splits) -> None:
    reports = []
    model, result = train(REFERENCE, tiny_splits, TrainConfig(epochs=3, batch_size=32, lr=3e-3, device="cpu"), on_epoch=reports.append)
    assert [r.epoch for r in reports] == [1, 2, 3]
    assert result.val_mse == [r.val_mse for r in reports]
    assert len(result.train_mse) == len(result.epoch_seconds) == 3
    assert all(s > 0 for s in result.epoch_seconds)
    untrained = evaluate(build(REFERENCE), tiny_splits.val.images)
    assert result.val_mse[-1] < 0.7 * untrained  # it learned something on 320 images
    assert result.best_val_mse == min(result.val_mse)
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))
    assert result.test_psnr == pytest.approx(10 * math.log10(1 / result.test_mse))


def test_same_seed_same_run(tiny_splits) -> None:
    cfg = TrainConfig(epochs=1, batch_size=64, seed=3, device="cpu")
    _, a = train(REFERENCE, tiny_splits, cfg)
    _, b = train(REFERENCE, tiny_splits, cfg)
    _, c = train(REFERENCE, tiny_splits, TrainConfig(epochs=1, batch_size=64, seed=4, device="cpu"))
    assert a.val_mse == b.val_mse and a.test_mse == b.test_mse
    assert a.val_mse != c.val_mse


def test_an_exception_in_the_epoch_callback_stops_training(tiny_splits) -> None:
    class Stop(Exception):
        pass

    seen = []

    def stop_after_first(report) -> None:
        seen.append(report.epoch)
        raise Stop

    with pytest.raises(Stop):
        train(REFERENCE, tiny_splits, TrainConfig(epochs=5, device="cpu"), on_epoch=stop_after_first)
    assert seen == [1]


def test_stop_training_ends_after_the_epoch_as_if_it_were_the_last(tiny_splits) -> None:
    seen = []

    def stop_after_second(report) -> None:
        seen.append(report.epoch)
        if report.epoch == 2:
            raise StopTraining("the deadline")

    model, result = train(REFERENCE, tiny_splits, TrainConfig(epochs=5, device="cpu"), on_epoch=stop_after_second)
    assert seen == [1, 2] and len(result.val_mse) == len(result.train_mse) == 2
    assert result.stopped == "the deadline" and result.best_epoch in (1, 2)
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))  # the kept weights, tested
    assert train(REFERENCE, tiny_splits, TrainConfig(epochs=1, device="cpu"))[1].stopped == ""  # not stopped: nothing said


def test_shorten_training_plans_fewer_epochs_and_says_why(tiny_splits) -> None:
    seen = []

    def shorten_after_first(report) -> None:
        seen.append((report.epoch, report.epochs))
        if report.epoch == 1:
            raise ShortenTraining(3, "the deadline leaves 3")

    model, result = train(REFERENCE, tiny_splits, TrainConfig(epochs=6, device="cpu"), on_epoch=shorten_after_first)
    assert seen == [(1, 6), (2, 3), (3, 3)]  # told the new plan after it
    assert len(result.val_mse) == 3 and result.stopped == "the deadline leaves 3"
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))

    def shorten_to_now(report) -> None:
        raise ShortenTraining(report.epoch, "none fit")

    assert len(train(REFERENCE, tiny_splits, TrainConfig(epochs=4, device="cpu"), on_epoch=shorten_to_now)[1].val_mse) == 1


def test_the_model_ends_with_its_best_validation_weights(tiny_splits) -> None:
    class Switchable(nn.Module):
        """Reconstructs normally until its ``broken`` buffer is set, then outputs the negative."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.register_buffer("broken", torch.tensor(0.0))

        def forward(self, x):
            return torch.sigmoid(self.conv(x)) * (1 - self.broken) + (1 - x) * self.broken

    model = Switchable()

    def break_after_epoch_1(report) -> None:
        if report.epoch == 1:
            model.broken.fill_(1.0)

    result = fit(model, tiny_splits, TrainConfig(epochs=3, device="cpu"), on_epoch=break_after_epoch_1)
    assert result.val_mse[1] > 2 * result.val_mse[0]  # epochs 2 and 3 really were worse
    assert result.best_epoch == 1 and result.best_val_mse == result.val_mse[0]
    assert float(model.broken) == 0.0  # the best epoch's state came back, buffers included
    assert evaluate(model, tiny_splits.val.images) == pytest.approx(result.val_mse[0])
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))


def test_nan_loss_fails_with_the_epoch(tiny_splits) -> None:
    class Diverged(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(x) * float("nan")

    with pytest.raises(NonFiniteLoss, match="non-finite loss at epoch 1"):
        fit(Diverged(), tiny_splits, TrainConfig(epochs=2, device="cpu"))


def test_bce_loss_trains_a_transposed_decoder_and_still_reports_mse(tiny_splits) -> None:
    arch = Architecture((Conv(16), MaxPool(), Conv(4), MaxPool()), (ConvTranspose(16), ConvTranspose(3, activation="none")))
    _, result = train(arch, tiny_splits, TrainConfig(epochs=1, loss="bce", device="cpu"))
    assert 0 < result.val_mse[0] < 0.2 and 0 < result.test_mse < 0.2


def test_bce_needs_a_sigmoid_output(tiny_splits) -> None:
    arch = Architecture((Conv(4),), (Conv(3, activation="none"),), output="none")
    with pytest.raises(ValueError, match=r"model\.output must be sigmoid"):
        train(arch, tiny_splits, TrainConfig(epochs=1, loss="bce", device="cpu"))


def test_the_sampler_and_the_loop_refuse_bce_by_one_rule() -> None:
    linear = Architecture((Conv(4),), (Conv(3, activation="none"),), output="none")
    with pytest.raises(ArchitectureError, match=r"^train\.loss: bce needs outputs in \[0, 1\], so model\.output must be sigmoid$"):
        check_loss("bce", linear)
    check_loss("mse", linear)  # any other loss takes any output
    check_loss("bce", REFERENCE)  # sigmoid


def test_a_fit_leaves_cudnns_benchmark_mode_as_it_found_it(tiny_splits) -> None:
    before = torch.backends.cudnn.benchmark
    try:
        for setting in (False, True):
            torch.backends.cudnn.benchmark = setting
            with cudnn_benchmark(True):
                assert torch.backends.cudnn.benchmark
            assert torch.backends.cudnn.benchmark is setting
            with cudnn_benchmark(False):
                assert torch.backends.cudnn.benchmark is setting  # off asks nothing: a caller's own choice stands
        torch.backends.cudnn.benchmark = False
        device = "cuda" if torch.cuda.is_available() else "cpu"  # on a GPU the fit turns it on, and back off after
        train(REFERENCE, tiny_splits, TrainConfig(epochs=1, batch_size=64, device=device))
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


def test_errors_are_on_the_pixel_scale_with_outputs_clamped(tiny_splits) -> None:
    class Constant(nn.Module):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = nn.Parameter(torch.tensor(value))

        def forward(self, x):
            return torch.zeros_like(x) + self.value

    images = tiny_splits.val.images
    pixels = images.float() / 255
    assert evaluate(Constant(0.0), images) == pytest.approx(float((pixels**2).mean()), rel=1e-5)
    assert evaluate(Constant(5.0), images) == pytest.approx(float(((1 - pixels) ** 2).mean()), rel=1e-5)
    assert psnr(0.01) == pytest.approx(20.0)


def test_checkpoint_round_trip(tiny_splits, tmp_path) -> None:
    model, _ = train(REFERENCE, tiny_splits, TrainConfig(epochs=1, device="cpu"))
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "model.pt"))
    assert loaded.arch == REFERENCE
    x = tiny_splits.test.images[:4].float() / 255
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)
