"""The report's tables (accuracy, seconds, chosen epochs and C per method and budget) and ``transfer.json``'s document."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis import probe
from analysis.transfer.estimates import NOISE, Estimate, budget
from analysis.transfer.pretraining import TransferResult
from analysis.transfer.runs import METHODS, Run, TrialInfo, epochs_for
from cae.classifier import BATCH, DROPOUT, EVALUATIONS, HIDDEN, LR, WEIGHT_DECAY


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
