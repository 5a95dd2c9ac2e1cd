"""What one refit epoch of a chosen design costs on this machine, timed before the refit plans its epochs.

The 95-minute flagship run planned each size's epochs from its design's epoch time in the search, scaled to the
refit's images: 29 / 44 / 44 s planned against 27 / 37 / 35 s measured at 64 / 128 / 256 values (a search trial's two
epochs include its first, slower one, and a small subset's fixed costs), so the plan left 15 of its minutes unused.
Here each design trains a few batches through :func:`cae.training.fit` itself, as the refit will train it (its
precision, batch size, averaged weights), and evaluates a few batches: seconds per image of each pass, measured from
the median step once the first steps (allocation, kernel choice) are past.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, replace

import torch

from cae.builder import build
from cae.data import ImageSet, Splits
from cae.settings import TrainConfig
from cae.spec import Architecture
from cae.training import evaluate, fit

WARM_BATCHES = 3  # the first batches allocate and pick kernels: slower than the rest, and not what an epoch of hundreds costs
TIMED_BATCHES = 12


@dataclass(frozen=True)
class PassCost:
    """Seconds per image of a design's training pass and of one evaluation pass, as this machine ran them."""

    train: float
    evaluate: float

    def epoch_seconds(self, train_images: int, val_images: int, *, averaged: bool) -> float:
        """One refit epoch: a training pass over ``train_images``, then validation (twice with averaged weights: the
        average's and the trained weights')."""
        return self.train * train_images + self.evaluate * val_images * (2 if averaged else 1)


def pass_cost(arch: Architecture, cfg: TrainConfig, images: torch.Tensor) -> PassCost:
    """Time ``arch`` trained as ``cfg`` says on the first images of ``images`` (uint8, N×C×H×W), then evaluated on them.

    It trains ``(WARM_BATCHES + TIMED_BATCHES) × cfg.batch_size`` images; fewer are repeated to make them (a step costs the
    same whatever its pixels), so that every timed batch is a whole one.
    """
    warm, timed = WARM_BATCHES * cfg.batch_size, TIMED_BATCHES * cfg.batch_size
    if len(images) == 0:
        raise ValueError("calibration: expected images to time the design on, got none")
    images = images.repeat(-(-(warm + timed) // len(images)), 1, 1, 1)[: warm + timed]
    labels = torch.zeros(warm + timed, dtype=torch.long)

    def images_set(first: int, n: int) -> ImageSet:
        return ImageSet(images[first : first + n], labels[:n])

    small = images_set(0, cfg.batch_size)
    model, stamps = build(arch), []
    short = replace(cfg, epochs=1, schedule="constant", warmup=0.0)
    # One fit over the warm and the timed batches, each step's end stamped, and the median step taken. The first
    # version timed a second fit's whole pass, its first step included (a new optimizer's state allocated), and planned
    # 42 s an epoch at 256 values where the refit measured 36 s.
    warm_and_timed = Splits(images_set(0, warm + timed), small, small, (), "calibration")
    fit(model, warm_and_timed, short, on_batch=lambda *_: stamps.append(time.perf_counter()))
    step = statistics.median(later - earlier for earlier, later in itertools.pairwise(stamps[WARM_BATCHES - 1 :]))
    passes = []
    for _ in range(2):  # the first evaluation allocates its buffers
        started = time.perf_counter()
        evaluate(model, images[warm : warm + timed])
        passes.append(time.perf_counter() - started)
    return PassCost(train=step / cfg.batch_size, evaluate=passes[-1] / timed)
