"""What a running study shows: a rich progress display, one line per trial, and a table of the best."""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from cae.spec import Architecture
from search.estimate import Estimate, estimate, from_batches
from search.trials.objectives import best_val_mse, is_multi_objective, pareto_trials
from search.trials.record import TrialRecord, read_trial

if TYPE_CHECKING:
    from cae.training import EpochReport  # a type only: the display is imported before torch

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A first epoch longer than this has its cost said from its first batches rather than after it ends
MEASURE_SECONDS = 20.0
# The narrowest parameters column beside the numbers; narrower, they go on lines of their own below the table
PARAMETERS_WIDTH = 40
_STATE_STYLE = {TrialState.COMPLETE: "green", TrialState.PRUNED: "yellow", TrialState.FAIL: "red"}


class quiet_optuna(contextlib.AbstractContextManager):  # named as a function, like warnings.catch_warnings: called, or entered
    """Optuna's log quieted to errors and its experimental warnings hidden, from the call on: the display prints one
    line per trial, and Optuna's own log would repeat each, with tracebacks.

    Used as ``with quiet_optuna():`` (a library call, a command's ``main`` run in-process), the verbosity and the
    warning filters are put back as they were on leaving: a library call leaves its caller's settings alone. Called
    alone (a process's entry point: a spawned worker, a benchmark), they stay so for the rest of the process.
    """

    def __init__(self) -> None:
        self._verbosity = optuna.logging.get_verbosity()
        self._filters = warnings.catch_warnings()
        self._filters.__enter__()  # the filters as they were, put back by __exit__
        optuna.logging.set_verbosity(logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    def __exit__(self, *exc: object) -> None:
        optuna.logging.set_verbosity(self._verbosity)
        self._filters.__exit__(None, None, None)


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


class TimeLeftColumn(TimeRemainingColumn):
    """``≈ 0:41:05 left``: rich's estimate for a trial (its batches come often), the display's own for the study,
    whose trials finish too seldom for rich's 30-second speed window (the task's ``ends`` field, a ``get_time`` instant)."""

    def render(self, task: Task) -> Text:
        ends = task.fields.get("ends")
        left = task.time_remaining if ends is None else ends - task.get_time()
        if left is None or left < 0 or task.finished:  # overdue: no figure rather than a clock stuck at zero
            return Text("")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"≈ {hours:d}:{minutes:02d}:{seconds:02d} left", style="progress.remaining")


class Display:
    """Progress of a study (finished trials out of the target) and of the trial in flight (epochs), with the time
    left of each, and once, after the run's first timed epoch (or its first :data:`MEASURE_SECONDS`), what a
    trial and the study will cost (:mod:`search.estimate`)."""

    def __init__(self, console: Console, study: optuna.Study, target: int) -> None:
        self.console = console
        self.study = study
        self.target = target
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeLeftColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
        self.study_task = self.progress.add_task(
            f"study {study.study_name}", total=target, completed=finished(study), status=_study_status(study), ends=None
        )
        self.trial_task = self.progress.add_task("trial", total=1, visible=False, status="", ends=None)
        self._epoch = 0
        self._number = 0
        self._epochs = 1
        self._trial_started = self._started = self.progress.get_time()
        self._mark: tuple[float, int] | None = None  # (seconds, batches) into the first epoch where its pace is timed from
        self._finished_before = finished(study)
        self.estimate: Estimate | None = None  # said once per run

    def __enter__(self) -> Display:
        self._started = self.progress.get_time()  # the pace of trials, not of the data's loading or PCA's fit before them
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def trial_started(self, number: int, epochs: int, arch: Architecture) -> None:
        self._epoch = 0
        self._number, self._epochs, self._trial_started = number, epochs, self.progress.get_time()
        self._mark = None
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
        if self.estimate is None and self._epoch == 0:
            spent = self.progress.get_time() - self._trial_started
            if self._mark is None and spent >= MEASURE_SECONDS / 4:
                self._mark = (spent, step)  # the pace is measured from here: the first batches pay one-off costs
            elif self._mark is not None and spent >= MEASURE_SECONDS and self._mark[1] < step < n_batches:
                left = self._trials_left()
                self._say(from_batches(spent, step, n_batches, self._epochs, left, number=self._number, since=self._mark, **self._share()))

    def epoch(self, report: EpochReport) -> None:
        self._epoch = report.epoch
        if self.estimate is None and report.epoch == 1:
            spent = self.progress.get_time() - self._trial_started  # with the validation pass, which report.seconds leaves out
            measured = f"trial {self._number}'s first epoch"
            self._say(estimate(spent, report.epochs, self._trials_left(), measured=measured, **self._share()))
        status = (
            f"epoch {report.epoch}/{report.epochs} · train MSE {report.train_mse:.5f}"
            f" · val MSE {report.val_mse:.5f} · {report.seconds:.1f} s"
        )
        self.progress.update(self.trial_task, completed=report.epoch, status=status)
        if not self.console.is_terminal:  # no live bar in a log file: one line per epoch instead
            description = self.progress.tasks[self.trial_task].description
            self.console.print(f"  {description} {status}", highlight=False, soft_wrap=True)

    def _trials_left(self) -> int:
        return max(1, self.target - finished(self.study))

    def _share(self) -> dict[str, int]:
        # other workers' trials running beside this one share the study's remaining work
        running = len(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        return {"trials": self.target, "parallel": max(1, running)}

    def _say(self, found: Estimate) -> None:
        self.estimate = found
        self.console.print(found.line(), highlight=False, soft_wrap=True)
        if finished(self.study) == self._finished_before:  # no trial's end has measured the pace yet
            self.progress.update(self.study_task, ends=self._trial_started + found.study_seconds)

    def trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna callback: one line for the trial, and the study's progress."""
        retries_of = {t.system_attrs.get("failed_trial") for t in study.get_trials(deepcopy=False)}
        retried = trial.state == TrialState.FAIL and trial.number in retries_of
        self.progress.console.print(trial_line(trial, retried=retried), highlight=False)
        done = finished(study)
        record = read_trial(trial)
        if self.estimate is None and trial.state in FINISHED and record.epoch_seconds and record.train:
            # a display that saw no epoch (the one over --workers processes) times the first trial to end instead;
            # its worker goes on with another beside those running
            measured = f"trial {trial.number}'s first epoch (its training pass)"
            epochs = int(record.train.get("epochs", record.epochs))
            parallel = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))) + 1
            left = self.target - done + 1
            self._say(estimate(record.epoch_seconds[0], epochs, left, measured=measured, trials=self.target, parallel=parallel))
        now = self.progress.get_time()
        if done > self._finished_before:  # the pace this run has kept, pruned trials and other workers included
            pace = (now - self._started) / (done - self._finished_before)
            self.progress.update(self.study_task, ends=now + pace * max(0, self.target - done))
        self.progress.update(self.study_task, completed=done, status=_study_status(study))
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


@dataclass(frozen=True)
class FittedTable:
    """Trials as a table that fits the width it is printed at, every trial's number and values whole (never "…").

    The first layout that fits is printed: (1) one table, the parameters in a last column at least
    :data:`PARAMETERS_WIDTH` wide; (2) the numbers as a table, each trial's parameters on lines of their own below it;
    (3) the same with headers on two lines and no vertical rules; (4) one block per trial, a value a line.
    The title and caption are wrapped text above and below, not squeezed to the table's width.
    """

    title: str
    headers: tuple[str, ...]  # the first names the row ("trial"); on two lines, split at its space
    rows: tuple[tuple[str, ...], ...]
    parameters: tuple[str, ...]  # one per row
    caption: str

    def _numbers(self, *, parameters: bool, narrow: bool) -> Table:
        box_style = box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD
        table = Table(box=box_style, pad_edge=not narrow, show_edge=not narrow)
        for name in self.headers:
            table.add_column(name.replace(" ", "\n") if narrow else name, justify="right", no_wrap=True)
        if parameters:
            table.add_column("parameters", overflow="fold", ratio=1, min_width=PARAMETERS_WIDTH)
        for row, params in zip(self.rows, self.parameters, strict=True):
            table.add_row(*row, *((params,) if parameters else ()))
        return table

    def _lines(self) -> list[Text]:
        return [Text(f"{self.headers[0]} {row[0]}: {params}") for row, params in zip(self.rows, self.parameters, strict=True)]

    def _blocks(self) -> list[RenderableType]:
        blocks: list[RenderableType] = []
        for row, params in zip(self.rows, self.parameters, strict=True):
            block = Table.grid(padding=(0, 1))
            block.add_column(no_wrap=True)
            block.add_column(overflow="fold")
            for name, value in zip((*self.headers[1:], "parameters"), (*row[1:], params), strict=True):
                block.add_row(f"  {name}", value)
            blocks += [Text(f"{self.headers[0]} {row[0]}", style="bold"), block]
        return blocks

    def layout(self, console: Console, width: int) -> list[RenderableType]:
        """What is printed at ``width`` columns: the first of the layouts (see the class) that fits."""
        options = console.options.update_width(10_000)  # each layout's own width, not capped at the terminal's
        wide = Measurement.get(console, options, self._numbers(parameters=False, narrow=False)).maximum
        narrow = Measurement.get(console, options, self._numbers(parameters=False, narrow=True)).maximum
        if wide + 3 + PARAMETERS_WIDTH <= width:  # a rule and two spaces of padding before the parameters column
            body: list[RenderableType] = [self._numbers(parameters=True, narrow=False)]
        elif wide <= width:
            body = [self._numbers(parameters=False, narrow=False), *self._lines()]
        elif narrow <= width:
            body = [self._numbers(parameters=False, narrow=True), *self._lines()]
        else:
            body = self._blocks()
        return [Text(self.title, style="table.title"), *body, Text(self.caption, style="table.caption")]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.layout(console, options.max_width)


def best_table(study: optuna.Study, top: int = 10) -> FittedTable:
    """The best completed trials (the Pareto front, in a study of several objectives), with the counts of every state
    in the caption: a table that fits the terminal it is printed in (:class:`FittedTable`)."""
    if is_multi_objective(study):
        trials = pareto_trials(study)
        title = f"Pareto front of study {study.study_name} (objectives: {', '.join(study.metric_names or [])})"
    else:
        trials = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=best_val_mse)[:top]
        title = f"best trials of study {study.study_name}"
    # colorizers have no PCA baseline; what they are judged by beside the error is how much colour they keep
    records = [read_trial(t) for t in trials]
    colour = any(r.colourfulness_ratio is not None for r in records)
    headers = ("trial", "val MSE", "test MSE", "PSNR dB", *(("colour",) if colour else ("PCA dB", "gain dB")), "latent", "params", "epochs")
    rows = tuple(
        (
            str(t.number),
            _fmt(r.kept_val_mse),
            _fmt(r.test_mse),
            _fmt(r.test_psnr, ".2f"),
            *((_fmt(r.colourfulness_ratio, ".0%"),) if colour else (_fmt(r.pca_psnr, ".2f"), _fmt(r.gain_db, "+.2f"))),
            f"{r.latent_size or 0:,}",
            f"{r.n_params or 0:,}",
            str(r.epochs),
        )
        for t, r in zip(trials, records, strict=True)
    )
    parameters = tuple(
        " ".join(f"{k}={_fmt(v, '.3g') if isinstance(v, float) else v}" for k, v in t.params.items()) or "(fixed space)" for t in trials
    )
    caption = f"{state_counts(study)} · errors on pixels in [0, 1] · " + (
        "colour: test images' colourfulness (Hasler–Süsstrunk) as a share of the truth's"
        if colour
        else "PCA dB: PCA fitted on the same training split, at the same latent size, on the same test split · gain: test PSNR − PCA's"
    )
    return FittedTable(title, headers, rows, parameters, caption)
