"""A run as a plan, then its execution: the space checked once into a :class:`~search.plan.Plan` that says what will run,
the objective's pruning policy and task role chosen once, and one way of quieting Optuna."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import optuna
import pytest
from rich.console import Console
from rich.table import Table

import search.space_check
from cae.tasks import TASKS, adapt, task_of_architecture
from search.display import quiet_optuna
from search.factories import make_pruner
from search.plan import Plan, plan
from search.pruning.policy import NeverPrunes, ReadsCurves, Reports, epoch_policy
from search.space import SpaceError, load_space
from search.space_check import check_space
from tests.conftest import SPACES

SMALL = ["data.subset=200", "train.epochs=1"]
# a grid of two points: channels 4 or 6, everything else fixed
GRID = [
    *SMALL,
    "study.sampler={type: grid, seed: 0}",
    "study.pruner={type: none}",
    "model.depth=1",
    "model.channels={choice: [4, 6]}",
    "model.latent_channels=2",
    "model.downsample=stride",
    "model.upsample=nearest",
    "train.batch_size=32",
    "train.lr=0.001",
]


def _plan(overrides: list[str], *, space: str = "tiny.yaml", trials: int = 5, name: str | None = None) -> Plan:
    with quiet_optuna():  # as optimize plans
        return plan(
            load_space(SPACES / space, overrides),
            trials=trials,
            timeout=None,
            study_name=name,
            storage=None,
            workers=1,
            grace=60,
            artifacts=None,
            console=Console(quiet=True),
        )


def _text(parts: list) -> str:
    out = io.StringIO()
    console = Console(width=300, file=out)
    for part in parts:
        console.print(part)
    return out.getvalue()


def test_a_grid_is_built_once_and_caps_the_trials(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    grid_search_space = search.space_check.grid_search_space
    monkeypatch.setattr(search.space_check, "grid_search_space", lambda *a, **k: built.append(1) or grid_search_space(*a, **k))
    planned = _plan(GRID, name="grid")
    assert len(built) == 1  # the check and the sampler read one grid
    assert planned.grid == {"channels.0": [4, 6]}
    assert (planned.trials, planned.target, planned.done) == (5, 2, 0)
    lines = _text(planned.describe()).splitlines()
    assert lines[0].startswith("study grid in sqlite:///studies/grid.db: 0 of 5 finished trials · ")
    assert lines[0].endswith("160 train / 20 val / 20 test images · the model sees 3 × 32 × 32")
    assert lines[1:] == ["the grid has 2 points: the study ends at 2 finished trials"]
    assert planned.artifacts == (in_tmp / "studies" / "grid" / "artifacts").resolve()


def test_a_fixed_space_plans_its_architecture_and_a_drawn_one_none(in_tmp: Path) -> None:
    fixed = _plan(SMALL, space="transposed.yaml", trials=1)
    assert fixed.grid is None and fixed.target == 1
    assert fixed.fixed == check_space(load_space(SPACES / "transposed.yaml", SMALL))
    parts = fixed.describe()
    assert isinstance(parts[1], Table) and len(parts) == 2
    assert "architecture of " in _text(parts) and "1,495 parameters" in _text(parts)
    drawn = _plan(SMALL, trials=1)
    assert drawn.fixed is None and len(drawn.describe()) == 1


def test_a_bad_space_is_refused_before_a_study_is_made(in_tmp: Path) -> None:
    with pytest.raises(SpaceError, match=r"train\.batch_size: expected at most the training split's 160 images"):
        _plan([*SMALL, "train.batch_size=1000"], name="bad")
    assert not (in_tmp / "studies" / "bad.db").exists()  # refused data leaves nothing behind


def test_the_pruning_policy_follows_the_study_s_pruner_and_objectives() -> None:
    curves = epoch_policy(optuna.create_study(pruner=make_pruner({"type": "pareto_halving"})))
    assert isinstance(curves, ReadsCurves)
    assert isinstance(epoch_policy(optuna.create_study(pruner=optuna.pruners.MedianPruner())), Reports)
    several = optuna.create_study(directions=["minimize", "minimize"], pruner=optuna.pruners.MedianPruner())
    assert isinstance(epoch_policy(several), NeverPrunes)


def test_a_task_says_whether_the_model_reconstructs_its_input() -> None:
    arch = check_space(load_space(SPACES / "transposed.yaml"))
    assert arch is not None
    assert task_of_architecture(arch.architecture).reconstructs
    for name in ("colorization", "colorization_chroma"):
        task = task_of_architecture(adapt(arch.architecture, TASKS[name]))
        assert task.name == name and not task.reconstructs


def test_quiet_optuna_puts_the_verbosity_and_the_warning_filters_back() -> None:
    verbosity, filters = optuna.logging.get_verbosity(), list(warnings.filters)
    try:
        optuna.logging.set_verbosity(logging.INFO)
        with quiet_optuna():
            assert optuna.logging.get_verbosity() == logging.ERROR
            with warnings.catch_warnings(record=True) as caught:
                warnings.warn("experimental", optuna.exceptions.ExperimentalWarning, stacklevel=1)
            assert caught == []
        assert optuna.logging.get_verbosity() == logging.INFO and warnings.filters == filters
        quiet_optuna()  # a process's entry point: quiet from then on
        assert optuna.logging.get_verbosity() == logging.ERROR
    finally:
        optuna.logging.set_verbosity(verbosity)
        warnings.filters[:] = filters
