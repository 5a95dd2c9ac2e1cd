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
from collections.abc import Iterable

import optuna
import pandas as pd

from cae.metrics import psnr
from search.display import state_counts
from search.runtime.storage import StorageError
from search.trials.record import read_trial

BASE_COLUMNS = [
    *("number", "state", "latent_size", "n_params", "val_mse", "test_mse", "test_psnr"),
    *("pca_mse", "pca_psnr", "gain_db", "pca_reason", "epochs", "seconds", "train_seconds", "parent_trial"),
]


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """Every trial of ``study``: Optuna's ``trials_dataframe`` for the number, state, duration and parameters, and
    what each trial recorded (:func:`search.trials.record.read_trial`) for the rest; NaN where it recorded nothing."""
    raw = study.trials_dataframe(attrs=("number", "state", "params", "duration"), multi_index=False)
    if raw.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    by_number = {t.number: read_trial(t) for t in study.get_trials(deepcopy=False)}
    records = [by_number[number] for number in raw["number"]]

    def column(values: Iterable[object]) -> pd.Series:
        # NaN for a value not recorded, as pandas fills a column that some trials lack
        return pd.Series([math.nan if v is None else v for v in values], index=raw.index)

    pca_mse = column(r.pca_mse for r in records)
    table = pd.DataFrame(
        {
            "number": raw["number"],
            "state": raw["state"].str.lower(),
            "latent_size": column(r.latent_size for r in records),
            "n_params": column(r.n_params for r in records),
            "val_mse": column(r.lowest_val_mse for r in records),
            "test_mse": column(r.test_mse for r in records),
            "test_psnr": column(r.test_psnr for r in records),
            "pca_mse": pca_mse,
            "pca_psnr": psnr(pca_mse.astype(float)),
            "gain_db": column(r.gain_db for r in records),
            "pca_reason": column(r.pca_reason for r in records),  # why a trial has no PCA baseline (over-complete, a colorizer)
            "epochs": column(r.epochs for r in records),
            "seconds": raw["duration"].dt.total_seconds() if "duration" in raw else math.nan,
            "train_seconds": column(r.train_seconds for r in records),
            "parent_trial": column(r.parent_trial for r in records),
        }
    )
    params = raw[[c for c in raw if c.startswith("params_")]].rename(columns=lambda c: c.removeprefix("params_"))
    return pd.concat([table, params], axis=1)


def finished_table(study: optuna.Study, study_name: str) -> pd.DataFrame:
    """:func:`trials_table` of a study that has completed trials, else :class:`StorageError`."""
    table = trials_table(study)
    if not (table["state"] == "complete").any():
        raise StorageError(f"study_name={study_name!r}: no completed trial to analyse yet ({state_counts(study)})")
    return table
