"""A study's trials as one tidy pandas table: the starting point of every analysis::

    table = trials_table(study)          # study: an optuna.Study, e.g. from search.optimize
    table[["number", "state", "latent_size", "test_psnr", "pca_psnr", "gain_db"]]

Columns: ``number``, ``state`` (complete, pruned, fail, running, waiting), ``latent_size``,
``n_params``, ``val_mse`` (the best validation MSE of the epochs the trial ran: its objective when
complete, the best before it was stopped when pruned), ``test_mse`` and ``test_psnr`` (complete
trials only), ``pca_mse`` (PCA's test MSE at the trial's latent size) and ``gain_db`` (complete
trials: test PSNR over PCA's), ``pca_psnr`` (PCA's PSNR at that size), ``epochs`` (run), ``seconds`` (wall
time), ``train_seconds`` (time spent training, where recorded), ``parent_trial`` (a refit's: the trial it
trains again), then one column per searched parameter under its own
name (``depth``, ``kernel``, ``lr``, ``channels.0``…).
"""

from __future__ import annotations

import math

import optuna
import pandas as pd

from cae.metrics import psnr
from search.display import state_counts
from search.storage import StorageError

BASE_COLUMNS = [
    *("number", "state", "latent_size", "n_params", "val_mse", "test_mse", "test_psnr"),
    *("pca_mse", "pca_psnr", "gain_db", "pca_reason", "epochs", "seconds", "train_seconds", "parent_trial"),
]


def _best(curve: object) -> float:
    return min(curve) if isinstance(curve, list) and curve else math.nan


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """Every trial of ``study`` (Optuna's ``trials_dataframe``, renamed and completed)."""
    raw = study.trials_dataframe(attrs=("number", "state", "params", "user_attrs", "duration"), multi_index=False)
    if raw.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)

    def attr(name: str) -> pd.Series:
        column = f"user_attrs_{name}"
        return raw[column] if column in raw else pd.Series(math.nan, index=raw.index)

    table = pd.DataFrame(
        {
            "number": raw["number"],
            "state": raw["state"].str.lower(),
            "latent_size": attr("latent_size"),
            "n_params": attr("n_params"),
            "val_mse": attr("val_mse").map(_best),
            "test_mse": attr("test_mse"),
            "test_psnr": attr("test_psnr"),
            "pca_mse": attr("pca_mse"),
            "pca_psnr": psnr(attr("pca_mse").astype(float)),
            "gain_db": attr("gain_db"),
            "pca_reason": attr("pca_reason"),  # why a trial has no PCA baseline (over-complete, a colorizer)
            "epochs": attr("val_mse").map(lambda c: len(c) if isinstance(c, list) else 0),
            "seconds": raw["duration"].dt.total_seconds() if "duration" in raw else math.nan,
            "train_seconds": attr("train_seconds"),
            "parent_trial": attr("lineage").map(lambda lineage: lineage["trial"] if isinstance(lineage, dict) else math.nan),
        }
    )
    params = raw[[c for c in raw if c.startswith("params_")]].rename(columns=lambda c: c.removeprefix("params_"))
    return pd.concat([table, params], axis=1)


def finished_table(study: optuna.Study, study_name: str) -> pd.DataFrame:
    """:func:`trials_table` of a study that has completed trials, else :class:`StorageError`."""
    table = trials_table(study)
    if not (table["state"] == "complete").any():
        raise StorageError(f"--study {study_name}: no completed trial to analyse yet ({state_counts(study)})")
    return table
