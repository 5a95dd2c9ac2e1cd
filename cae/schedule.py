"""Learning-rate schedules with a linear warm-up, stepped by the training loop after every batch and epoch::

    lr = LearningRate(optimizer, "cosine", epochs=10, steps_per_epoch=375, warmup=0.5)
    lr.after_batch()           # after every optimizer step
    lr.after_epoch(val_mse)    # after every epoch's validation
    lr.anneal(until=2250)      # end sooner (a deadline): from the rate now to zero by step 2,250

- ``constant``: the configured rate throughout (after the warm-up);
- ``cosine``: from the configured rate down to zero along half a cosine (Loshchilov & Hutter);
- ``onecycle``: up to the configured rate and down again, far below it (Smith's one-cycle policy,
  PyTorch's ``OneCycleLR``; its rise is the warm-up, 30% of the steps when ``warmup`` is 0);
- ``plateau``: halved whenever the validation error has not improved for an epoch (``ReduceLROnPlateau``).

``warmup`` is in epochs (fractions allowed): the rate rises linearly from near zero over that many
steps, which keeps the first large Adam steps of a freshly initialised network from overshooting.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from cae.settings import SCHEDULES

ONECYCLE_RISE = 0.3  # OneCycleLR's own default share of rising steps
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 1  # epochs without improvement: trials here are short
MIN_ONECYCLE_STEPS = 4  # fewer (a tiny smoke run) keep the rate constant: a cycle needs two steps up and two down


class LearningRate:
    """The schedule ``name`` of ``optimizer`` over ``epochs`` × ``steps_per_epoch`` steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, name: str, *, epochs: int, steps_per_epoch: int, warmup: float = 0.0) -> None:
        if name not in SCHEDULES:
            raise ValueError(f"train.schedule: expected one of {', '.join(SCHEDULES)}, got {name!r}")
        if not 0 <= warmup < epochs:
            raise ValueError(f"train.warmup: expected a number of epochs ≥ 0 and below train.epochs ({epochs}), got {warmup:g}")
        self.name = name
        self.total = epochs * steps_per_epoch
        self.warm = round(warmup * steps_per_epoch)
        self.optimizer = optimizer
        self.step = 0
        self.plateau: ReduceLROnPlateau | None = None
        self.annealing: tuple[int, int, list[float]] | None = None  # (from step, until step, rates then): anneal()
        if name == "onecycle" and self.total >= MIN_ONECYCLE_STEPS:
            lr = [group["lr"] for group in optimizer.param_groups]
            # OneCycleLR divides by the length of each phase: both need two steps at least
            rising = min(max(self.warm or round(ONECYCLE_RISE * self.total), 2), self.total - 2)
            self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = OneCycleLR(
                optimizer, lr, total_steps=self.total, pct_start=rising / self.total
            )
        elif name == "plateau":
            # ReduceLROnPlateau changes the rate in place, and a LambdaLR warm-up would overwrite
            # its reductions: the warm-up is applied by hand before the plateau logic starts.
            self.base = [group["lr"] for group in optimizer.param_groups]
            self.scheduler = None
            self.plateau = ReduceLROnPlateau(optimizer, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE)
            self._warm_up()
        else:
            self.scheduler = LambdaLR(optimizer, self._factor)

    def _factor(self, step: int) -> float:
        if step < self.warm:
            return (step + 1) / (self.warm + 1)
        if self.name == "cosine":
            return 0.5 * (1 + math.cos(math.pi * (step - self.warm) / max(1, self.total - self.warm)))
        return 1.0

    def _warm_up(self) -> None:
        if self.step <= self.warm:
            for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
                group["lr"] = base * min(1.0, (self.step + 1) / (self.warm + 1))

    def anneal(self, *, until: int) -> None:
        """End sooner, at step ``until``: from the rate it has now down to zero along half a cosine, for the schedules that
        end near zero (``onecycle``, ``cosine``); ``constant`` and ``plateau`` go on as they are. What a run that must
        stop early (a deadline) does instead of stopping at a one-cycle schedule's peak rate."""
        if self.name not in ("onecycle", "cosine") or until <= self.step:
            return
        self.annealing = (self.step, until, [group["lr"] for group in self.optimizer.param_groups])
        self.scheduler = None

    def after_batch(self) -> None:
        self.step += 1
        if self.annealing is not None:
            start, until, rates = self.annealing
            factor = 0.5 * (1 + math.cos(math.pi * min(1.0, (self.step - start) / (until - start))))
            for group, rate in zip(self.optimizer.param_groups, rates, strict=True):
                group["lr"] = rate * factor
        elif self.scheduler is not None and self.step < self.total:  # OneCycleLR refuses steps past its total
            self.scheduler.step()
        elif self.plateau is not None:
            self._warm_up()

    def after_epoch(self, val_mse: float) -> None:
        if self.plateau is not None and self.step >= self.warm:
            self.plateau.step(val_mse)

    @property
    def lr(self) -> float:
        """The first parameter group's current rate (for curves and progress)."""
        return self.optimizer.param_groups[0]["lr"]
