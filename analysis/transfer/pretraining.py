"""Does pretraining pay? Every method at every label fraction for the chosen trials, as one :class:`TransferResult`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from rich.console import Console

from analysis.cli import progress_bars
from analysis.probe import chance
from analysis.transfer.data import LABELS, SEEDS, check_fractions, checked_trial, load_parts
from analysis.transfer.runs import Reporter, Run, TrialInfo, pixel_runs, trial_runs


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
        report = Reporter(progress, total)
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
