"""The runs: every method fitted on every labelled subset of one trial's encoder (or of the pixels) and scored on test."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.progress import Progress

from analysis.encoding import pixels_of
from analysis.probe import Labelled, linear_probe
from analysis.transfer.data import Parts, fingerprint
from cae.classifier import Classifier, encoder_of, fit_classifier, scratch_encoder, seeded_classifier
from cae.pca import linear_code, pca_codes
from search.trials.record import read_trial
from search.trials.trial_model import LoadedTrial

FULL_EPOCHS = 3  # at 100% of the labels; ceil(FULL_EPOCHS / √fraction) below, at most MAX_EPOCHS
MAX_EPOCHS = 100
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


def epochs_for(fraction: float) -> int:
    """The networks' epochs at a label fraction: ``ceil(FULL_EPOCHS / √fraction)``, at most :data:`MAX_EPOCHS`."""
    return min(MAX_EPOCHS, math.ceil(FULL_EPOCHS / math.sqrt(fraction) - 1e-9))


class Reporter:
    """One progress bar over every run; a line per run in logs (not a terminal) or none without a console."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.bar = progress, progress.add_task("runs", total=total, status="")

    def done(self, run: Run, name: str) -> None:
        status = f"{name} · {METHODS[run.method]} · {run.labels:,} labels · seed {run.seed}: {run.test_accuracy:.1%} in {run.seconds:.1f} s"
        self.progress.update(self.bar, advance=1, status=status)
        if not self.progress.console.is_terminal and not self.progress.disable:
            self.progress.console.print(f"  {status}", highlight=False)


def _linear_runs(
    trial: int | None, method: str, train: Labelled, val: Labelled, test: Labelled, parts: Parts, report: Reporter, name: str
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
    report: Reporter,
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
    loaded: LoadedTrial, parts: Parts, report: Reporter, methods: Iterable[str] = ("linear", "mlp", "finetune", "scratch", "pca")
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


def pixel_runs(parts: Parts, report: Reporter) -> list[Run]:
    """The raw pixels + linear baseline at every subset: it needs no trial (its rows' trial is None)."""
    return _linear_runs(None, "pixels", *parts.through(pixels_of), parts, report, "pixels")
