"""What a running study shows: a rich progress display, one line per trial, and a table of the best."""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cae.training import EpochReport

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
_STATE_STYLE = {TrialState.COMPLETE: "green", TrialState.PRUNED: "yellow", TrialState.FAIL: "red"}


def quiet_optuna() -> None:
    # Our display prints one line per trial; Optuna's own log would repeat each, with tracebacks.
    optuna.logging.set_verbosity(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def finished(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: completed or pruned (failed and refused do not)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def state_counts(study: optuna.Study) -> str:
    """``3 complete · 1 pruned · 0 fail · 0 running`` (waiting trials only when there are some)."""
    counts = Counter(t.state for t in study.get_trials(deepcopy=False))
    shown = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING]
    shown += [TrialState.WAITING] if counts[TrialState.WAITING] else []
    return " · ".join(f"{counts[s]} {s.name.lower()}" for s in shown)


def _best_value(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:  # no completed trial yet
        return None


def _fmt(value: Any, spec: str = ".5f") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


class Display:
    """Progress of a study (finished trials out of the target) and of the trial in flight (epochs)."""

    def __init__(self, console: Console, study: optuna.Study, target: int) -> None:
        self.console = console
        self.study = study
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        best = _best_value(study)
        self.study_task = self.progress.add_task(
            f"study {study.study_name}", total=target, completed=finished(study), status=f"best val MSE {_fmt(best)}"
        )
        self.trial_task = self.progress.add_task("trial", total=1, visible=False, status="")
        self._epoch = 0

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def trial_started(self, number: int, epochs: int, latent: int, params: int) -> None:
        self._epoch = 0
        self.progress.reset(
            self.trial_task, total=epochs, visible=True, description=f"trial {number}", status=f"latent {latent:,} · {params:,} params"
        )

    def batch(self, step: int, n_batches: int) -> None:
        self.progress.update(self.trial_task, completed=self._epoch + step / n_batches)

    def epoch(self, report: EpochReport) -> None:
        self._epoch = report.epoch
        status = (
            f"epoch {report.epoch}/{report.epochs} · train MSE {report.train_mse:.5f}"
            f" · val MSE {report.val_mse:.5f} · {report.seconds:.1f} s"
        )
        self.progress.update(self.trial_task, completed=report.epoch, status=status)
        if not self.console.is_terminal:  # no live bar in a log file: one line per epoch instead
            description = self.progress.tasks[self.trial_task].description
            self.console.print(f"  {description} {status}", highlight=False, soft_wrap=True)

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback: one line for the trial, and the study's progress."""
        self.progress.console.print(trial_line(trial), highlight=False)
        best = _best_value(study)
        self.progress.update(self.study_task, completed=finished(study), status=f"best val MSE {_fmt(best)}")
        self.progress.update(self.trial_task, visible=False)


def trial_line(trial: FrozenTrial) -> str:
    """``trial  12 complete val MSE … · test MSE … · PSNR … dB · latent … · … params · 42.0 s`` (rich markup)."""
    attrs = trial.user_attrs
    style = _STATE_STYLE.get(trial.state, "white")
    line = f"[{style}]trial {trial.number:>3} {trial.state.name.lower():<8}[/]"
    if trial.state == TrialState.COMPLETE:
        line += (
            f" val MSE {trial.value:.5f} · test MSE {attrs['test_mse']:.5f} · PSNR {attrs['test_psnr']:.2f} dB"
            f" · latent {attrs['latent_size']:,} · {attrs['n_params']:,} params · {sum(attrs['epoch_seconds']):.1f} s"
        )
    elif trial.state == TrialState.FAIL and "reason" not in attrs:
        # only a stale trial fails without a reason: its worker stopped beating (killed, or its machine lost)
        line += " its worker stopped beating (killed or lost), so it is retried once"
    else:
        line += f" {attrs.get('reason', '')}"
    if "failed_trial" in trial.system_attrs:
        line += f" (retry of trial {trial.system_attrs['failed_trial']})"
    return line


def best_table(study: optuna.Study, top: int = 10) -> Table:
    """The best completed trials, with the counts of every state in the caption."""
    trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.value)[:top]
    table = Table(title=f"best trials of study {study.study_name}", title_justify="left")
    for name in ("trial", "val MSE", "test MSE", "PSNR dB", "latent", "params", "epochs", "parameters"):
        if name == "parameters":
            table.add_column(name, overflow="fold", ratio=1)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for t in trials:
        a = t.user_attrs
        params = " ".join(f"{k}={_fmt(v, '.3g') if isinstance(v, float) else v}" for k, v in t.params.items())
        table.add_row(
            str(t.number),
            _fmt(t.value),
            _fmt(a.get("test_mse")),
            _fmt(a.get("test_psnr"), ".2f"),
            f"{a.get('latent_size', 0):,}",
            f"{a.get('n_params', 0):,}",
            str(len(a.get("val_mse", []))),
            params or "(fixed space)",
        )
    table.caption = f"{state_counts(study)} · errors on CIFAR-10 pixels in [0, 1]"
    table.caption_justify = "left"
    return table
