"""Averaged weights (train.ema): the average's rule, what fit keeps and tests, what a trial records."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cae.averaging import WeightAverage, warmed_decay
from cae.settings import TrainConfig
from cae.spec import Architecture, Conv, MaxPool, Upsample
from cae.training import evaluate, train
from search.space import load_space
from search.space.messages import SpaceError
from search.trials.record import Curves, parse_record, write_epoch
from tests.conftest import train_key_space

SMALL = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12)),
    decoder=(Upsample(), Conv(3, activation="none")),
)


def test_the_decay_is_warmed_up_then_held() -> None:
    assert warmed_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_decay(0.999, 10) == pytest.approx(11 / 20)
    assert warmed_decay(0.999, 10_000) == 0.999
    assert warmed_decay(0.5, 20) == 0.5  # a low decay is reached early and held


def test_the_average_follows_the_rule_by_hand() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    average = WeightAverage(model, decay=0.9)
    weights = [torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 0.0]]), torch.tensor([[-1.0, 5.0]])]
    expected = None
    for n, w in enumerate(weights):
        with torch.no_grad():
            model[0].weight.copy_(w)
            model[1].running_mean.fill_(float(n))
            model[1].num_batches_tracked.fill_(7 * n)
        average.update(model)
        # the first update copies; the n-th after it lerps by 1 - decay warmed up at n - 1 updates
        expected = w if expected is None else expected + (w - expected) * (1 - warmed_decay(0.9, n))
    assert torch.allclose(average.model[0].weight, expected)
    # batch norm's running statistics are averaged with the weights; its step count is copied, not averaged
    mean = 0.0
    for n in (1, 2):
        mean += (n - mean) * (1 - warmed_decay(0.9, n))
    assert average.model[1].running_mean.item() == pytest.approx(mean)
    assert average.model[1].num_batches_tracked.item() == 14
    assert model[0].weight is not average.model[0].weight  # a copy: the trained weights are untouched


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_the_open_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"train\.ema"):
        WeightAverage(nn.Linear(1, 1), decay)


def test_fit_keeps_and_tests_the_average_and_validates_both(tiny_splits) -> None:
    cfg = TrainConfig(epochs=3, batch_size=32, lr=3e-3, device="cpu", precision="fp32")
    reports = []
    model, result = train(SMALL, tiny_splits, cfg.__class__(**{**cfg.__dict__, "ema": 0.9}), on_epoch=reports.append)
    _, plain = train(SMALL, tiny_splits, cfg)
    assert len(result.raw_val_mse) == 3 and [r.raw_val_mse for r in reports] == result.raw_val_mse
    assert plain.raw_val_mse == [] and plain.val_mse != result.val_mse
    # the trained weights of the averaged run are those of the plain run (the average never feeds back into training)
    assert result.raw_val_mse == pytest.approx(plain.val_mse, rel=1e-5)
    # what the model holds at the end is the average at its best epoch: its test error is the recorded one
    assert result.test_mse == pytest.approx(evaluate(model, tiny_splits.test.images))
    assert result.best_val_mse == min(result.val_mse)


def test_a_trial_records_the_trained_weights_curve_beside_the_average() -> None:
    curves = Curves()
    curves.add(0.02, 0.018, 1.0, 0.019)
    curves.add(0.015, 0.014, 1.0, 0.0145)
    attrs: dict = {}

    class Trial:
        def set_user_attr(self, key: str, value: object) -> None:
            attrs[key] = value

    write_epoch(Trial(), curves, 2.0)
    record = parse_record(attrs)
    assert record.val_mse == (0.018, 0.014) and record.raw_val_mse == (0.019, 0.0145)
    plain = Curves()
    plain.add(0.02, 0.018, 1.0)
    attrs.clear()
    write_epoch(Trial(), plain, 1.0)
    assert "raw_val_mse" not in attrs and parse_record(attrs).raw_val_mse is None


def test_a_space_sets_ema_and_a_bad_one_is_refused(tmp_path) -> None:
    good = tmp_path / "ema.yaml"
    good.write_text(train_key_space("ema", "0.999"))
    assert load_space(good).train["ema"] == 0.999
    bad = tmp_path / "bad.yaml"
    bad.write_text(train_key_space("ema", "1.5"))
    with pytest.raises(SpaceError, match=r"train\.ema"):
        load_space(bad)
