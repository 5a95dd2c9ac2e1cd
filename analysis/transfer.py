"""Does autoencoder pretraining pay? A trial's encoder as a classifier of its data's classes at a few label budgets.

    python -m analysis.transfer --study NAME [--trial N ...] [--labels 0.01 0.1 1.0] [--seeds 3] [--storage URL] [--out DIR]
    python -m analysis.transfer --study NAME --front [--labels ...] [--seeds ...]

How the field measures it (Coates, Lee & Ng 2011; the self-supervised literature since): the
pretrained encoder read by a classifier at several label budgets, against the same architecture
trained from scratch and against codes that cost no training. For each chosen trial (default: the
best) and each label fraction of the study's training split (a seeded, class-balanced subset:
``round(fraction · N / classes)`` images of each class; 1% of 48,000 is 480 images; 100% is the
whole split as it is), six methods, every one fitted on the same labelled images:

- ``linear``: the frozen encoder's code, a linear classifier (:func:`analysis.probe.linear_probe`:
  standardised, not whitened, logistic regression with its C chosen on validation; whitened from a
  few hundred labelled images, every direction of the noise weighs as much as the signal's);
- ``mlp``: the frozen code, a small MLP head (:data:`HIDDEN` ReLU units, dropout);
- ``finetune``: the pretrained encoder and that head, trained end to end;
- ``scratch``: the same encoder architecture from PyTorch's default initialisation (seeded), end to end;
- ``pca``: no encoder: PCA's code of the trial's latent size (fitted on every train image, as the
  autoencoder was, without labels), a linear classifier;
- ``pixels``: no encoder: the raw pixels, a linear classifier.

One rule for every network (the MLP head on frozen codes, fine-tuning and scratch): AdamW at
:data:`LR` with weight decay :data:`WEIGHT_DECAY`, batches of :data:`BATCH`, cross-entropy, no
augmentation, ``ceil(3 / √fraction)`` epochs (30 at 1%, 10 at 10%, 3 at 100%: a budget 100× smaller
gets 10× the epochs), the validation accuracy measured about :data:`EVALUATIONS` times, and the
weights of the best of those kept. Every choice (the probes' C, the networks' epoch) is made on the
same seeded :data:`VAL_IMAGES` validation images; the test split is scored once, at the end. A seed
draws both the labelled subset and the network's initialisation; at 100% the subset is the split
itself, so one seed runs there. The same command gives the same numbers.

The reading calls a gap real only beyond :data:`NOISE` standard errors: a method's mean accuracy has
the standard error ``√(s² / k + a(1 − a) / n)`` (``s`` the spread of its ``k`` seeds, the second term
the binomial error of ``n`` test images), and two methods' errors add in quadrature.

``--front`` asks the other question of every complete trial of the study: the frozen linear
probe's accuracy against latent size and against reconstruction PSNR, with Spearman's ρ (does a
better reconstruction give better features?).

Writes to ``studies/<study>/analysis/`` (or ``--out``): ``transfer.csv`` (one row per run: trial,
method, labels, seed, test accuracy, validation accuracy, epochs, chosen epoch, C, seconds),
``transfer.json``, ``transfer.png`` (accuracy against labels, one line per method) and
``transfer.md``; with ``--front``, ``transfer-front.*``. From Python, given a study ``latent``::

    from analysis import transfer
    result = transfer.compute("latent", fractions=(0.01, 1.0), seeds=3)
    result.summary()                                 # a DataFrame: mean and spread per trial, method and budget
    transfer.plot(result)
    transfer.render(result, Path("out"))
    front = transfer.compute_front("latent")
    front.correlations[(1.0, "test_psnr")].rho
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import Progress
from torch import nn

from analysis import probe
from analysis.cli import nonnegative_int, output_dir, print_written, progress_bars, run, study_parser
from analysis.dataset import classes_words, require_classes
from analysis.encoding import encode_images, pixels_of
from analysis.power_law import EXACT_UP_TO, RankCorrelation, small_rank_correlation, strength
from analysis.probe import Labelled, chance, linear_probe
from cae.builder import CAE, build
from cae.data import DataError, ImageSet
from cae.figures import DPI, new_figure, themed
from cae.pca import linear_code, pca_codes
from cae.spec import Architecture, ArchitectureError
from cae.tasks import TASKS, task_of_architecture
from cae.training import EVAL_BATCH, to_unit
from search.command_line import number_flag, positive_int
from search.runtime.storage import StorageError
from search.trials.record import read_trial
from search.trials.trial_model import LoadedTrial, find_trial, load_trial

LABELS = (0.01, 0.1, 1.0)
SEEDS = 3
# The networks' one rule (see the module's docstring): AdamW at a fixed rate, PyTorch's default decay.
LR = 1e-3
WEIGHT_DECAY = 1e-2
BATCH = 32  # small, so that 1% of the labels (190 to 480 images) still makes several steps an epoch
FULL_EPOCHS = 3  # at 100% of the labels; ceil(FULL_EPOCHS / √fraction) below, at most MAX_EPOCHS
MAX_EPOCHS = 100
EVALUATIONS = 10  # validation passes per run, about: every max(1, epochs // 10) epochs and the last
VAL_IMAGES = 2000  # choices are made on this many (seeded) validation images: the same for every method
HIDDEN = 256
DROPOUT = 0.5
NOISE = probe.NOISE  # a gap is real beyond this many standard errors
RECONSTRUCTION = TASKS["reconstruction"]

METHODS = {
    "linear": "frozen + linear",
    "mlp": "frozen + MLP",
    "finetune": "fine-tuned",
    "scratch": "scratch",
    "pca": "PCA + linear",
    "pixels": "pixels + linear",
}


@dataclass(frozen=True)
class Run:
    """One method fitted on one labelled subset and scored on the test split."""

    trial: int | None  # None for the pixels, which need no trial
    method: str
    fraction: float
    labels: int  # labelled train images used
    seed: int
    subset: str  # a fingerprint of the labelled images' indices: every method of a (fraction, seed) shares it
    test_accuracy: float
    val_accuracy: float
    epochs: int  # trained (0 for the linear probes)
    best_epoch: int  # whose weights were kept (0 for the linear probes)
    c: float | None  # the linear probe's inverse L2 strength (None for the networks)
    seconds: float  # fitting and scoring, on this machine (the frozen codes' encoding is the trial's encode_seconds)


@dataclass(frozen=True)
class TrialInfo:
    number: int
    name: str  # "study S, trial N"
    latent_size: int
    linear_skip: bool
    test_psnr: float | None  # its reconstruction's, as the study recorded it
    encoder_params: int
    encode_seconds: float  # the frozen code of train, validation and test images, once for linear and MLP


@dataclass(frozen=True)
class TransferResult:
    """Everything :func:`render` writes; :func:`compute` makes it."""

    study: str
    source: str  # the data's description
    train_images: int
    val_images: int  # used for every choice
    val_images_available: int
    test_images: int
    classes: int
    chance: float  # the most frequent test class's share
    fractions: tuple[float, ...]
    seeds: int
    trials: tuple[TrialInfo, ...]
    runs: tuple[Run, ...]

    def table(self) -> pd.DataFrame:
        """Every run as a row (``transfer.csv``); the pixels' trial is empty."""
        table = pd.DataFrame([dataclasses.asdict(r) for r in self.runs])
        return table.astype({"trial": "Int64"})

    def summary(self) -> pd.DataFrame:
        """Per trial, method and fraction: labels, seeds, mean and standard deviation of the test accuracy, seconds per run."""
        rows = []
        for (trial, method, fraction), group in self.table().groupby(["trial", "method", "fraction"], sort=False, dropna=False):
            accuracies = group["test_accuracy"].to_numpy()
            rows.append(
                {
                    "trial": trial,
                    "method": method,
                    "fraction": fraction,
                    "labels": int(group["labels"].iloc[0]),
                    "seeds": len(group),
                    "mean": float(accuracies.mean()),
                    "std": float(accuracies.std(ddof=1)) if len(group) > 1 else math.nan,
                    "seconds": float(group["seconds"].mean()),
                }
            )
        return pd.DataFrame(rows)


# ---------------------------------------------------------------- labelled subsets


def per_class(n: int, classes: int, fraction: float) -> int:
    """Images of each class in a balanced subset of ``fraction`` of ``n`` train images."""
    return round(fraction * n / classes)


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded class-balanced sample: :func:`per_class` images of every class; all at fraction 1.

    Raises :class:`~cae.data.DataError` when that is under one image per class or more than a class holds.
    """
    n, classes = len(labels), int(labels.max()) + 1
    if fraction >= 1:
        return torch.arange(n)
    k = per_class(n, classes, fraction)
    counts = torch.bincount(labels, minlength=classes)
    if k < 1:
        raise DataError(
            f"fractions={fraction:g}",
            f"{fraction:g} of the {n:,} train images is under one image per class of {classes}; "
            f"expected a fraction ≥ {classes / n:.2g} (one image of each class)",
        )
    if k > counts.min():
        raise DataError(
            f"fractions={fraction:g}",
            f"{k} images per class, but class {int(counts.argmin())} has {int(counts.min())} train images; "
            f"expected a smaller fraction, or 1 for the whole split",
        )
    generator = torch.Generator().manual_seed(seed)
    picked = [torch.nonzero(labels == c).flatten() for c in range(classes)]
    return torch.cat([idx[torch.randperm(len(idx), generator=generator)[:k]] for idx in picked]).sort().values


def fingerprint(indices: torch.Tensor) -> str:
    return hashlib.sha256(indices.numpy().astype(np.int64).tobytes()).hexdigest()[:12]


def epochs_for(fraction: float) -> int:
    """The networks' epochs at a label fraction: ``ceil(FULL_EPOCHS / √fraction)``, at most :data:`MAX_EPOCHS`."""
    return min(MAX_EPOCHS, math.ceil(FULL_EPOCHS / math.sqrt(fraction) - 1e-9))


# ---------------------------------------------------------------- networks


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


@dataclass(frozen=True)
class Fit:
    val_accuracy: float
    test_accuracy: float
    epochs: int
    best_epoch: int
    seconds: float


@torch.inference_mode()
def accuracy(model: nn.Module, part: Labelled) -> float:
    """The share of ``part`` that ``model`` (in eval mode) classifies right."""
    model.eval()
    x, y = torch.from_numpy(part.x), torch.from_numpy(part.y)
    right = sum(int((model(x[i : i + EVAL_BATCH]).argmax(1) == y[i : i + EVAL_BATCH]).sum()) for i in range(0, len(y), EVAL_BATCH))
    return right / len(y)


def fit_classifier(classifier: nn.Module, train: Labelled, val: Labelled, test: Labelled, *, epochs: int, seed: int) -> Fit:
    """Train ``classifier`` by the one rule (module docstring), keep its best validation epoch's weights, score ``test``."""
    start = time.perf_counter()
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y).long()
    parameters = [p for p in classifier.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LR, weight_decay=WEIGHT_DECAY)
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


def seeded_classifier(encoder: Callable[[], CAE | None], features: int, classes: int, seed: int) -> Classifier:
    """A :class:`Classifier` whose head (and encoder, if ``encoder`` builds one) is initialised under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Classifier(encoder(), features, classes)


# ---------------------------------------------------------------- compute


@dataclass(frozen=True)
class Parts:
    """What every trial's methods read: the train images, the validation rows for choices, the test images, the labelled subsets."""

    train: ImageSet
    val: ImageSet  # the seeded VAL_IMAGES of the study's validation split
    test: ImageSet
    subsets: dict[tuple[float, int], torch.Tensor]  # (fraction, seed) → indices of labelled train images
    classes: int

    def through(self, encoder: Callable[[torch.Tensor], torch.Tensor]) -> list[Labelled]:
        """``encoder``'s flat codes (no autograd) of train, validation and test images, with their labels."""
        return [Labelled(encode_images(encoder, s.images, RECONSTRUCTION), s.labels.numpy()) for s in (self.train, self.val, self.test)]

    def images(self) -> list[Labelled]:
        """The uint8 images themselves (no copy), for the networks that train their encoder."""
        return [Labelled(s.images.numpy(), s.labels.numpy()) for s in (self.train, self.val, self.test)]


def labelled_subsets(labels: torch.Tensor, fractions: Iterable[float], seeds: int) -> dict[tuple[float, int], torch.Tensor]:
    """Every (fraction, seed)'s balanced subset; one seed at fraction 1, where the subset is the split itself."""
    return {(f, s): balanced_subset(labels, f, s) for f in fractions for s in range(1 if f >= 1 else seeds)}


def check_fractions(fractions: Iterable[float], seeds: int) -> tuple[float, ...]:
    chosen = tuple(sorted(set(fractions)))
    if not chosen or not all(0 < f <= 1 for f in chosen):
        raise ValueError(f"fractions: expected numbers in (0, 1], got {list(fractions)}")
    if seeds < 1:
        raise ValueError(f"seeds: expected an integer ≥ 1, got {seeds}")
    return chosen


def checked_trial(study: str, storage: str | None, number: int | None) -> LoadedTrial:
    """:func:`load_trial`, after refusing (from its record, before any weights are read) an encoder that is not an autoencoder's."""
    _, frozen, _ = find_trial(study, storage, number)
    recorded = read_trial(frozen).architecture
    if recorded is not None:
        task = task_of_architecture(recorded)
        if task.name != RECONSTRUCTION.name:
            raise ArchitectureError(
                f"trial {frozen.number} of study {study} is a {task.name} network: its encoder learned colours from gray images, "
                "so it cannot answer whether an autoencoder's pretraining pays against classifiers from scratch and on pixels; "
                "expected a reconstruction trial (analysis.probe reads a colorizer's gray latent)"
            )
    return load_trial(study, storage, number)


class _Reporter:
    """One progress bar over every run; a line per run in logs (not a terminal) or none without a console."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.bar = progress, progress.add_task("runs", total=total, status="")

    def done(self, run: Run, name: str) -> None:
        status = f"{name} · {METHODS[run.method]} · {run.labels:,} labels · seed {run.seed}: {run.test_accuracy:.1%} in {run.seconds:.1f} s"
        self.progress.update(self.bar, advance=1, status=status)
        if not self.progress.console.is_terminal and not self.progress.disable:
            self.progress.console.print(f"  {status}", highlight=False)


def _linear_runs(
    trial: int | None, method: str, train: Labelled, val: Labelled, test: Labelled, parts: Parts, report: _Reporter, name: str
) -> list[Run]:
    runs = []
    for (fraction, seed), rows in parts.subsets.items():
        start = time.perf_counter()
        chosen = rows.numpy()
        fitted = linear_probe(Labelled(train.x[chosen], train.y[chosen]), val, test, seed=seed, whiten=False)
        run_ = Run(
            trial, method, fraction, len(rows), seed, fingerprint(rows), fitted.test_accuracy, fitted.val_accuracy, 0, 0, fitted.c, 0.0
        )
        runs.append(dataclasses.replace(run_, seconds=time.perf_counter() - start))
        report.done(runs[-1], name)
    return runs


def _network_runs(
    trial: int,
    method: str,
    make: Callable[[int], Classifier],
    train: Labelled,
    val: Labelled,
    test: Labelled,
    parts: Parts,
    report: _Reporter,
    name: str,
) -> list[Run]:
    runs = []
    for (fraction, seed), rows in parts.subsets.items():
        chosen = rows.numpy()
        fitted = fit_classifier(make(seed), Labelled(train.x[chosen], train.y[chosen]), val, test, epochs=epochs_for(fraction), seed=seed)
        runs.append(
            Run(
                trial,
                method,
                fraction,
                len(rows),
                seed,
                fingerprint(rows),
                fitted.test_accuracy,
                fitted.val_accuracy,
                fitted.epochs,
                fitted.best_epoch,
                None,
                fitted.seconds,
            )
        )
        report.done(runs[-1], name)
    return runs


def trial_runs(
    loaded: LoadedTrial, parts: Parts, report: _Reporter, methods: Iterable[str] = ("linear", "mlp", "finetune", "scratch", "pca")
) -> tuple[TrialInfo, list[Run]]:
    """``methods`` (any of :data:`METHODS` but ``pixels``, which needs no trial) on ``loaded``'s encoder, at every subset of ``parts``.

    The trial's model is only read: the frozen methods see its codes, fine-tuning trains a copy.
    """
    model, number, name = loaded.model.eval(), loaded.trial.number, loaded.name
    latent, classes = model.arch.latent_size, parts.classes
    start = time.perf_counter()
    frozen = parts.through(model.encode)
    encode_seconds = time.perf_counter() - start
    images = parts.images()
    runs: list[Run] = []
    for method in methods:
        if method == "linear":
            runs += _linear_runs(number, method, *frozen, parts, report, name)
        elif method == "mlp":
            make = lambda seed: seeded_classifier(lambda: None, latent, classes, seed)  # noqa: E731
            runs += _network_runs(number, method, make, *frozen, parts, report, name)
        elif method == "finetune":
            make = lambda seed: seeded_classifier(lambda: encoder_of(model), latent, classes, seed)  # noqa: E731
            runs += _network_runs(number, method, make, *images, parts, report, name)
        elif method == "scratch":
            make = lambda seed: seeded_classifier(lambda: scratch_encoder(model.arch, seed), latent, classes, seed)  # noqa: E731
            runs += _network_runs(number, method, make, *images, parts, report, name)
        elif method == "pca":
            code = linear_code(parts.train.images)  # cached by the split: the search fitted it for its baseline already
            d = min(latent, code.n_values)
            pcs = [Labelled(pca_codes(code, s.images, d).numpy(), s.labels.numpy()) for s in (parts.train, parts.val, parts.test)]
            runs += _linear_runs(number, method, *pcs, parts, report, name)
        else:
            raise ValueError(f"method: expected one of {', '.join(m for m in METHODS if m != 'pixels')}, got {method!r}")
    info = TrialInfo(
        number,
        name,
        latent,
        model.arch.linear_skip,
        read_trial(loaded.trial).test_psnr,
        sum(p.numel() for p in encoder_of(model).parameters()),
        encode_seconds,
    )
    return info, runs


def pixel_runs(parts: Parts, report: _Reporter) -> list[Run]:
    """The raw pixels + linear baseline at every subset: it needs no trial (its rows' trial is None)."""
    return _linear_runs(None, "pixels", *parts.through(pixels_of), parts, report, "pixels")


def load_parts(loaded: LoadedTrial, fractions: tuple[float, ...], seeds: int) -> tuple[Parts, str, int]:
    """The study's splits as :class:`Parts` (every subset drawn: a bad fraction, or images without classes, is refused
    before any training), their source with the classes read, and the validation split's size."""
    data = loaded.data()
    description = data.describe()
    require_classes(description, "a classifier")
    rows = probe.train_subset(len(data.val), VAL_IMAGES)
    val = ImageSet(data.val.images[rows], data.val.labels[rows])
    subsets = labelled_subsets(data.train.labels, fractions, seeds)
    source = f"{data.source} ({classes_words(description)})"
    return Parts(data.train, val, data.test, subsets, int(data.train.labels.max()) + 1), source, len(data.val)


def compute(
    study_name: str,
    *,
    storage: str | None = None,
    trials: Iterable[int] | None = None,
    fractions: Iterable[float] = LABELS,
    seeds: int = SEEDS,
    console: Console | None = None,
) -> TransferResult:
    """Every method at every label fraction for each of ``trials`` (default: the study's best)::

        result = compute("latent", fractions=(0.01, 1.0), seeds=3)
        result.summary()

    Args:
        fractions: of the study's training split, each in (0, 1].
        seeds: labelled subsets (and initialisations) per fraction below 1.
        console: where a progress bar (a line per run when it is not a terminal) goes; without one nothing is printed.
    """
    chosen = check_fractions(fractions, seeds)
    quiet = console is None
    console = console or Console(quiet=True)
    loaded = [checked_trial(study_name, storage, t) for t in dict.fromkeys(trials or [None])]
    console.print(f"transfer of {', '.join(t.name for t in loaded)}: loading the study's data …", highlight=False)
    parts, source, val_available = load_parts(loaded[0], chosen, seeds)
    total = len(parts.subsets) * (5 * len(loaded) + 1)
    described = ", ".join(f"{f:g} → {len(parts.subsets[(f, 0)]):,}" for f in chosen)
    console.print(f"labelled train images per fraction: {described} of {len(parts.train):,}; {total} runs", highlight=False)
    infos, runs = [], []
    with progress_bars(console, quiet=quiet) as progress:
        report = _Reporter(progress, total)
        for trial in loaded:
            info, trial_run = trial_runs(trial, parts, report)
            infos.append(info)
            runs += trial_run
        runs += pixel_runs(parts, report)
    return TransferResult(
        study=study_name,
        source=source,
        train_images=len(parts.train),
        val_images=len(parts.val),
        val_images_available=val_available,
        test_images=len(parts.test),
        classes=parts.classes,
        chance=chance(parts.test.labels.numpy()),
        fractions=chosen,
        seeds=seeds,
        trials=tuple(infos),
        runs=tuple(runs),
    )


# ---------------------------------------------------------------- statistics and words


@dataclass(frozen=True)
class Estimate:
    """A method's mean test accuracy at one budget, its seeds' spread and its standard error (module docstring)."""

    mean: float
    std: float  # over seeds (nan for one)
    seeds: int
    se: float

    @classmethod
    def of(cls, accuracies: Iterable[float], test_images: int) -> Estimate:
        a = np.asarray(list(accuracies), dtype=float)
        mean, std = float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan
        spread = std**2 / len(a) if len(a) > 1 else 0.0
        return cls(mean, std, len(a), math.sqrt(spread + mean * (1 - mean) / test_images))


def estimate(result: TransferResult, trial: int, method: str, fraction: float) -> Estimate:
    """``method``'s :class:`Estimate` for ``trial`` at ``fraction`` (the pixels' whatever the trial)."""
    wanted = None if method == "pixels" else trial
    accuracies = [r.test_accuracy for r in result.runs if r.method == method and r.fraction == fraction and r.trial == wanted]
    return Estimate.of(accuracies, result.test_images)


def _percent(e: Estimate) -> str:
    return f"{100 * e.mean:.1f}%" + (f" ± {100 * e.std:.1f}" if e.seeds > 1 else "")


def gap(a: Estimate, b: Estimate) -> tuple[float, float, bool]:
    """``a`` − ``b`` in points, its standard error in points, and whether it is beyond :data:`NOISE` of them."""
    points, se = 100 * (a.mean - b.mean), 100 * math.hypot(a.se, b.se)
    return points, se, abs(points) > NOISE * se


def _compared(a: Estimate, b: Estimate) -> str:
    """``a`` against ``b`` in words: ``5.1 ± 1.5 points above, beyond the noise of 3.0`` or ``level within noise (…)``."""
    points, se, real = gap(a, b)
    if real:
        return f"{abs(points):.1f} ± {se:.1f} points {'above' if points > 0 else 'below'}, beyond the noise of {NOISE * se:.1f}"
    return f"level within noise ({points:+.1f} ± {se:.1f} points; the noise is {NOISE * se:.1f})"


def budget(result: TransferResult, fraction: float) -> str:
    """``1% (190 labels)``."""
    labels = next(r.labels for r in result.runs if r.fraction == fraction)
    return f"{100 * fraction:g}% ({labels:,} labels)"


def pays(result: TransferResult, trial: int) -> dict[str, list[str]]:
    """The budgets where fine-tuning beats scratch beyond noise, loses beyond noise, or is level within it."""
    verdicts: dict[str, list[str]] = {"pays": [], "costs": [], "level": []}
    for fraction in result.fractions:
        points, _, real = gap(estimate(result, trial, "finetune", fraction), estimate(result, trial, "scratch", fraction))
        verdicts["level" if not real else "pays" if points > 0 else "costs"].append(f"{100 * fraction:g}%")
    return verdicts


def _still_improving(result: TransferResult, trial: int, method: str, fraction: float) -> bool:
    runs = [r for r in result.runs if r.trial == trial and r.method == method and r.fraction == fraction]
    return bool(runs) and all(r.best_epoch == r.epochs for r in runs)


def _listed(items: list[str]) -> str:
    """``1%``, ``1% and 10%``, ``1%, 10% and 100%``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def reading(result: TransferResult, info: TrialInfo) -> str:
    """A paragraph on one trial's numbers, every claim computed from them."""
    lines = []
    for fraction in result.fractions:
        e = {m: estimate(result, info.number, m, fraction) for m in METHODS}
        lines.append(
            f"At {budget(result, fraction)}, fine-tuning the pretrained encoder reaches {_percent(e['finetune'])} against "
            f"{_percent(e['scratch'])} from scratch: "
            + _compared(e["finetune"], e["scratch"])
            + f". Frozen, its code gives {_percent(e['linear'])} through a linear classifier and {_percent(e['mlp'])} through the MLP "
            f"head; PCA's code of the same size {_percent(e['pca'])}, the pixels {_percent(e['pixels'])}. The frozen code against "
            "PCA's: " + _compared(e["linear"], e["pca"]) + "."
        )
        unfinished = [METHODS[m] for m in ("mlp", "finetune", "scratch") if _still_improving(result, info.number, m, fraction)]
        if unfinished:
            lines.append(
                f"({', '.join(unfinished)} kept its last epoch on every seed: still improving when the rule stopped it, "
                "so more epochs may move it.)"
            )
    verdicts = pays(result, info.number)
    parts = []
    if verdicts["pays"]:
        parts.append(f"pretraining pays (fine-tuning beats scratch beyond noise) at {_listed(verdicts['pays'])} of the labels")
    if verdicts["costs"]:
        parts.append(f"it costs (scratch is ahead beyond noise) at {_listed(verdicts['costs'])}")
    if verdicts["level"]:
        parts.append(f"fine-tuning and scratch are level within noise at {_listed(verdicts['level'])}")
    lines.append(f"In short, for {info.name}: " + "; ".join(parts) + ".")
    return " ".join(lines)


def _cells(result: TransferResult, info: TrialInfo, value: Callable[[list[Run]], str]) -> pd.DataFrame:
    rows = []
    for method, label in METHODS.items():
        wanted = None if method == "pixels" else info.number
        row = {"method": label}
        for fraction in result.fractions:
            runs = [r for r in result.runs if r.method == method and r.fraction == fraction and r.trial == wanted]
            row[budget(result, fraction)] = value(runs)
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_table(result: TransferResult, info: TrialInfo) -> pd.DataFrame:
    """Test accuracy (%) per method and budget: mean ± standard deviation over seeds."""

    def cell(runs: list[Run]) -> str:
        e = Estimate.of([r.test_accuracy for r in runs], result.test_images)
        return f"{100 * e.mean:.1f}" + (f" ± {100 * e.std:.1f}" if e.seeds > 1 else "")

    return _cells(result, info, cell)


def seconds_table(result: TransferResult, info: TrialInfo) -> pd.DataFrame:
    """Wall seconds per run, per method and budget (mean over seeds; the frozen codes' encoding not included)."""
    return _cells(result, info, lambda runs: f"{np.mean([r.seconds for r in runs]):.1f}")


def epochs_table(result: TransferResult, info: TrialInfo) -> pd.DataFrame:
    """The networks' epochs and the epochs chosen on validation, per budget (``chosen/trained``); the probes' C."""

    def cell(runs: list[Run]) -> str:
        if runs[0].c is not None:
            return "C " + ", ".join(f"{r.c:g}" for r in runs)
        return ", ".join(f"{r.best_epoch}" for r in runs) + f" of {runs[0].epochs}"

    return _cells(result, info, cell)


def plot(result: TransferResult) -> Figure:
    """Test accuracy against labelled images (log axis), one line per method, error bars the seeds' spread (``transfer.png``)."""
    with themed("whitegrid"):
        fig = new_figure(figsize=(6.2 * len(result.trials), 4.6))
        axes = fig.subplots(1, len(result.trials), squeeze=False)[0]
        for ax, info in zip(axes, result.trials, strict=True):
            for method, label in METHODS.items():
                points = [(f, estimate(result, info.number, method, f)) for f in result.fractions]
                labels = [next(r.labels for r in result.runs if r.fraction == f) for f, _ in points]
                means = [100 * e.mean for _, e in points]
                spreads = [100 * e.std if e.seeds > 1 else 0.0 for _, e in points]
                dashed = method in ("pca", "pixels")
                ax.errorbar(labels, means, yerr=spreads, marker="o", capsize=3, ls="--" if dashed else "-", label=label)
            ax.axhline(100 * result.chance, color="gray", ls=":", lw=1, label=f"chance ({100 * result.chance:.0f}%)")
            ax.set_xscale("log")
            counts = [next(r.labels for r in result.runs if r.fraction == f) for f in result.fractions]
            ax.set_xticks(counts, [f"{n:,}\n({100 * f:g}%)" for n, f in zip(counts, result.fractions, strict=True)])
            ax.minorticks_off()
            ax.set(xlabel="labelled train images", ylabel="test accuracy %", title=f"{info.name} (latent {info.latent_size:,})")
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig


def summary(result: TransferResult) -> dict[str, object]:
    """``transfer.json``: the settings, the trials, every run and the summary."""
    return {
        "study": result.study,
        "data": result.source,
        "train_images": result.train_images,
        "val_images": result.val_images,
        "val_images_available": result.val_images_available,
        "test_images": result.test_images,
        "classes": result.classes,
        "chance": result.chance,
        "fractions": list(result.fractions),
        "seeds": result.seeds,
        "rule": {
            "optimizer": "adamw",
            "lr": LR,
            "weight_decay": WEIGHT_DECAY,
            "batch": BATCH,
            "epochs": {f"{f:g}": epochs_for(f) for f in result.fractions},
            "evaluations": EVALUATIONS,
            "hidden": HIDDEN,
            "dropout": DROPOUT,
            "linear_cs": list(probe.CS),
            "noise_standard_errors": NOISE,
        },
        "trials": [dataclasses.asdict(t) for t in result.trials],
        "runs": [dataclasses.asdict(r) for r in result.runs],
        "summary": result.summary().astype({"trial": "object"}).replace({np.nan: None}).to_dict("records"),
    }


def setup(result: TransferResult) -> str:
    """The report's paragraph on data and method."""
    epochs = ", ".join(f"{epochs_for(f)} at {100 * f:g}%" for f in result.fractions)
    return (
        f"Data: {result.source}; the study's split: {result.train_images:,} train images (every label fraction is of these), "
        f"{result.val_images:,} of its {result.val_images_available:,} validation images for every choice, {result.test_images:,} "
        f"test images scored once. Labelled subsets are class-balanced and seeded (seed k draws the k-th; {result.seeds} per fraction "
        f"below 100%, where the split itself is the subset and one run is made). Linear: standardised (not whitened) code, logistic "
        f"regression with C in {', '.join(f'{c:g}' for c in probe.CS)} chosen on validation (analysis.probe). Networks (the MLP "
        f"head on the frozen code, fine-tuning, scratch): a batch-normalised code, {HIDDEN} ReLU units, dropout {DROPOUT:g}; AdamW, "
        f"learning rate {LR:g}, weight decay {WEIGHT_DECAY:g}, batches of {BATCH}, no augmentation; {epochs} epochs; the weights of "
        f"the epoch with the best validation accuracy (measured about {EVALUATIONS} times a run) kept. PCA: fitted on every train "
        f"image without labels, its code of the trial's latent size. A gap is called real beyond {NOISE:g} standard errors "
        f"(each method's: √(s²/k + a(1 − a)/n), its k seeds' spread s and the binomial error on the n test images). Chance is "
        f"{result.chance:.1%}. Note that the validation labels used for choices outnumber the training labels at small budgets, "
        f"for every method alike."
    )


def report(result: TransferResult, files: dict[str, Path]) -> str:
    lines = [f"# Does autoencoder pretraining pay? Study {result.study}", "", setup(result), ""]
    for info in result.trials:
        skip = ", a linear_skip network (its code is PCA's plus a learned correction)" if info.linear_skip else ""
        psnr = f", reconstruction {info.test_psnr:.2f} dB" if info.test_psnr is not None else ""
        lines += [
            f"## {info.name}: latent {info.latent_size:,}{skip}{psnr}",
            "",
            "Test accuracy (%), mean ± standard deviation over seeds:",
            "",
            accuracy_table(result, info).to_markdown(index=False),
            "",
            f"Wall seconds per run on this machine (encoding the frozen codes once: {info.encode_seconds:.1f} s; "
            f"{info.encoder_params:,} encoder weights):",
            "",
            seconds_table(result, info).to_markdown(index=False),
            "",
            "Chosen on validation: the networks' epoch (per seed, of those trained), the linear probes' C:",
            "",
            epochs_table(result, info).to_markdown(index=False),
            "",
            reading(result, info),
            "",
        ]
    lines += [f"![test accuracy against labels]({files['png'].name})", ""]
    return "\n".join(lines)


def render(result: TransferResult, out: Path) -> dict[str, Path]:
    """Write ``transfer.csv``, ``transfer.json``, ``transfer.png`` and ``transfer.md`` into ``out``."""
    files = {name: out / f"transfer.{name}" for name in ("csv", "json", "png", "md")}
    result.table().to_csv(files["csv"], index=False)
    files["json"].write_text(json.dumps(summary(result), indent=2) + "\n")
    plot(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- the front: reconstruction against features


FRONT_AXES = {"latent_size": "latent size", "test_psnr": "reconstruction PSNR"}


@dataclass(frozen=True)
class FrontResult:
    """:func:`compute_front`'s numbers: the frozen linear probe of every complete trial, and its rank correlations."""

    study: str
    source: str
    train_images: int
    val_images: int
    test_images: int
    chance: float
    fractions: tuple[float, ...]
    seeds: int
    trials: tuple[TrialInfo, ...]
    runs: tuple[Run, ...]  # method "linear" only
    skipped: tuple[str, ...]  # complete trials left out, and why
    correlations: dict[tuple[float, str], RankCorrelation]  # (fraction, "latent_size" or "test_psnr") → Spearman's ρ

    def table(self) -> pd.DataFrame:
        """One row per trial and fraction: latent size, PSNR, labels, mean and spread of the probe's test accuracy."""
        rows = []
        for info in self.trials:
            for fraction in self.fractions:
                runs = [r for r in self.runs if r.trial == info.number and r.fraction == fraction]
                e = Estimate.of([r.test_accuracy for r in runs], self.test_images)
                rows.append(
                    {
                        "trial": info.number,
                        "latent_size": info.latent_size,
                        "test_psnr": info.test_psnr,
                        "fraction": fraction,
                        "labels": runs[0].labels,
                        "seeds": e.seeds,
                        "test_accuracy": e.mean,
                        "std": e.std,
                        "seconds": sum(r.seconds for r in runs),
                    }
                )
        return pd.DataFrame(rows)


def compute_front(
    study_name: str,
    *,
    storage: str | None = None,
    fractions: Iterable[float] = LABELS,
    seeds: int = SEEDS,
    console: Console | None = None,
) -> FrontResult:
    """The frozen linear probe of every complete reconstruction trial with weights, and Spearman's ρ of its accuracy
    against latent size and against the trial's test PSNR, at each fraction::

        front = compute_front("latent")
        front.correlations[(1.0, "test_psnr")].rho, front.table()

    Raises :class:`StorageError` when fewer than 3 trials can be probed (a rank correlation needs 3).
    """
    chosen = check_fractions(fractions, seeds)
    quiet = console is None
    console = console or Console(quiet=True)
    study, _, _ = find_trial(study_name, storage, None)
    loaded, skipped = [], []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        try:
            loaded.append(checked_trial(study_name, storage, trial.number))
        except (StorageError, ArchitectureError) as error:
            skipped.append(str(error))
    if len(loaded) < 3:
        raise StorageError(
            f"study {study_name} has {len(loaded)} complete reconstruction trials with weights; the front's rank correlation "
            "needs 3 or more"
        )
    console.print(f"frozen linear probe of {len(loaded)} trials of study {study_name}: loading the study's data …", highlight=False)
    parts, source, _ = load_parts(loaded[0], chosen, seeds)
    infos, runs = [], []
    with progress_bars(console, quiet=quiet) as progress:
        report = _Reporter(progress, len(parts.subsets) * len(loaded))
        for trial in loaded:
            info, trial_run = trial_runs(trial, parts, report, methods=("linear",))
            infos.append(info)
            runs += trial_run
    result = FrontResult(
        study_name,
        source,
        len(parts.train),
        len(parts.val),
        len(parts.test),
        chance(parts.test.labels.numpy()),
        chosen,
        seeds,
        tuple(infos),
        tuple(runs),
        tuple(skipped),
        {},
    )
    table = result.table()
    for fraction in chosen:
        at = table[table["fraction"] == fraction]
        for axis in FRONT_AXES:
            known = at.dropna(subset=[axis])
            if len(known) >= 3:
                result.correlations[(fraction, axis)] = small_rank_correlation(known[axis].tolist(), known["test_accuracy"].tolist())
    return result


def _rho(c: RankCorrelation) -> str:
    return f"ρ = {c.rho:+.2f} (p = {c.p:.2g}, n = {c.n})"


def plot_front(result: FrontResult) -> Figure:
    """The frozen linear probe's test accuracy against latent size and against PSNR, a series per fraction (``transfer-front.png``)."""
    table = result.table()
    with themed("whitegrid"):
        fig = new_figure(figsize=(12, 4.6))
        axes = fig.subplots(1, 2)
        for ax, (axis, label) in zip(axes, FRONT_AXES.items(), strict=True):
            for fraction in result.fractions:
                at = table[table["fraction"] == fraction].dropna(subset=[axis]).sort_values(axis)
                correlation = result.correlations.get((fraction, axis))
                name = f"{100 * fraction:g}% ({int(at['labels'].iloc[0]):,} labels)" + (f": {_rho(correlation)}" if correlation else "")
                ax.errorbar(at[axis], 100 * at["test_accuracy"], yerr=100 * at["std"].fillna(0), marker="o", capsize=3, label=name)
            if axis == "latent_size":
                ax.set_xscale("log", base=2)
                sizes = sorted(set(table["latent_size"]))
                ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
                ax.minorticks_off()
            unit = " (dB)" if axis == "test_psnr" else ""
            ax.set(
                xlabel=f"{label}{unit}",
                ylabel="frozen linear probe: test accuracy %",
                title=f"study {result.study}: accuracy against {label}",
            )
            ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def front_reading(result: FrontResult) -> str:
    """The answer in words: does the probe's accuracy follow latent size, and reconstruction quality?"""
    lines = []
    for fraction in result.fractions:
        said = []
        for axis, label in FRONT_AXES.items():
            c = result.correlations.get((fraction, axis))
            if c is None:
                said.append(f"against {label} too few trials to rank")
                continue
            direction = "rises" if c.rho > 0 else "falls"
            said.append(
                f"against {label} {_rho(c)}: {strength(c)} monotone relation"
                + (f" (accuracy {direction} with it)" if strength(c) != "no clear" else "")
            )
        lines.append(f"At {100 * fraction:g}% of the labels, the frozen linear probe's accuracy: " + "; ".join(said) + ".")
    top = max(result.fractions)
    c = result.correlations.get((top, "test_psnr"))
    if c is not None:
        if strength(c) == "no clear":
            answer = "these trials cannot say whether a better reconstruction gives better linear features"
        elif c.rho > 0:
            answer = "a better reconstruction goes with better linear features"
        else:
            answer = "a better reconstruction goes with worse linear features"
        lines.append(f"So, at {100 * top:g}% of the labels and over these {c.n} trials, {answer}.")
    return " ".join(lines)


def front_report(result: FrontResult, files: dict[str, Path]) -> str:
    table = result.table().assign(test_accuracy=lambda t: 100 * t["test_accuracy"], std=lambda t: 100 * t["std"])
    table = table.round({"test_psnr": 2, "test_accuracy": 1, "std": 1, "seconds": 1}).rename(columns={"test_accuracy": "test accuracy %"})
    lines = [
        f"# Reconstruction against features: study {result.study}",
        "",
        f"Data: {result.source}; {result.train_images:,} train images (fractions of these, class-balanced, seeded), "
        f"{result.val_images:,} validation images for the probe's C, {result.test_images:,} test images. The frozen linear probe (the "
        f"standardised code, logistic regression, C on validation) of every complete trial's code; PSNR is the trial's own "
        f"test reconstruction's. Spearman's ρ over trials of the mean accuracy "
        f"(scipy.stats.spearmanr; its p-value exact over every ordering up to {EXACT_UP_TO} trials). Chance is {result.chance:.1%}.",
        "",
        table.to_markdown(index=False),
        "",
        front_reading(result),
        "",
        *([f"Left out: {'; '.join(result.skipped)}.", ""] if result.skipped else []),
        f"![accuracy against latent size and PSNR]({files['png'].name})",
        "",
    ]
    return "\n".join(lines)


def render_front(result: FrontResult, out: Path) -> dict[str, Path]:
    """Write ``transfer-front.csv`` (one row per run, with the trial's latent size and PSNR), ``.json``, ``.png`` and ``.md``."""
    files = {name: out / f"transfer-front.{name}" for name in ("csv", "json", "png", "md")}
    infos = {t.number: t for t in result.trials}
    runs = pd.DataFrame([dataclasses.asdict(r) for r in result.runs])
    runs.insert(1, "latent_size", [infos[t].latent_size for t in runs["trial"]])
    runs.insert(2, "test_psnr", [infos[t].test_psnr for t in runs["trial"]])
    runs.to_csv(files["csv"], index=False)
    correlations = {f"{f:g} {axis}": dataclasses.asdict(c) for (f, axis), c in result.correlations.items()}
    document = {
        "study": result.study,
        "data": result.source,
        "train_images": result.train_images,
        "val_images": result.val_images,
        "test_images": result.test_images,
        "chance": result.chance,
        "fractions": list(result.fractions),
        "seeds": result.seeds,
        "trials": [dataclasses.asdict(t) for t in result.trials],
        "skipped": list(result.skipped),
        "correlations": correlations,
        "runs": [dataclasses.asdict(r) for r in result.runs],
    }
    files["json"].write_text(json.dumps(document, indent=2) + "\n")
    plot_front(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(front_report(result, files))
    return files


# ---------------------------------------------------------------- command

fraction_flag = number_flag(float, "a fraction of the labels in (0, 1]", maximum=1)


def command(args: argparse.Namespace, console: Console) -> int:
    if args.front:
        front = compute_front(args.study, storage=args.storage, fractions=args.labels, seeds=args.seeds, console=console)
        files = render_front(front, output_dir(args))
        console.print(front.table().round(4).to_string(index=False), highlight=False)
        console.print(front_reading(front), highlight=False)
    else:
        result = compute(args.study, storage=args.storage, trials=args.trial, fractions=args.labels, seeds=args.seeds, console=console)
        files = render(result, output_dir(args))
        for info in result.trials:
            console.print(f"{info.name}, test accuracy (%):", highlight=False)
            console.print(accuracy_table(result, info).to_string(index=False), highlight=False)
            console.print(reading(result, info), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser(
        "python -m analysis.transfer",
        "A trial's encoder as a classifier of the data's classes at several label budgets: frozen (linear, MLP), fine-tuned, against "
        "scratch, PCA and pixels; or, with --front, the frozen probe of every trial against latent size and PSNR.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trial", type=nonnegative_int, nargs="+", metavar="N", help="the trials to look at (default: the best)")
    which.add_argument("--front", action="store_true", help="the frozen linear probe of every complete trial, with Spearman's ρ")
    parser.add_argument(
        "--labels",
        type=fraction_flag,
        nargs="+",
        default=list(LABELS),
        metavar="F",
        help="fractions of the train split (default 0.01 0.1 1)",
    )
    parser.add_argument("--seeds", type=positive_int, default=SEEDS, metavar="K", help="labelled subsets per fraction below 1 (default 3)")
    return run(command, parser, argv, fractions="--labels", trials="--trial")


if __name__ == "__main__":
    raise SystemExit(main())
