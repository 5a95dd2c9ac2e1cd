"""``python -m search best``: the best trial of a study, its architecture, parameters and errors."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
from optuna.artifacts import get_all_artifact_meta
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from cae.summary import summary_table
from search.display import best_table, state_counts
from search.runtime.storage import StorageError, default_storage, load_study, recorded_artifact_dir
from search.trials.artifact_names import readable_path
from search.trials.front import REFERENCE_MSE, compute_hours, study_hypervolume, study_reference
from search.trials.objectives import best_val_mse, is_multi_objective
from search.trials.record import read_trial


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The completed trial with the lowest validation MSE (in a multi-objective study too), or ``None``."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(complete, key=best_val_mse, default=None)


def most_colourful(study: optuna.Study) -> FrozenTrial | None:
    """The completed colorizer whose validation images come nearest the truth's colourfulness (the lower error
    on ties), or ``None`` (no colorizers). Beyond the truth's is no better: over-saturated is as wrong as faded."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    colorizers = [(t, ratio) for t in complete if (ratio := read_trial(t).val_colourfulness_ratio) is not None]
    if not colorizers:
        return None
    return min(colorizers, key=lambda pair: (abs(1 - pair[1]), best_val_mse(pair[0])))[0]


def load_best(study_name: str, storage: str | None = None) -> tuple[optuna.Study, FrozenTrial, RDBStorage]:
    """A study, its best completed trial and its storage; :class:`StorageError` when there is none."""
    study, rdb = load_study(study_name, storage or default_storage(study_name))
    best = best_trial(study)
    if best is None:
        raise StorageError(f"study_name={study_name!r}: no completed trial yet ({state_counts(study)})")
    return study, best, rdb


def compute_line(study: optuna.Study) -> str:
    """The study's training compute and, where it trades error against latent size, its front's hypervolume."""
    line = f"compute: {compute_hours(study):.2f} training hours (the finished trials' train_seconds, pruned and failed ones too)"
    if "latent size" in (study.metric_names or []):
        line += (
            f" · front hypervolume {study_hypervolume(study):.2f} dB × octaves (log2 latent size and validation MSE in dB, "
            f"from {study_reference(study):,} values at {-10 * math.log10(REFERENCE_MSE):.0f} dB: search.trials.front)"
        )
    return line


def _number(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``, ``nan`` where the trial recorded none (as the table showed a missing gain)."""
    return format(math.nan if value is None else value, spec)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder where it lies below it (shorter, and what a person types), else whole."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def show_best(study_name: str, storage: str | None = None, console: Console | None = None) -> int:
    console = console or Console()
    study, trial, rdb = load_best(study_name, storage)
    if is_multi_objective(study):
        console.print(best_table(study))  # the trade-off is the answer: every trial no other beats on all objectives
        console.print(f"the front's lowest error is trial {trial.number}; its details:", highlight=False)
    console.print(compute_line(study), highlight=False)
    colourful = most_colourful(study)
    best = read_trial(trial)
    if colourful is not None:
        a = read_trial(colourful)
        console.print(
            f"best by PSNR: trial {trial.number}, {_number(best.test_psnr, '.2f')} dB, "
            f"{_number(best.colourfulness_ratio, '.0%')} of the truth's colourfulness · most colourful: trial "
            f"{colourful.number}, {_number(a.test_psnr, '.2f')} dB, {_number(a.colourfulness_ratio, '.0%')} "
            "(test images; the nearest the truth's colour)",
            highlight=False,
        )
    if best.architecture is not None:
        console.print(summary_table(best.architecture, title=f"study {study_name}: best trial {trial.number}"))
    table = Table(show_header=False, title="parameters and errors", title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")  # a long path folds at the terminal's edge rather than ending in "…"
    for key, value in trial.params.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    if not trial.params:
        table.add_row("parameters", "(fixed space)")
    table.add_row("epochs", str(best.epochs), end_section=True)
    table.add_row("best val MSE", f"{best.kept_val_mse:.6f}")
    table.add_row("test MSE", _number(best.test_mse, ".6f"))
    table.add_row("test PSNR", f"{_number(best.test_psnr, '.2f')} dB")
    if best.pca_mse is not None:
        pca = f"{best.pca_mse:.6f} ({_number(best.pca_psnr, '.2f')} dB): gain {_number(best.gain_db, '+.2f')} dB"
        table.add_row("PCA at this latent size", pca)
    elif best.pca_reason is not None:
        table.add_row("PCA at this latent size", best.pca_reason)
    table.add_row("latent size", _number(best.latent_size, ","))
    table.add_row("parameters", _number(best.n_params, ","))
    folder = recorded_artifact_dir(study, storage or default_storage(study_name))  # wherever the trials wrote them
    metas = get_all_artifact_meta(trial, storage=rdb)
    for meta in metas:
        table.add_row(meta.filename, _shown(readable_path(folder, study.study_name, trial.number, meta)))
    if metas:  # what the dashboard serves them from, by id
        table.add_row("stored by Optuna in", _shown(folder))
    console.print(table)
    return 0
