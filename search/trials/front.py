"""The size–error front: the trials no other beats on both latent size and error (smaller is better).

One rule for every place that asks (``start: {latent: N}`` in :mod:`search.trials.start`, the front of
:mod:`analysis.latent_vs_error`), so that a study's front is the same wherever it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.trials.record import read_trial, study_data


def size_error_front(sizes: Sequence[float], errors: Sequence[float]) -> list[int]:
    """Positions of the points with the lowest error at their size or any smaller one, by increasing size.

    >>> size_error_front([64, 16, 64, 256], [0.02, 0.05, 0.01, 0.03])
    [1, 2]
    """
    kept, best = [], math.inf
    for i in sorted(range(len(sizes)), key=lambda i: (sizes[i], errors[i])):
        if errors[i] < best:
            kept.append(i)
            best = errors[i]
    return kept


# The hypervolume, defined once for every place that reports it (search best, analysis.latent_vs_error,
# benchmarks.replay). Objectives, both minimised: log2 of the latent size, and the validation error in
# decibels, 10·log10(MSE) (= −PSNR on [0, 1] pixels). Log axes weigh an octave of size and a decibel of
# error the same everywhere: on raw MSE the small codes' large errors would outweigh the rest of the
# front. Reference point: a code as large as the image (its C·H·W values: 3,072 for CIFAR-10, 784 for
# MNIST), at 10 dB (MSE 0.1): a point beyond either is worth nothing. Units: dB × octaves.
REFERENCE_LATENT = 3072  # CIFAR-10's, the default: studies of other images pass their own (study_reference)
REFERENCE_MSE = 0.1


def study_reference(study: optuna.Study) -> int:
    """The hypervolume's reference latent size of ``study``: the values of one of its images (C·H·W)."""
    return study_data(study).values


def hypervolume(sizes: Sequence[float], errors: Sequence[float], reference: int = REFERENCE_LATENT) -> float:
    """The area that the points (latent size, validation MSE) dominate up to the reference point (``reference``
    values at :data:`REFERENCE_MSE`), on (log2 size, 10·log10 MSE) axes; points that are not finite and positive are ignored.

    >>> round(hypervolume([64, 256], [0.01, 0.001]), 3)  # (log2 3072 − 6) × 10 dB + (log2 3072 − 8) × 10 dB
    91.699
    """
    points = [(math.log2(s), 10 * math.log10(e)) for s, e in zip(sizes, errors, strict=True) if 0 < s < math.inf and 0 < e < math.inf]
    right, top = math.log2(reference), 10 * math.log10(REFERENCE_MSE)
    area, ceiling = 0.0, top
    # from the smallest size up: each front point adds the strip between it and the next larger one's edge
    for i in size_error_front([x for x, _ in points], [y for _, y in points]):
        x, y = points[i]
        if x < right and y < ceiling:
            area += (right - x) * (ceiling - y)
            ceiling = y
    return area


def train_seconds(trial: FrozenTrial) -> float:
    """The seconds ``trial`` spent training (:attr:`~search.trials.record.TrialRecord.compute_seconds`)."""
    return read_trial(trial).compute_seconds


def _front_point(trial: FrozenTrial) -> tuple[int, float] | None:
    """(latent size, best validation MSE) of a trial that counts towards a front (complete, with a size and a curve), else ``None``."""
    record = read_trial(trial)
    if trial.state != TrialState.COMPLETE or record.latent_size is None or not record.val_mse:
        return None
    return record.latent_size, record.kept_val_mse


def study_hypervolume(*studies: optuna.Study) -> float:
    """:func:`hypervolume` of the studies' complete trials together (latent size, best validation MSE): one study's
    front, or that of refits which ran side by side."""
    complete = [t for study in studies for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    points = [point for t in complete if (point := _front_point(t)) is not None]
    return hypervolume([size for size, _ in points], [error for _, error in points], study_reference(studies[0]))


def compute_hours(study: optuna.Study) -> float:
    """The training time of every finished trial (complete, pruned or failed), in hours."""
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return sum(train_seconds(t) for t in finished) / 3600


def anytime_hypervolume(
    *studies: optuna.Study, spent: float = 0.0, points: Sequence[tuple[float, float]] = ()
) -> list[tuple[float, float]]:
    """The study's hypervolume against the training seconds spent so far: one ``(seconds, hypervolume)``
    per finished trial in the order they finished, the seconds summed over every finished trial
    (pruned and failed ones cost compute too), the hypervolume of the complete ones among them.
    Several studies that ran side by side (one refit per size, say) make one curve, their trials
    taken in the order they finished.

    ``spent`` seconds and ``points`` (latent size, validation MSE) come before the study's own: a refit
    continues the curve of the search it trained again."""
    finished = [
        t
        for study in studies
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
        if t.datetime_complete is not None
    ]
    curve, sizes, errors = [], [size for size, _ in points], [error for _, error in points]
    reference = study_reference(studies[0])
    for t in sorted(finished, key=lambda t: (t.datetime_complete, t.number)):
        spent += train_seconds(t)
        point = _front_point(t)
        if point is not None:
            sizes.append(point[0])
            errors.append(point[1])
        curve.append((spent, hypervolume(sizes, errors, reference)))
    return curve
