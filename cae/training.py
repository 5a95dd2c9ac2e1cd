"""The training loop: seeded, in-memory, errors always on the [0, 1] pixel scale.

Images stay one uint8 tensor; each batch is gathered and converted to float on the fly, so there
is no per-image Python work. Models and batches use ``channels_last``, which CPU convolutions run
faster than NCHW. The forward pass runs under bfloat16 autocast only where the hardware computes in
bfloat16 natively (``precision: auto``: a GPU that supports it, a CPU with AVX512-BF16 or AMX), since
emulated bfloat16 is slower than float32; weights, optimizer, loss and every reported error stay
float32. On a GPU the three image sets are moved there once per run, and during a fit cuDNN picks
its fastest convolutions for the fixed batch shape. What each choice gained, measured:
``docs/results.md`` (the code's choices) and ``benchmarks/README.md``.

With ``ema`` set, the weights validated, kept and tested are an average of the trained ones (:mod:`cae.averaging`),
and every epoch also validates the trained weights themselves (``raw_val_mse``): what the average bought, measured in
the same run.

A per-epoch callback sees every epoch's train and validation MSE; it may raise any exception to
stop training (the search raises Optuna's ``TrialPruned`` through it), which propagates unchanged::

    result = fit(build(arch), splits, TrainConfig(epochs=10), on_epoch=print)
    result.test_mse, result.test_psnr
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from cae.averaging import WeightAverage
from cae.builder import CAE, build
from cae.data import Splits
from cae.metrics import psnr
from cae.schedule import LearningRate
from cae.settings import LOSSES, OPTIMIZERS, PRECISIONS, TrainConfig
from cae.spec import Architecture, ArchitectureError
from cae.tasks import Task, task_of

# Evaluation batches: on CPU small enough that the activations stay in cache (faster than 1,000 images;
# docs/results.md) and hold a quarter of the memory (a 64-channel 32×32 layer of 1,000 images is 262 MB;
# at 96×96, nine times that); a GPU wants large ones.
EVAL_BATCH = 256
EVAL_BATCH_CUDA = 4096


class NonFiniteLoss(ArithmeticError):
    """Training diverged: a NaN or infinite loss, validation error or test error."""


class StopTraining(Exception):
    """Raised by ``fit``'s ``on_epoch`` to end training after the epoch it was told of, as if that were the last: the
    best epoch's weights are kept and tested, and the result says why (``TrainResult.stopped``, the exception's words).
    A wall-clock deadline is one reason (:mod:`search.trials.objective`); a pruned trial is another matter (its
    exception goes through)."""


class ShortenTraining(Exception):
    """Raised by ``fit``'s ``on_epoch`` to end training after ``epochs`` epochs in all, fewer than planned, with the
    learning rate annealed from where it is to the end of those epochs (:meth:`cae.schedule.LearningRate.anneal`).
    Stopping at a one-cycle schedule's peak keeps weights trained at a high rate; a shortened plan ends annealed, as a
    planned one does. ``epochs`` at or before the epoch told of stops there, as :class:`StopTraining` does; the result
    says why (``TrainResult.stopped``, the exception's words)."""

    def __init__(self, epochs: int, why: str) -> None:
        super().__init__(why)
        self.epochs = epochs


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    epochs: int  # the epochs planned in all: train.epochs, or fewer once shortened (ShortenTraining)
    train_mse: float
    val_mse: float
    seconds: float  # wall time of the epoch's training pass
    raw_val_mse: float | None = None  # with train.ema: the trained weights' validation MSE (val_mse is the average's)


@dataclass
class TrainResult:
    """Per-epoch curves, and test errors of the weights kept: those of the best validation epoch.

    The best epoch is the one of lowest validation MSE, or the last one for a task trained by its own
    loss (``keep_last``: a chroma classifier, whose validation MSE rises as its colours grow bolder;
    choosing by it would keep its most timid epoch, undoing what the loss was chosen for).
    """

    train_mse: list[float] = field(default_factory=list)
    val_mse: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    raw_val_mse: list[float] = field(default_factory=list)  # with train.ema: the trained weights', beside the average's
    test_mse: float = math.nan
    test_psnr: float = math.nan
    precision: str = "fp32"  # what the forward pass ran in: "fp32", or "bf16" (``precision: auto`` resolved)
    stopped: str = ""  # why training ended before its epochs, where it did (StopTraining's or ShortenTraining's words)
    keep_last: bool = False

    @property
    def best_val_mse(self) -> float:
        """The validation MSE of the weights kept."""
        return self.val_mse[self.best_epoch - 1]

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the weights kept: the lowest validation MSE (the first, on ties), or the last with ``keep_last``."""
        return len(self.val_mse) if self.keep_last else self.val_mse.index(min(self.val_mse)) + 1


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device: cuda was asked for but no CUDA device is available")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX); emulated bfloat16 is slower than float32."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.split()))
    except OSError:
        pass
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype of the forward pass's autocast on ``device``, or ``None`` for float32 throughout."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    native = torch.cuda.is_bf16_supported() if device.type == "cuda" else device.type == "cpu" and cpu_has_native_bf16()
    return torch.bfloat16 if native else None


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (0–255) to float32 in [0, 1], channels-last."""
    return images.to(torch.float32).mul_(1 / 255).contiguous(memory_format=torch.channels_last)


def _forward(model: nn.Module, task: Task, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(model input, model output, the output as an image like ``x``) for a batch ``x`` in [0, 1] (RGB for a colorizer)."""
    inputs = task.inputs(x).contiguous(memory_format=torch.channels_last)  # a no-op for reconstruction
    out = model(inputs)
    return inputs, out, task.to_rgb(inputs, out)


@torch.inference_mode()
def rgb_batches(
    model: nn.Module, images: torch.Tensor, *, batch: int | None = None, task: Task | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images in [0, 1], the model's images of them clamped to [0, 1]) for uint8 ``images``, ``batch`` at a time.

    The model's images have the input's channels (gray or RGB), whatever channels the model predicts.

    One pass serves any number of measures of the same outputs (MSE here, SSIM in analysis.evaluate).
    ``task`` overrides how outputs become images (default: the model's own, :func:`cae.tasks.task_of`),
    e.g. a chroma classifier decoded at another temperature.
    """
    model.eval()
    task = task or task_of(model)
    device = next(model.parameters()).device
    batch = batch or (EVAL_BATCH_CUDA if device.type == "cuda" else EVAL_BATCH)
    for start in range(0, len(images), batch):
        x = to_unit(images[start : start + batch].to(device))
        yield x, _forward(model, task, x)[2].clamp_(0, 1)


def reconstruct(model: nn.Module, images: torch.Tensor, *, task: Task | None = None) -> torch.Tensor:
    """The model's images for uint8 ``images`` (reconstructions, or colorizations of their gray)
    as floats clamped to [0, 1], shaped as ``images``; ``task`` as in :func:`rgb_batches`."""
    return torch.cat([out for _, out in rgb_batches(model, images, task=task)])


def evaluate(model: nn.Module, images: torch.Tensor) -> float:
    """MSE between uint8 ``images`` and the model's images of them, on the [0, 1] scale, over every value (C·H·W each).

    Outputs are clamped to [0, 1] first: the error is that of the image a user would see. For a
    colorizer it is the error of the colorized photograph, whatever channels the model predicts.
    """
    sums = [F.mse_loss(out, x, reduction="sum").double() for x, out in rgb_batches(model, images)]
    return torch.stack(sums).sum().item() / images.numel()  # one device sync, not one per batch


def check_loss(loss: str, architecture: Architecture) -> None:
    """Refuse (:class:`~cae.spec.ArchitectureError`) a loss that ``architecture``'s outputs cannot be trained by.

    Binary cross-entropy reads its inputs as probabilities, so it needs outputs in [0, 1]: a sigmoid output.
    The sampler asks before a trial trains, :func:`fit` before it trains a model it is given.
    """
    if loss == "bce" and architecture.output != "sigmoid":
        raise ArchitectureError("train.loss: bce needs outputs in [0, 1], so model.output must be sigmoid")


@contextmanager
def cudnn_benchmark(on: bool) -> Iterator[None]:
    """cuDNN's benchmark mode (it times its convolution algorithms once per input shape and keeps the fastest) while
    the block runs, if ``on``; the process's setting is as it was afterwards, as a library call leaves global state."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before or on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise ValueError(f"train.optimizer: expected one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer!r}")


def fit(
    model: nn.Module,
    data: Splits,
    cfg: TrainConfig,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data.train`` for ``cfg.epochs`` epochs, then measure it on ``data.test``.

    The model ends with the weights of its best validation epoch (with ``cfg.ema``, the average's at that epoch;
    :class:`TrainResult`), so that a trial's objective (best validation MSE), its test error and its saved weights
    all describe the same model.
    What it learns (reconstruction, or colours from gray) follows from its architecture's
    channels (:func:`cae.tasks.task_of`); every error is on the image it produces (RGB for a colorizer).

    Args:
        on_epoch: called after every epoch with its report; an exception raised there stops training,
            :class:`StopTraining` ends it as if that epoch were the last (the best weights kept and tested), and
            :class:`ShortenTraining` plans fewer epochs in all, the learning rate annealed over those left.
        on_batch: called after every batch with (batches done, batches per epoch), for progress bars.

    Raises:
        NonFiniteLoss: the loss, a validation error or the test error became NaN or infinite ("non-finite loss
            at epoch 3"), before the epoch is reported to ``on_epoch``.
    """
    if cfg.loss not in LOSSES:
        raise ValueError(f"train.loss: expected one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    if getattr(model, "arch", None) is not None:
        check_loss(cfg.loss, model.arch)
    task = task_of(model)
    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    model.to(device, memory_format=torch.channels_last)
    data = data.to(device)  # once: no per-batch copies to a GPU (the same tensors on CPU)
    # one batch shape all epoch: cuDNN may pick its fastest convolutions for it, for this fit only
    with cudnn_benchmark(device.type == "cuda"):
        forward = torch.compile(model) if cfg.compile else model  # the same parameters; evaluation stays eager
        optimizer = make_optimizer(model, cfg)
        average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
        kept = model if average is None else average.model  # the weights validated, kept and tested
        criterion = {"mse": F.mse_loss, "l1": F.l1_loss, "bce": F.binary_cross_entropy}[cfg.loss]
        # The training error is on the image (RGB for a colorizer), like validation; for plain MSE
        # reconstruction that is the loss itself, and no second error is computed.
        loss_is_rgb_mse = cfg.loss == "mse" and task.reconstructs
        shuffle = torch.Generator().manual_seed(cfg.seed)
        # its own stream, so that turning flips on leaves the order of the images as it was
        mirror = torch.Generator().manual_seed(cfg.seed + 1)
        train = data.train.images
        n, batch = len(train), cfg.batch_size
        n_batches = math.ceil(n / batch)
        rate = LearningRate(optimizer, cfg.schedule, epochs=cfg.epochs, steps_per_epoch=n_batches, warmup=cfg.warmup)
        result = TrainResult(precision="fp32" if amp is None else "bf16", keep_last=task.loss is not None)
        best_state: dict[str, torch.Tensor] = {}
        last = cfg.epochs  # the epochs planned, fewer once shortened
        for epoch in range(1, cfg.epochs + 1):
            if epoch > last:
                break
            model.train()
            start = time.perf_counter()
            squared = torch.zeros((), dtype=torch.float64, device=device)
            order = torch.randperm(n, generator=shuffle).to(device)
            for step, first in enumerate(range(0, n, batch), start=1):
                x = to_unit(train[order[first : first + batch]])
                if cfg.flip:
                    flipped = (torch.rand(len(x), generator=mirror) < 0.5).to(device)
                    x = torch.where(flipped[:, None, None, None], x.flip(-1), x)
                inputs = task.inputs(x).contiguous(memory_format=torch.channels_last)  # a no-op for reconstruction
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    out = forward(inputs)
                out = out.float()  # loss and errors in float32 (a no-op without autocast)
                loss = task.loss(out, x) if task.loss is not None else criterion(out, task.targets(x))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if average is not None:
                    average.update(model)
                rate.after_batch()
                with torch.no_grad():
                    rgb = None if loss_is_rgb_mse else task.to_rgb(inputs, out)
                    squared += (loss.detach() * x.numel() if rgb is None else F.mse_loss(rgb, x, reduction="sum")).double()
                if on_batch is not None:
                    on_batch(step, n_batches)
            train_mse = squared.item() / train.numel()
            seconds = time.perf_counter() - start
            if not math.isfinite(train_mse):
                raise NonFiniteLoss(f"non-finite loss at epoch {epoch}")
            val_mse = evaluate(kept, data.val.images)
            raw_val_mse = None if average is None else evaluate(model, data.val.images)
            if not math.isfinite(val_mse):
                # A finite training loss is measured before each step: the last step can still throw the weights to
                # infinity. Raised before the epoch is reported, so that no NaN reaches the curves or a pruner.
                raise NonFiniteLoss(f"non-finite validation error at epoch {epoch} (train MSE {train_mse:.5g}): the weights diverged")
            rate.after_epoch(val_mse)
            result.train_mse.append(train_mse)
            result.val_mse.append(val_mse)
            result.epoch_seconds.append(seconds)
            if raw_val_mse is not None:
                result.raw_val_mse.append(raw_val_mse)
            if result.best_epoch == epoch:
                best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
            if on_epoch is not None:
                try:
                    on_epoch(EpochReport(epoch, last, train_mse, val_mse, seconds, raw_val_mse))
                except StopTraining as stop:
                    result.stopped = str(stop) or f"stopped after epoch {epoch} of {cfg.epochs}"
                    break
                except ShortenTraining as short:
                    result.stopped = str(short) or f"shortened to {short.epochs} of {cfg.epochs} epochs"
                    if short.epochs <= epoch:
                        break
                    if short.epochs < last:
                        last = short.epochs
                        rate.anneal(until=last * n_batches)
        model.load_state_dict(best_state)
        result.test_mse = evaluate(model, data.test.images)
        if not math.isfinite(result.test_mse):
            raise NonFiniteLoss(f"non-finite test error of the weights kept (epoch {result.best_epoch}, val MSE {result.best_val_mse:.5g})")
        result.test_psnr = psnr(result.test_mse)
        return result


def train(
    arch: Architecture,
    data: Splits,
    cfg: TrainConfig,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    init: Callable[[CAE], None] | None = None,
) -> tuple[CAE, TrainResult]:
    """Build ``arch`` with weights seeded by ``cfg.seed`` and :func:`fit` it: one reproducible run.

    ``init`` may set weights before training (``cae.pca.start_from_linear_code`` for a ``linear_skip`` model).
    """
    # Seeded in a fork of the global generator: reproducible, and the caller's random state is left as it was
    # (a notebook's own draws do not change because a model was trained in between).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build(arch)
        if init is not None:
            init(model)
        return model, fit(model, data, cfg, on_epoch=on_epoch, on_batch=on_batch)
