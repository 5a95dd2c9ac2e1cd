"""What a study may optimise, declared once: each objective's name in a space (``study.objectives``), its
label among Optuna's metric names, its direction, and how its value comes from a trial's recorded result.

The parser (search.space), the runner (search.run) and the trial's objective (search.trials.objective) read
:data:`OBJECTIVES`; so do the rules that depend on how many objectives a study has (its best trial
is the lowest error, or its Pareto front). Imports neither Optuna nor torch: the parser reads it.

    >>> directions(["val_mse", "colourfulness"]), metric_names(["val_mse", "latent_size"])
    (['minimize', 'maximize'], ['best val MSE', 'latent size'])
    >>> trial_values(["val_mse", "latent_size"], {"val_mse": [0.03, 0.02, 0.025], "latent_size": 256})
    (0.02, 256.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from search.trials.record import TrialRecord, parse_record, read_trial

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial


@dataclass(frozen=True)
class Goal:
    """One objective a study may have (``study.objectives``)."""

    label: str  # its name among Optuna's metric names (shown by optuna-dashboard and the tables)
    direction: Literal["minimize", "maximize"]
    value: Callable[[TrialRecord], float | None]  # from what the trial recorded (None: not recorded)
    size: bool = False  # a size of the model: a front over it is read by increasing size


OBJECTIVES: dict[str, Goal] = {
    "val_mse": Goal("best val MSE", "minimize", lambda record: record.kept_val_mse),
    "latent_size": Goal("latent size", "minimize", lambda record: record.latent_size, size=True),
    "n_params": Goal("parameters", "minimize", lambda record: record.n_params, size=True),
    # Colour up to the truth's: over-saturated pictures are as wrong as faded ones, and an uncapped
    # objective was measured to drive a search to 209% of the truth's colourfulness at 16 dB.
    "colourfulness": Goal(
        "colourfulness",
        "maximize",
        lambda record: min(math.nan if record.val_colourfulness_ratio is None else record.val_colourfulness_ratio, 1.0),
    ),
}


def directions(names: Sequence[str]) -> list[str]:
    """Optuna's ``directions`` for a study of these objectives."""
    return [OBJECTIVES[name].direction for name in names]


def metric_names(names: Sequence[str]) -> list[str]:
    """Optuna's metric names for a study of these objectives."""
    return [OBJECTIVES[name].label for name in names]


def trial_values(names: Sequence[str], recorded: TrialRecord | Mapping[str, Any]) -> float | tuple[float, ...]:
    """What a finished trial returns to Optuna: one value, or one per objective in a study of several.

    ``recorded`` is the trial's record, or its user attributes. Raises ``ValueError`` for an objective it did not record.
    """
    record = recorded if isinstance(recorded, TrialRecord) else parse_record(recorded)
    values = []
    for name in names:
        value = OBJECTIVES[name].value(record)
        if value is None:
            raise ValueError(f"objective {name}: the trial recorded no value for it")
        values.append(float(value))
    return values[0] if len(values) == 1 else tuple(values)


def _shown(labels: Sequence[str] | None, study_directions: Sequence[str]) -> str:
    """``[val_mse, latent_size] (minimize, minimize)``: a study's objectives by their space names where known."""
    by_label = {goal.label: name for name, goal in OBJECTIVES.items()}
    names = ", ".join(by_label.get(label, repr(label)) for label in labels) if labels is not None else "unnamed"
    return f"[{names}] ({', '.join(study_directions)})"


def objectives_mismatch(study: optuna.Study, names: Sequence[str], asked_by: str) -> str | None:
    """Why ``study`` cannot take trials of the objectives ``names`` that ``asked_by`` (a space file) asks for, or ``None``.

    A study holds one list of values per trial: a resume that changed a name, the order or a direction
    would put values of different meaning in one column, and compute its front over both. What the
    study was created with is its directions and its metric names (set by :func:`record_objectives`;
    a study without names is compared by its directions only).
    """
    recorded = [d.name.lower() for d in study.directions]
    labels = study.metric_names
    if recorded == directions(names) and (labels is None or list(labels) == metric_names(names)):
        return None
    asked = _shown(metric_names(names), directions(names))
    return f"was created with objectives {_shown(labels, recorded)}, but {asked_by} asks for {asked}"


def record_objectives(study: optuna.Study, names: Sequence[str]) -> None:
    """Name a new study's objectives (Optuna's metric names), which :func:`objectives_mismatch` compares on a resume."""
    if study.metric_names is None:
        study.set_metric_names(metric_names(names))


def is_multi_objective(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def best_val_mse(trial: FrozenTrial) -> float:
    """A trial's best validation MSE: its objective in any study, single- or multi-objective (``TrialRecord.kept_val_mse``)."""
    return read_trial(trial).kept_val_mse


def pareto_trials(study: optuna.Study) -> list[FrozenTrial]:
    """A multi-objective study's Pareto front (Optuna's ``best_trials``) by increasing size, or error where size is no objective."""
    sizes = {goal.label for goal in OBJECTIVES.values() if goal.size}
    by_size = any(name in sizes for name in (study.metric_names or []))
    return sorted(study.best_trials, key=lambda t: ((read_trial(t).latent_size or 0) if by_size else 0, best_val_mse(t)))
