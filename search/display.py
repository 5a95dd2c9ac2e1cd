"""What a running study shows: a rich progress display, one line per trial, and a table of the best."""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cae.spec import Architecture
from search.objectives import best_val_mse, is_multi_objective, pareto_trials
from search.record import TrialRecord, read_trial

if TYPE_CHECKING:
    from cae.training import EpochReport  # a type only: the display is imported before torch

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
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min((best_val_mse(t) for t in complete), default=None)


def _study_status(study: optuna.Study) -> str:
    status = f"best val MSE {_fmt(_best_value(study))}"
    if is_multi_objective(study) and finished(study):
        status += f" · Pareto front of {len(study.best_trials)}"
    return status


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
        self.study_task = self.progress.add_task(
            f"study {study.study_name}", total=target, completed=finished(study), status=_study_status(study)
        )
        self.trial_task = self.progress.add_task("trial", total=1, visible=False, status="")
        self._epoch = 0

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def trial_started(self, number: int, epochs: int, arch: Architecture) -> None:
        self._epoch = 0
        latent, values = arch.latent_size, arch.in_channels * arch.image_size**2
        # a colorizer cannot copy its way to colour (its input is gray), so only reconstructions are warned about
        if latent >= values and arch.in_channels == arch.out_channels:
            self.console.print(
                f"[yellow]warning:[/] trial {number} has an over-complete latent: {latent:,} values for a {values:,}-value image; "
                "it can learn to copy its input, and no error it reaches says what a code of that size is worth "
                "(bound it with model.max_latent)",
                soft_wrap=True,
                highlight=False,
            )
        self.progress.reset(
            self.trial_task,
            total=epochs,
            visible=True,
            description=f"trial {number}",
            status=f"latent {latent:,} · {arch.n_params:,} params",
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
        retries_of = {t.system_attrs.get("failed_trial") for t in study.get_trials(deepcopy=False)}
        retried = trial.state == TrialState.FAIL and trial.number in retries_of
        self.progress.console.print(trial_line(trial, retried=retried), highlight=False)
        self.progress.update(self.study_task, completed=finished(study), status=_study_status(study))
        self.progress.update(self.trial_task, visible=False)


def trial_line(trial: FrozenTrial, *, retried: bool = False) -> str:
    """``trial  12 complete val MSE … · test MSE … · PSNR … dB · latent … · … params · 42.0 s`` (rich markup);
    ``retried``: a later trial of the study retries this one."""
    r = read_trial(trial)
    style = _STATE_STYLE.get(trial.state, "white")
    line = f"[{style}]trial {trial.number:>3} {trial.state.name.lower():<8}[/]"
    if trial.state == TrialState.COMPLETE:
        line += (
            f" val MSE {r.kept_val_mse:.5f} · test MSE {_fmt(r.test_mse)} · PSNR {_fmt(r.test_psnr, '.2f')} dB"
            f"{gain_text(r)} · latent {_fmt(r.latent_size, ',')} · {_fmt(r.n_params, ',')} params · {sum(r.epoch_seconds or ()):.1f} s"
        )
    elif trial.state == TrialState.FAIL and r.reason is None and retried:
        # Optuna's own heartbeat check fails a stale trial without a reason, and queues its retry
        line += " its worker stopped beating (killed or lost), so it is retried once"
    elif trial.state == TrialState.FAIL and r.reason is None:
        line += " with no reason recorded (see the worker's log)"
    else:
        line += f" {r.reason or ''}"
    if "failed_trial" in trial.system_attrs:
        line += f" (retry of trial {trial.system_attrs['failed_trial']})"
    return line


def gain_text(record: TrialRecord) -> str:
    """`` (+1.23 dB over PCA)`` for a trial that recorded its gain, `` · colour 84%`` for a colorizer, else ``""``."""
    gain, colour = record.gain_db, record.colourfulness_ratio
    if colour is not None:
        return f" · colour {colour:.0%} of the truth's"
    return "" if gain is None else f" ({gain:+.2f} dB {'over' if gain >= 0 else 'under'} PCA)"


def best_table(study: optuna.Study, top: int = 10) -> Table:
    """The best completed trials (the Pareto front, in a study of several objectives), with the counts of every state in the caption."""
    if is_multi_objective(study):
        trials = pareto_trials(study)
        title = f"Pareto front of study {study.study_name} (objectives: {', '.join(study.metric_names or [])})"
    else:
        trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=best_val_mse)[:top]
        title = f"best trials of study {study.study_name}"
    table = Table(title=title, title_justify="left")
    # colorizers have no PCA baseline; what they are judged by beside the error is how much colour they keep
    records = [read_trial(t) for t in trials]
    colour = any(r.colourfulness_ratio is not None for r in records)
    names = ("trial", "val MSE", "test MSE", "PSNR dB", *(("colour",) if colour else ("PCA dB", "gain dB")), "latent", "params", "epochs")
    for name in (*names, "parameters"):
        if name == "parameters":
            table.add_column(name, overflow="fold", ratio=1)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for t, r in zip(trials, records, strict=True):
        params = " ".join(f"{k}={_fmt(v, '.3g') if isinstance(v, float) else v}" for k, v in t.params.items())
        table.add_row(
            str(t.number),
            _fmt(r.kept_val_mse),
            _fmt(r.test_mse),
            _fmt(r.test_psnr, ".2f"),
            *((_fmt(r.colourfulness_ratio, ".0%"),) if colour else (_fmt(r.pca_psnr, ".2f"), _fmt(r.gain_db, "+.2f"))),
            f"{r.latent_size or 0:,}",
            f"{r.n_params or 0:,}",
            str(r.epochs),
            params or "(fixed space)",
        )
    table.caption = f"{state_counts(study)} · errors on pixels in [0, 1] · " + (
        "colour: test images' colourfulness (Hasler–Süsstrunk) as a share of the truth's"
        if colour
        else "PCA dB: PCA fitted on the same training split, at the same latent size, on the same test split · gain: test PSNR − PCA's"
    )
    table.caption_justify = "left"
    return table
