"""Classifiers on an autoencoder's encoder, and their training loop: one rule for every classifier network.

A :class:`Classifier` is the MLP :func:`head` on a code: an encoder's code of uint8 images (the pretrained encoder
fine-tuned, :func:`encoder_of`, or the same architecture from scratch, :func:`scratch_encoder`), or codes computed
beforehand (a frozen encoder). :func:`fit_classifier` trains any of them by the same rule: AdamW (the training loop's
optimizer, :func:`cae.training.make_optimizer`, at :data:`RULE`), batches of :data:`BATCH`, cross-entropy, no
augmentation; the validation accuracy measured about :data:`EVALUATIONS` times a run and the weights of the best of
those kept. A seed draws the batches' order, dropout's masks and (:func:`seeded_classifier`) the initialisation; the
caller's random state is left as it was::

    classifier = seeded_classifier(lambda: encoder_of(model), model.arch.latent_size, 10, seed=0)
    fit_classifier(classifier, train, val, test, epochs=10, seed=0).test_accuracy
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cae.builder import CAE, build
from cae.settings import TrainConfig
from cae.spec import Architecture
from cae.training import EVAL_BATCH, make_optimizer, to_unit

# AdamW at a fixed rate, PyTorch's default decay.
LR = 1e-3
WEIGHT_DECAY = 1e-2
BATCH = 32  # small, so that 1% of the labels (190 to 480 images) still makes several steps an epoch
RULE = TrainConfig(optimizer="adamw", lr=LR, weight_decay=WEIGHT_DECAY, batch_size=BATCH)
EVALUATIONS = 10  # validation passes per run, about: every max(1, epochs // 10) epochs and the last
HIDDEN = 256
DROPOUT = 0.5


class Examples(Protocol):
    """Inputs (one row per image: uint8 images, or their codes) and the images' class labels."""

    @property
    def x(self) -> np.ndarray: ...

    @property
    def y(self) -> np.ndarray: ...


def encoder_of(model: CAE) -> CAE:
    """A trainable copy of ``model`` holding only what :meth:`CAE.encode` uses (no decoder, no linear path out)."""
    encoder = copy.deepcopy(model)
    encoder.decoder = nn.Sequential()  # its weights would sit in the optimiser with no gradient, only weight decay
    if encoder.arch.linear_skip:
        del encoder.skip_out
    return encoder.requires_grad_(True)  # a linear_skip's PCA path was frozen while the autoencoder trained


def scratch_encoder(arch: Architecture, seed: int) -> CAE:
    """:func:`encoder_of` a freshly built ``arch``: PyTorch's default initialisation under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return encoder_of(build(arch))


def head(features: int, classes: int) -> nn.Sequential:
    """The MLP head: batch-normalised code (the standardisation, learned with the rest), one hidden ReLU layer, dropout."""
    return nn.Sequential(nn.BatchNorm1d(features), nn.Linear(features, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN, classes))


class Classifier(nn.Module):
    """:func:`head` on an encoder's flattened code of uint8 images, or on given codes (``encoder`` None: frozen)."""

    def __init__(self, encoder: CAE | None, features: int, classes: int) -> None:
        super().__init__()
        self.encoder = encoder.to(memory_format=torch.channels_last) if encoder is not None else None
        self.head = head(features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder.encode(to_unit(x))
        return self.head(x.flatten(1))


def seeded_classifier(encoder: Callable[[], CAE | None], features: int, classes: int, seed: int) -> Classifier:
    """A :class:`Classifier` whose head (and encoder, if ``encoder`` builds one) is initialised under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Classifier(encoder(), features, classes)


@dataclass(frozen=True)
class Fit:
    val_accuracy: float
    test_accuracy: float
    epochs: int
    best_epoch: int
    seconds: float


@torch.inference_mode()
def accuracy(model: nn.Module, part: Examples) -> float:
    """The share of ``part`` that ``model`` (in eval mode) classifies right."""
    model.eval()
    x, y = torch.from_numpy(part.x), torch.from_numpy(part.y)
    right = sum(int((model(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]).sum()) for i in range(0, len(y), EVAL_BATCH))
    return right / len(y)


def fit_classifier(classifier: nn.Module, train: Examples, val: Examples, test: Examples, *, epochs: int, seed: int) -> Fit:
    """Train ``classifier`` by the one rule (module docstring), keep its best validation epoch's weights, score ``test``."""
    start = time.perf_counter()
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y).long()
    optimizer = make_optimizer(classifier, RULE)  # the training loop's AdamW: a weight that gets no gradient is skipped, decay included
    order = torch.Generator().manual_seed(seed)
    every = max(1, epochs // EVALUATIONS)
    n = len(y)
    # a last batch of one image would break batch norm's statistics: drop the incomplete one (the shuffle varies it)
    steps = range(0, n - BATCH + 1, BATCH) if n > BATCH else range(0, 1)
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
    with torch.random.fork_rng(devices=[]):  # dropout's masks, without touching the caller's generator
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            classifier.train()
            permutation = torch.randperm(n, generator=order)
            for first in steps:
                rows = permutation[first : first + BATCH]
                loss = F.cross_entropy(classifier(x[rows]), y[rows])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            if epoch % every == 0 or epoch == epochs:
                score = accuracy(classifier, val)
                if score > best[0]:  # ties keep the earlier epoch
                    best = (score, epoch, {k: v.detach().clone() for k, v in classifier.state_dict().items()})
    classifier.load_state_dict(best[2])
    return Fit(best[0], accuracy(classifier, test), epochs, best[1], time.perf_counter() - start)
