"""Averaged weights: an exponential moving average (EMA) of a model's weights as it trains.

The average lives in PyTorch's own :class:`torch.optim.swa_utils.AveragedModel` (a copy of the model, its
batch-norm statistics averaged with its weights). Only the averaging rule is ours: a fixed decay of 0.999
averages over about a thousand steps, so a short run (a search trial trains a few hundred) would be judged by
a mean that still holds its random start. The decay is warmed up as ``min(decay, (1 + n) / (10 + n))`` after
``n`` updates (the rule of timm's and TensorFlow's EMA with ``num_updates``): early on the average follows the
weights, later it smooths over the steps the decay asks for.

    ema = WeightAverage(model, decay=0.999)
    ...; optimizer.step(); ema.update(model)
    evaluate(ema.model, images)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_decay(decay: float, updates: int) -> float:
    """The decay used at the ``updates``-th update (0-based): ``decay``, lowered early in the run.

    >>> warmed_decay(0.999, 0), round(warmed_decay(0.999, 90), 3), warmed_decay(0.999, 100_000)
    (0.1, 0.91, 0.999)
    """
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """An exponential moving average of ``model``'s weights and buffers with a warmed-up ``decay`` per update."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"train.ema: expected a decay in (0, 1), got {decay}")
        self.decay = decay

        @torch.no_grad()
        def average(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
            if not averaged[0].is_floating_point():  # batch norm's step counts: the model's own, not a mean
                torch._foreach_copy_(averaged, current)
                return
            torch._foreach_lerp_(averaged, current, 1 - warmed_decay(decay, int(updates)))

        self.averaged = AveragedModel(model, multi_avg_fn=average, use_buffers=True)

    @property
    def model(self) -> nn.Module:
        """The averaged network itself (the model's class, so it evaluates, saves and loads as the model does)."""
        return self.averaged.module

    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (after each optimizer step)."""
        self.averaged.update_parameters(model)
