"""One Optuna trial: sample a configuration, train it, report every epoch, record everything.

What a trial records is written through :mod:`search.trials.record` (which holds the attribute names and reads
them back as a :class:`~search.trials.record.TrialRecord`). Every trial records the user attributes ``worker``
(host:pid), ``latent_size``, ``n_params``, ``architecture``, ``train``, ``data`` and ``image_shape`` (what its
images were: :class:`~cae.settings.DataDescription`), ``train_mse``, ``val_mse`` and ``epoch_seconds`` (lists, one
entry per epoch, written as the epochs finish so that pruned trials keep their curves), ``train_seconds`` (the training's wall time so far,
with the test pass once finished: :func:`search.trials.front.compute_hours`), and ``pca_mse``: the test MSE of PCA fitted on
the same training split at the trial's latent size (the optimal linear code; ``pca_reason`` instead when
there is none: an over-complete latent, or a colorizer). Finished trials also record ``best_epoch``,
``test_mse``, ``test_psnr`` (of the weights from the best validation epoch, which are also the
uploaded ``model.pt``) and ``gain_db`` = 10·log10(pca_mse / test_mse), positive when the CAE beats
PCA; refused, failed and pruned trials a one-line ``reason``. A trial that cannot be built or that
crashes is recorded as failed and the study goes on. Finished colorizers record ``colourfulness_ratio``
and ``val_colourfulness_ratio``: the Hasler–Süsstrunk colourfulness of their test (validation) images
as a share of the truth's (the PSNR alone rewards timid, grayish colours).

The objective is the best validation MSE, or, in a study of several objectives, that and the
latent size, parameter count and/or validation colourfulness (``study.objectives``; the last is
maximised, up to the truth's: ``min(val_colourfulness_ratio, 1)``). Pruning asks the study's pruner after each epoch,
by the policy chosen for the study once (:mod:`search.pruning.policy`): Optuna's pruners through ``trial.report``
(single objective), or :class:`~search.pruning.latent_pruner.LatentPercentilePruner` and
:class:`~search.pruning.rungs.ParetoHalvingPruner`, which read the recorded curves and so work with several objectives too.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
import traceback
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import optuna
from optuna.artifacts import upload_artifact
from optuna.trial import TrialState
from optuna_dashboard import save_note

from cae.checkpoint import save_checkpoint
from cae.chroma_bins import ChromaBins
from cae.chroma_classes import fit_bins
from cae.color import colorfulness
from cae.data import Splits
from cae.figures import save_reconstructions
from cae.metrics import gain_db
from cae.pca import LinearCode, PcaBaseline, linear_code, start_from_linear_code
from cae.spec import ArchitectureError
from cae.summary import summary_text
from cae.tasks import Task, task_of_architecture
from cae.training import EpochReport, NonFiniteLoss, ShortenTraining, StopTraining, reconstruct, to_unit, train
from search.display import FINISHED, Display
from search.pruning.policy import EpochPolicy
from search.runtime.liveness import Heartbeat
from search.runtime.slurm import worker_name
from search.runtime.storage import StorageWriteError, artifact_store
from search.sample import optuna_suggest, sample
from search.space import Space
from search.trials.artifact_names import name_artifact
from search.trials.objectives import trial_values
from search.trials.record import (
    Curves,
    read_trial,
    write_artifact_error,
    write_baseline,
    write_design,
    write_epoch,
    write_reason,
    write_result,
    write_worker,
)

if TYPE_CHECKING:
    from cae.builder import CAE
    from cae.spec import Architecture

GRID_IMAGES = 8


def _as_tuple(values: float | tuple[float, ...]) -> tuple[float, ...]:
    return values if isinstance(values, tuple) else (values,)


class TrialFailed(Exception):
    """A trial ended without a result (refused or crashed); its reason is recorded on the trial."""


class Objective:
    """The function Optuna calls once per trial."""

    def __init__(
        self,
        space: Space,
        data: Splits,
        artifacts: Path,
        study_dir: Path,
        display: Display | None = None,
        *,
        pruning: EpochPolicy,
        trials: int | None = None,
        heartbeat: float = 60,
        baseline: PcaBaseline | None = None,
        deadline: float | None = None,
    ) -> None:
        """``artifacts``: the folder the study records for its artifacts (the store writes there, and each trial's files
        are named there for a person); ``pruning``: how a trial asks to stop after each epoch (the study's policy,
        :func:`search.pruning.policy.epoch_policy`); ``deadline``: a wall-clock time (``time.time()``) by which every
        trial's training ends, after the last epoch that its previous epoch's length says will end before it."""
        self.space = space
        self.data = data
        self.folder = artifacts
        self.artifacts = artifact_store(artifacts)
        self.pruning = pruning
        self.study_dir = study_dir
        self.display = display
        self.trials = trials
        self.heartbeat = heartbeat
        self.baseline = baseline
        self.deadline = deadline
        self._bins: dict[int, ChromaBins] = {}

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        self._check_needed(trial)
        write_worker(trial, worker_name())  # which machine and process ran it (and SLURM job and array task)
        with Heartbeat(trial, self.heartbeat):
            # Ctrl-C and stop signals go through: the worker hands the trial back with their reason (search.runtime.workers)
            return self._run(trial)

    def _check_needed(self, trial: optuna.Trial) -> None:
        """Fail at once a trial that another worker made unnecessary: it started in the same instant
        as the study's last needed trial (trial numbers decide which of the two goes on)."""
        if self.trials is None:
            return
        earlier = [t for t in trial.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING)) if t.number < trial.number]
        if len(earlier) >= self.trials:
            reason = f"surplus: {self.trials} trials were already finished or running when it started (it trained nothing)"
            write_reason(trial, reason)
            raise TrialFailed(reason)

    def bins_for(self, per_axis: int, rebalance: float, temperature: float) -> ChromaBins:
        """Chroma classes fitted on this run's training split (the count once per grid size and process)."""
        fitted = self._bins.get(per_axis)
        if fitted is None:
            fitted = self._bins[per_axis] = fit_bins(self.data.train.images, per_axis)
        return dataclasses.replace(fitted, rebalance=rebalance, temperature=temperature)

    @cached_property
    def _truth_colourfulness(self) -> dict[str, float]:
        """The validation and test images' own colourfulness, measured once per process rather than per trial."""
        return {name: colorfulness(to_unit(getattr(self.data, name).images)).mean().item() for name in ("val", "test")}

    def colourfulness(self, model: CAE, split: str) -> float:
        """The colourfulness of ``model``'s colorizations of the ``split`` images as a share of the images' own."""
        images = getattr(self.data, split).images
        return colorfulness(reconstruct(model, images)).mean().item() / self._truth_colourfulness[split]

    @cached_property
    def linear_code(self) -> LinearCode:
        """PCA of the training split, read once per process (fitted and cached with the baseline) rather than per trial."""
        return linear_code(self.data.train.images)

    def _linear_baseline(self, trial: optuna.Trial, arch: Architecture, task: Task) -> float | None:
        """Record PCA's test MSE at the trial's latent size (or why there is none); return it."""
        if not task.reconstructs:
            reason = f"{task.name}: the model does not reconstruct its input, so PCA of the images is no baseline for it"
        elif self.baseline is None:
            reason = "no PCA baseline was computed for this run"
        else:
            pca = self.baseline.mse(arch.latent_size)
            if pca is not None:
                write_baseline(trial, pca)
                return pca
            reason = self.baseline.reason(arch.latent_size)
        write_baseline(trial, None, reason)
        return None

    def _check_deadline(self, report: EpochReport, seconds: float) -> None:
        """Plan only the epochs that end by the deadline, each as long as this one: none, and the training stops after
        this epoch; fewer than planned, and it ends after them with its learning rate annealed over them."""
        if self.deadline is None or report.epoch >= report.epochs:
            return
        fit = max(0, math.floor((self.deadline - time.time()) / seconds)) if seconds > 0 else report.epochs
        if report.epoch + fit >= report.epochs:
            return
        if fit == 0:
            raise StopTraining(
                f"stopped after epoch {report.epoch} of {report.epochs} by the run's deadline: another epoch ({seconds:.3g} s) "
                "would have ended past it"
            )
        raise ShortenTraining(
            report.epoch + fit,
            f"shortened to {report.epoch + fit} of {report.epochs} epochs after epoch {report.epoch} by the run's deadline: "
            f"at {seconds:.3g} s an epoch no more end in time; the learning rate annealed over them",
        )

    def _run(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        try:
            config = sample(self.space, optuna_suggest(trial), self.bins_for, shape=self.data.shape)
        except ArchitectureError as error:
            write_reason(trial, f"refused: {error}")
            raise TrialFailed(f"refused: {error}") from None
        arch = config.architecture
        # a refit's trial names (lineage) the parent trial it trains again
        write_design(trial, arch, dataclasses.asdict(config.train), self.data.describe(), config.lineage)
        task = task_of_architecture(arch)  # read once: what the trial's task changes in how it is trained and judged
        pca = self._linear_baseline(trial, arch, task)
        save_note(trial, f"```text\n{summary_text(arch, title=f'trial {trial.number}')}```\n")  # shown by optuna-dashboard
        if self.display:
            self.display.trial_started(trial.number, config.train.epochs, arch)
        curves = Curves()

        def on_epoch(report: EpochReport) -> None:
            curves.add(report.train_mse, report.val_mse, report.seconds, report.raw_val_mse)
            write_epoch(trial, curves, time.perf_counter() - started)  # seconds so far: a pruned trial's compute counts too
            if self.display:
                self.display.epoch(report)
            reason = self.pruning.reason(trial, report, arch.latent_size, curves.val_mse, pca)
            if reason:
                write_reason(trial, reason)
                raise optuna.TrialPruned(reason)
            nonlocal ended
            seconds, ended = time.perf_counter() - ended, time.perf_counter()  # the epoch with its validation pass
            self._check_deadline(report, seconds)

        init = None
        if arch.linear_skip and task.reconstructs:

            def init(model: CAE) -> None:
                start_from_linear_code(model, self.linear_code)

        started = ended = time.perf_counter()
        try:
            model, result = train(
                arch, self.data, config.train, on_epoch=on_epoch, on_batch=self.display.batch if self.display else None, init=init
            )
        except optuna.TrialPruned:
            raise
        except NonFiniteLoss as error:
            self._fail(trial, str(error))
        except Exception as error:  # a crashed trial must not end the study; its traceback is kept
            self._fail(trial, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", traceback.format_exc())
        seconds = time.perf_counter() - started  # with the test pass (search.trials.front.compute_hours)
        colorizer = not task.reconstructs
        write_result(
            trial,
            train_seconds=seconds,
            best_epoch=result.best_epoch,
            test_mse=result.test_mse,
            test_psnr=result.test_psnr,
            precision=result.precision,  # what precision: auto became on this machine
            stopped=result.stopped or None,
            gain_db=None if pca is None else gain_db(pca, result.test_mse),
            val_colourfulness_ratio=self.colourfulness(model, "val") if colorizer else None,
            colourfulness_ratio=self.colourfulness(model, "test") if colorizer else None,
        )
        # from what the trial recorded, read back as every later reader will (search.trials.objectives)
        objectives = self.space.study.objectives
        values = trial_values(objectives, read_trial(trial))
        non_finite = [f"{name} {value}" for name, value in zip(objectives, _as_tuple(values), strict=True) if not math.isfinite(value)]
        if non_finite:
            # Optuna would fail the trial for it without a word; the weights that made it are not worth keeping
            self._fail(trial, f"non-finite objective value ({', '.join(non_finite)})")
        self._upload(trial, model)
        return values

    def _fail(self, trial: optuna.Trial, reason: str, details: str | None = None) -> NoReturn:
        if details:
            log = self.study_dir / "errors" / f"trial-{trial.number}.txt"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(details)
            reason += f" (traceback in {log})"
        write_reason(trial, reason)
        raise TrialFailed(reason)

    def _upload(self, trial: optuna.Trial, model: CAE) -> None:
        """The reconstruction grid (8 validation images over their reconstructions) and the weights, stored by id for
        the dashboard and named for a person (``studies/<study>/trials/0007/reconstructions.png``: search.trials.artifact_names)."""
        try:
            with tempfile.TemporaryDirectory() as tmp:
                title = f"study {trial.study.study_name}, trial {trial.number}: the first {GRID_IMAGES} validation images"
                grid = save_reconstructions(model, self.data.val.images[:GRID_IMAGES], Path(tmp) / "reconstructions.png", title=title)
                weights = save_checkpoint(model, Path(tmp) / "model.pt")
                for path, mimetype in ((grid, "image/png"), (weights, "application/octet-stream")):
                    stored = upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial, mimetype=mimetype)
                    name_artifact(self.folder, trial.study.study_name, trial.number, stored, path.name)
        except OSError as error:
            # A full or read-only artifact folder loses the weights of every later trial too: this trial fails with
            # the reason and the run stops, saying where, instead of training on without a word.
            problem = f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}"
            write_artifact_error(trial, f"{type(error).__name__}: {error}")
            write_reason(trial, f"artifact upload failed ({problem}); the run stopped")
            raise StorageWriteError(f"artifact folder {self.folder}: cannot be written ({problem})") from None
