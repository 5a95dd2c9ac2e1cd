"""The objectives declared once (search.trials.objectives): what the parser accepts, what Optuna is told, what a
trial returns, and a resumed study refused when its objectives differ from what it was created with."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.space import SpaceError, space_from_dict
from search.space.schema import OBJECTIVES as PARSED_OBJECTIVES
from search.trials.objectives import (
    OBJECTIVES,
    best_val_mse,
    directions,
    metric_names,
    objectives_mismatch,
    pareto_trials,
    record_objectives,
    trial_values,
)

SPACE = {"train": {"epochs": 1}, "model": {"depth": 1, "channels": 4, "latent_channels": 2}}


def _created(names: list[str]) -> optuna.Study:
    """A study as the runner creates it for ``names``."""
    study = optuna.create_study(directions=directions(names))
    record_objectives(study, names)
    return study


def test_the_parser_the_runner_and_the_trial_read_one_declaration() -> None:
    assert PARSED_OBJECTIVES == tuple(OBJECTIVES) == ("val_mse", "latent_size", "n_params", "colourfulness")
    space = space_from_dict(SPACE | {"study": {"name": "s", "objectives": ["val_mse", "n_params"], "pruner": {"type": "none"}}})
    assert space.study.objectives == ("val_mse", "n_params")
    with pytest.raises(SpaceError, match="unknown objective 'size'"):
        space_from_dict(SPACE | {"study": {"name": "s", "objectives": ["val_mse", "size"]}})
    assert directions(["val_mse", "colourfulness"]) == ["minimize", "maximize"]
    assert metric_names(list(OBJECTIVES)) == ["best val MSE", "latent size", "parameters", "colourfulness"]


def test_a_trial_returns_its_values_from_what_it_recorded() -> None:
    attrs = {"val_mse": [0.03, 0.01, 0.02], "latent_size": 256, "n_params": 5000, "val_colourfulness_ratio": 1.4}
    assert trial_values(["val_mse"], attrs) == 0.01  # one objective: a float, not a 1-tuple
    assert trial_values(["val_mse", "n_params", "latent_size"], attrs) == (0.01, 5000.0, 256.0)
    # a classifier keeps its last epoch's weights: its error is that epoch's; colour is capped at the truth's
    assert trial_values(["val_mse", "colourfulness"], attrs | {"best_epoch": 3}) == (0.02, 1.0)
    assert trial_values(["colourfulness", "val_mse"], attrs | {"val_colourfulness_ratio": 0.7}) == (0.7, 0.01)
    assert math.isnan(best_val_mse(create_trial(state=TrialState.PRUNED, user_attrs={})))


@pytest.mark.parametrize(
    ("created", "asked", "shown"),
    [
        (
            ["val_mse", "latent_size"],
            ["val_mse", "n_params"],
            "[val_mse, latent_size] (minimize, minimize), but s.yaml asks for [val_mse, n_params]",
        ),
        (
            ["val_mse", "latent_size"],
            ["latent_size", "val_mse"],
            "[val_mse, latent_size] (minimize, minimize), but s.yaml asks for [latent_size, val_mse]",
        ),
        (["val_mse"], ["val_mse", "latent_size"], "[val_mse] (minimize), but s.yaml asks for [val_mse, latent_size] (minimize, minimize)"),
    ],
    ids=["names", "order", "count"],
)
def test_a_resume_with_other_objectives_is_refused_naming_both(created: list[str], asked: list[str], shown: str) -> None:
    study = _created(created)
    assert objectives_mismatch(study, created, "s.yaml") is None
    assert objectives_mismatch(study, asked, "s.yaml").startswith(f"was created with objectives {shown}")


def test_directions_are_compared_too() -> None:
    """A study made elsewhere under the same metric names, but maximising the second: its values mean the opposite."""
    study = optuna.create_study(directions=["minimize", "maximize"])
    study.set_metric_names(["best val MSE", "colourfulness"])
    assert objectives_mismatch(study, ["val_mse", "colourfulness"], "s.yaml") is None
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["best val MSE", "colourfulness"])
    assert objectives_mismatch(study, ["val_mse", "colourfulness"], "s.yaml") == (
        "was created with objectives [val_mse, colourfulness] (minimize, minimize), "
        "but s.yaml asks for [val_mse, colourfulness] (minimize, maximize)"
    )


def test_a_study_without_names_is_compared_by_directions_and_named_once() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])  # an older study: Optuna's metric names unset
    assert objectives_mismatch(study, ["val_mse", "n_params"], "s.yaml") is None
    assert "was created with objectives [unnamed] (minimize, minimize)" in objectives_mismatch(study, ["val_mse"], "s.yaml")
    record_objectives(study, ["val_mse", "n_params"])
    record_objectives(study, ["val_mse", "latent_size"])  # what it was created with stays
    assert study.metric_names == ["best val MSE", "parameters"]
    study.set_metric_names(["loss", "size"])  # named by another program: shown as it is
    assert "[val_mse, n_params]" in objectives_mismatch(study, ["val_mse", "n_params"], "s.yaml")
    assert "objectives ['loss', 'size'] (minimize, minimize)" in objectives_mismatch(study, ["val_mse", "n_params"], "s.yaml")


def test_the_front_is_read_by_size_where_size_is_an_objective() -> None:
    def trial(error: float, latent: int, colour: float) -> optuna.trial.FrozenTrial:
        return create_trial(
            values=[error, latent], user_attrs={"val_mse": [error], "latent_size": latent, "val_colourfulness_ratio": colour}
        )

    sized = _created(["val_mse", "latent_size"])
    for error, latent in ((0.01, 512), (0.03, 64), (0.02, 128)):
        sized.add_trial(trial(error, latent, 0.5))
    assert [t.user_attrs["latent_size"] for t in pareto_trials(sized)] == [64, 128, 512]
    coloured = _created(["val_mse", "colourfulness"])
    for error, colour in ((0.01, 0.5), (0.03, 0.9)):
        coloured.add_trial(create_trial(values=[error, colour], user_attrs={"val_mse": [error], "latent_size": 64}))
    assert [best_val_mse(t) for t in pareto_trials(coloured)] == [0.01, 0.03]  # no size objective: by error
