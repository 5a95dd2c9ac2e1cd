"""What a trial stores, typed: the one writer and the one reader of a trial's user attributes.

The objective (:mod:`search.trials.objective`) writes a trial through the ``write_*`` functions here, and
everything that reads a trial back (pruners, refits, fronts, tables, benchmarks, analyses) reads it
through :func:`read_trial` as a :class:`TrialRecord`; the attribute names live in this file alone.

A trial records, as Optuna user attributes (JSON values):

- ``worker`` (host:pid) when it starts;
- ``latent_size``, ``n_params``, ``architecture`` (:meth:`cae.spec.Architecture.to_dict`), ``train``
  (the training settings), ``data`` (:meth:`cae.settings.DataDescription.to_dict`), ``image_shape``
  (C, H, W) and, for a refit, ``lineage`` (the parent trial it trains again): :func:`write_design`;
- ``pca_mse``, PCA's test MSE at the trial's latent size, or ``pca_reason``: :func:`write_baseline`;
- every epoch, ``train_mse``, ``val_mse`` and ``epoch_seconds`` (one entry per finished epoch, so that a
  pruned trial keeps its curves), with ``train.ema`` also ``raw_val_mse`` (the trained weights' validation error,
  ``val_mse`` being the average's), and ``train_seconds`` (the training's wall time so far): :func:`write_epoch`;
- once finished, ``best_epoch``, ``test_mse``, ``test_psnr``, ``precision``, ``gain_db`` (against PCA),
  ``train_seconds`` with the test pass, and for a colorizer ``colourfulness_ratio`` and
  ``val_colourfulness_ratio``: :func:`write_result`;
- ``reason`` (a one-line why) when refused, failed or pruned, and ``artifact_error``: :func:`write_reason`,
  :func:`write_artifact_error`, :func:`write_stored_reason`.

A study records what its images were (``data``): :func:`record_study_data`, :func:`study_data`.

Reading is lenient where writing is not: a field a study recorded before it existed reads as ``None``
(``data`` as CIFAR-10 at 3 × 32 × 32, what every study was before the dataset could be chosen), and so
does a value of the wrong type, because the pruners read every trial of a study each epoch and one odd
record must not stop a run. Imports neither Optuna nor torch: the space parser reads
:mod:`search.trials.objectives`, which reads this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Real
from typing import TYPE_CHECKING, Any, Protocol

from cae.metrics import psnr
from cae.settings import DataDescription
from cae.spec import Architecture

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


class _Attributed(Protocol):
    """What the reader needs of a trial or study: Optuna's ``FrozenTrial``, ``Trial`` and ``Study`` all have it."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...


class _Writable(Protocol):
    """What the writers need of a trial or study: Optuna's ``Trial`` and ``Study`` (a ``FrozenTrial`` too)."""

    def set_user_attr(self, key: str, value: Any) -> None: ...


@dataclass
class Curves:
    """A trial's curves so far, one entry per finished epoch, as the objective collects them for :func:`write_epoch`."""

    train_mse: list[float] = field(default_factory=list)
    val_mse: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    raw_val_mse: list[float] = field(default_factory=list)  # with train.ema only

    def add(self, train_mse: float, val_mse: float, seconds: float, raw_val_mse: float | None = None) -> None:
        """One more finished epoch (``raw_val_mse``: the trained weights' error where ``val_mse`` is their average's)."""
        self.train_mse.append(train_mse)
        self.val_mse.append(val_mse)
        self.epoch_seconds.append(seconds)
        if raw_val_mse is not None:
            self.raw_val_mse.append(raw_val_mse)


@dataclass(frozen=True)
class TrialRecord:
    """Everything one trial stores, typed; ``None`` where it recorded nothing (yet, or in an older study).

    Curves hold one entry per finished epoch (entry ``i`` is epoch ``i + 1``). ``architecture`` is parsed
    from ``architecture_dict`` on first use: most readers (the pruners, every epoch) never need it.
    """

    worker: str | None = None
    latent_size: int | None = None
    n_params: int | None = None
    architecture_dict: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    data: DataDescription = field(default_factory=DataDescription)
    lineage: dict[str, Any] | None = None
    train_mse: tuple[float, ...] | None = None
    val_mse: tuple[float, ...] | None = None
    epoch_seconds: tuple[float, ...] | None = None
    raw_val_mse: tuple[float, ...] | None = None
    train_seconds: float | None = None
    pca_mse: float | None = None
    pca_reason: str | None = None
    best_epoch: int | None = None
    test_mse: float | None = None
    test_psnr: float | None = None
    gain_db: float | None = None
    precision: str | None = None
    colourfulness_ratio: float | None = None
    val_colourfulness_ratio: float | None = None
    reason: str | None = None
    artifact_error: str | None = None
    stopped: str | None = None  # why a complete trial trained fewer epochs than it was set (cae.training.StopTraining)

    @cached_property
    def architecture(self) -> Architecture | None:
        """The trained architecture; ``None`` before the trial recorded one (refused trials never do).

        Raises :class:`~cae.spec.ArchitectureError` (or ``TypeError``/``KeyError``) for one this version cannot read.
        """
        return None if self.architecture_dict is None else Architecture.from_dict(self.architecture_dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of the images the model saw."""
        return self.data.shape

    @property
    def epochs(self) -> int:
        """Epochs finished (recorded in ``val_mse``)."""
        return len(self.val_mse or ())

    @property
    def kept_val_mse(self) -> float:
        """The validation MSE of the weights the trial kept: its objective, whether one objective or several.

        That of the epoch whose weights the trial kept where it recorded one (``best_epoch``: a chroma
        classifier keeps its last), else the lowest (a pruned trial's curve so far); NaN without a curve.
        """
        curve = self.val_mse or ()
        if self.best_epoch is not None and 1 <= self.best_epoch <= len(curve):
            return curve[self.best_epoch - 1]
        return min(curve) if curve else math.nan

    @property
    def lowest_val_mse(self) -> float:
        """The lowest validation MSE of any epoch run; NaN without a curve."""
        return min(self.val_mse) if self.val_mse else math.nan

    @property
    def compute_seconds(self) -> float:
        """The seconds the trial spent training: its ``train_seconds``, else (studies older than that) the sum
        of its ``epoch_seconds``, which leaves out the validation passes; 0 when it recorded neither."""
        if self.train_seconds is not None and math.isfinite(self.train_seconds):
            return self.train_seconds
        return float(sum(self.epoch_seconds or ()))

    @property
    def pca_psnr(self) -> float | None:
        """PCA's test PSNR at the trial's latent size, in dB; ``None`` where it recorded no PCA error."""
        return None if self.pca_mse is None else psnr(self.pca_mse)

    @property
    def pca_score(self) -> float | None:
        """The kept validation MSE as a multiple of PCA's at the trial's latent size (below 1: better than the
        optimal linear code); ``None`` without a positive PCA error or a curve."""
        if not self.pca_mse or not self.val_mse:
            return None
        return self.kept_val_mse / self.pca_mse

    @property
    def parent_trial(self) -> int | None:
        """A refit's parent trial number (its ``lineage``); ``None`` for a trial of a search."""
        number = (self.lineage or {}).get("trial")
        return number if _is_int(number) else None


# Reading.


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int | None:
    return value if _is_int(value) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, Real) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None


def _curve(value: Any) -> tuple[float, ...] | None:
    """A list of numbers as a tuple of floats; ``None`` for anything else (a string, a missing or non-numeric entry)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return None
    if not all(isinstance(v, Real) for v in value):
        return None
    return tuple(float(v) for v in value)


def parse_record(attrs: Mapping[str, Any]) -> TrialRecord:
    """The :class:`TrialRecord` in a trial's user attributes (``trial.user_attrs``), as :func:`read_trial` reads them."""
    return TrialRecord(
        worker=_str(attrs.get("worker")),
        latent_size=_int(attrs.get("latent_size")),
        n_params=_int(attrs.get("n_params")),
        architecture_dict=_dict(attrs.get("architecture")),
        train=_dict(attrs.get("train")),
        data=DataDescription.from_dict(_dict(attrs.get("data"))),
        lineage=_dict(attrs.get("lineage")),
        train_mse=_curve(attrs.get("train_mse")),
        val_mse=_curve(attrs.get("val_mse")),
        epoch_seconds=_curve(attrs.get("epoch_seconds")),
        raw_val_mse=_curve(attrs.get("raw_val_mse")),
        train_seconds=_float(attrs.get("train_seconds")),
        pca_mse=_float(attrs.get("pca_mse")),
        pca_reason=_str(attrs.get("pca_reason")),
        best_epoch=_int(attrs.get("best_epoch")),
        test_mse=_float(attrs.get("test_mse")),
        test_psnr=_float(attrs.get("test_psnr")),
        gain_db=_float(attrs.get("gain_db")),
        precision=_str(attrs.get("precision")),
        colourfulness_ratio=_float(attrs.get("colourfulness_ratio")),
        val_colourfulness_ratio=_float(attrs.get("val_colourfulness_ratio")),
        reason=_str(attrs.get("reason")),
        artifact_error=_str(attrs.get("artifact_error")),
        stopped=_str(attrs.get("stopped")),
    )


def read_trial(trial: _Attributed) -> TrialRecord:
    """What ``trial`` (an Optuna ``FrozenTrial``, or a running ``Trial``: read from its storage) recorded.

    Not cached: a ``FrozenTrial`` compares and hashes by value, and reading is cheap (the architecture,
    the one costly part, is parsed on first use).
    """
    return parse_record(trial.user_attrs)


# Writing: what the objective, the workers and the liveness checks record on a trial.


def write_worker(trial: _Writable, worker: str) -> None:
    """The machine and process running the trial (and SLURM job and array task), as it starts."""
    trial.set_user_attr("worker", worker)


def write_design(
    trial: _Writable,
    arch: Architecture,
    train: Mapping[str, Any],
    data: DataDescription,
    lineage: Mapping[str, Any] | None = None,
) -> None:
    """What the trial trains: its architecture (with its latent size and parameters), training settings and data;
    ``lineage`` names the parent trial a refit trains again."""
    trial.set_user_attr("latent_size", arch.latent_size)
    trial.set_user_attr("n_params", arch.n_params)
    trial.set_user_attr("architecture", arch.to_dict())
    trial.set_user_attr("train", dict(train))
    trial.set_user_attr("data", data.to_dict())
    trial.set_user_attr("image_shape", list(data.shape))
    if lineage:
        trial.set_user_attr("lineage", dict(lineage))


def write_baseline(trial: _Writable, pca_mse: float | None, reason: str | None = None) -> None:
    """PCA's test MSE at the trial's latent size, or (``pca_mse`` is ``None``) why there is none."""
    if pca_mse is not None:
        trial.set_user_attr("pca_mse", pca_mse)
    else:
        trial.set_user_attr("pca_reason", reason or "no PCA baseline")


def write_epoch(trial: _Writable, curves: Curves, train_seconds: float) -> None:
    """The curves after a finished epoch, and the training's seconds so far (a pruned trial's compute counts too)."""
    trial.set_user_attr("train_mse", curves.train_mse)
    trial.set_user_attr("val_mse", curves.val_mse)
    trial.set_user_attr("epoch_seconds", curves.epoch_seconds)
    if curves.raw_val_mse:
        trial.set_user_attr("raw_val_mse", curves.raw_val_mse)
    trial.set_user_attr("train_seconds", train_seconds)


def write_result(
    trial: _Writable,
    *,
    train_seconds: float,
    best_epoch: int,
    test_mse: float,
    test_psnr: float,
    precision: str,
    gain_db: float | None = None,
    val_colourfulness_ratio: float | None = None,
    colourfulness_ratio: float | None = None,
    stopped: str | None = None,
) -> None:
    """A finished trial's result: the training's seconds with the test pass, the kept epoch and its test errors, the
    precision ``auto`` became, the gain over PCA where there is a PCA error, a colorizer's colourfulness ratios, and why
    its training stopped before its epochs where it did."""
    trial.set_user_attr("train_seconds", train_seconds)
    trial.set_user_attr("best_epoch", best_epoch)
    trial.set_user_attr("test_mse", test_mse)
    trial.set_user_attr("test_psnr", test_psnr)
    trial.set_user_attr("precision", precision)
    if gain_db is not None:
        trial.set_user_attr("gain_db", gain_db)
    if val_colourfulness_ratio is not None:
        trial.set_user_attr("val_colourfulness_ratio", val_colourfulness_ratio)
    if colourfulness_ratio is not None:
        trial.set_user_attr("colourfulness_ratio", colourfulness_ratio)
    if stopped is not None:
        trial.set_user_attr("stopped", stopped)


def write_reason(trial: _Writable, reason: str) -> None:
    """Why the trial was refused, failed or pruned: one line."""
    trial.set_user_attr("reason", reason)


def write_stored_reason(storage: BaseStorage, trial_id: int, reason: str) -> None:
    """:func:`write_reason` through the storage, for a trial this process holds no ``Trial`` of (a stale one, say)."""
    storage.set_trial_user_attr(trial_id, "reason", reason)


def write_artifact_error(trial: _Writable, error: str) -> None:
    """Why the trial's reconstruction grid and weights could not be uploaded."""
    trial.set_user_attr("artifact_error", error)


# The study's own record of its data.


def record_study_data(study: _Writable, desc: DataDescription) -> None:
    """Record on ``study`` what its images are (study attribute ``data``)."""
    study.set_user_attr("data", desc.to_dict())


def recorded_study_data(study: _Attributed) -> DataDescription | None:
    """What ``study``'s images are as it recorded them; ``None`` for a study older than that record."""
    recorded = _dict(study.user_attrs.get("data"))
    return None if recorded is None else DataDescription.from_dict(recorded)


def study_data(study: _Attributed) -> DataDescription:
    """What ``study``'s images are; CIFAR-10 at 3 × 32 × 32 for a study older than that record."""
    return recorded_study_data(study) or DataDescription()
