"""The samplers and pruners a space may name: one registry (search.space.schema.COMPONENTS) that the parser
checks without Optuna, and the factories that build from it in the run."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import textwrap
from dataclasses import MISSING
from pathlib import Path

import optuna
import pytest

from search.factories import check_components, make_pruner, make_sampler
from search.pruning.latent_pruner import LatentPercentilePruner
from search.space import SpaceError, load_space
from search.space.schema import COMPONENTS, PRUNERS
from tests.conftest import SPACES

# The project's own choices where they differ from Optuna's (the registry's comment says why).
PROJECT_DEFAULTS = {("sampler", "tpe"): {"seed", "multivariate", "group"}}

ENTRIES = [(kind, name) for kind, registry in COMPONENTS.items() for name in registry]


def _factory(kind: str, name: str) -> type:
    module, _, attr = COMPONENTS[kind][name].factory.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=[f"{k}-{n}" for k, n in ENTRIES])
def test_the_registry_follows_the_factory_signatures(kind: str, name: str) -> None:
    """Every declared key is an argument of the class, with the class's default (or the project's declared choice),
    and every argument the class requires is required or derived: an Optuna upgrade that moves one fails here."""
    component = COMPONENTS[kind][name]
    parameters = inspect.signature(_factory(kind, name)).parameters
    for key, default in component.settings.items():
        assert key in parameters, f"{name} {kind}: {key} is no argument of {component.factory}"
        optuna_default = parameters[key].default
        if default is MISSING:
            assert optuna_default is inspect.Parameter.empty, f"{name} {kind}: {key} is optional in Optuna"
        elif default is not None and key not in PROJECT_DEFAULTS.get((kind, name), set()):
            assert default == optuna_default, f"{name} {kind}: {key} declared {default!r}, Optuna's is {optuna_default!r}"
    required = {k for k, p in parameters.items() if p.default is inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}
    assert required <= {k for k, d in component.settings.items() if d is MISSING} | set(component.derived)


def test_built_objects_carry_the_declared_defaults_and_the_space_settings() -> None:
    tpe = make_sampler({"type": "tpe"}, seed_offset=3)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert (tpe._multivariate, tpe._group, tpe._n_startup_trials) == (True, True, 10)
    # the seed offset moves the declared seed 0 to 3: the same draws as a sampler seeded 3
    assert tpe._rng.rng.random() == optuna.samplers.TPESampler(seed=3)._rng.rng.random()
    median = make_pruner({"type": "median", "n_startup_trials": 7, "n_warmup_steps": 2})
    assert (type(median), median._n_startup_trials, median._n_warmup_steps) == (optuna.pruners.MedianPruner, 7, 2)
    latent = make_pruner({"type": "latent_percentile", "latent_factor": 4})
    assert isinstance(latent, LatentPercentilePruner) and (latent.latent_factor, latent.n_min_trials) == (4, 3)
    grid = make_sampler({"type": "grid", "seed": 0}, grid={"model.kernel": [3, 5]})
    assert isinstance(grid, optuna.samplers.GridSampler) and grid._search_space == {"model.kernel": [3, 5]}


def test_a_value_optuna_refuses_is_a_space_error_naming_the_section() -> None:
    with pytest.raises(SpaceError) as caught:
        make_pruner({"type": "percentile", "percentile": 150, "n_warmup_steps": 0}, file="bad.yaml")
    assert str(caught.value).startswith("bad.yaml: study.pruner: expected valid percentile pruner settings (Percentile must be")
    with pytest.raises(SpaceError, match=r"^bad.yaml: study.sampler: expected valid nsga2 sampler settings \(") as caught:
        make_sampler({"type": "nsga2", "population_size": 1}, file="bad.yaml")
    assert "\n" not in str(caught.value)


def _space(tmp_path: Path, study: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(f"study: {study}\ntrain: {{epochs: 1}}\nmodel: {{depth: 1, channels: 4, latent_channels: 2}}\n")
    return path


@pytest.mark.parametrize(
    ("study", "key", "expected"),
    [
        ("{pruner: {type: percentile}}", "study.pruner.percentile", "missing: the percentile pruner needs its percentile"),
        (
            "{pruner: {type: none, n_startup_trials: 1}}",
            "study.pruner.n_startup_trials",
            "unknown none pruner setting; the none pruner takes none",
        ),
        # callables cannot be written in YAML, so the registry does not offer them
        ("{sampler: {type: tpe, gamma: 0.1}}", "study.sampler.gamma", "unknown tpe sampler setting; expected one of seed, multivariate"),
        ("{sampler: {type: grid, search_space: {a: [1]}}}", "study.sampler.search_space", "unknown grid sampler setting"),
        ("{sampler: [tpe]}", "study.sampler", "expected a mapping of sampler settings, got ["),
    ],
)
def test_the_parser_checks_names_and_keys_against_the_registry(tmp_path: Path, study: str, key: str, expected: str) -> None:
    path = _space(tmp_path, study)
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    assert str(caught.value).startswith(f"{path}: {key}: {expected}"), str(caught.value)


def test_values_are_judged_by_the_run_not_the_parser(tmp_path: Path) -> None:
    path = _space(tmp_path, "{pruner: {type: median, n_startup_trials: -1}}")
    space = load_space(path)  # names and keys are fine: parsing accepts it
    with pytest.raises(SpaceError, match=rf"^{path}: study.pruner: expected valid median pruner settings \(Number of startup trials"):
        check_components(space.study, space.path)


def test_parsing_a_space_imports_neither_optuna_nor_torch() -> None:
    code = textwrap.dedent(f"""
        import sys
        from search.space import load_space
        for name in ("recon", "pareto", "latent", "colorize"):
            load_space({str(SPACES)!r} + f"/{{name}}.yaml")
        print(sorted(m for m in ("optuna", "torch") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_new_pruner_is_one_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a new pruner needs: one Component in PRUNERS; the parser, the multi-objective rule and the factory follow."""
    from search.space import schema

    entry = schema.Component("optuna.pruners.ThresholdPruner", {"upper": MISSING, "n_warmup_steps": 0}, multi_objective=True)
    monkeypatch.setitem(PRUNERS, "threshold", entry)
    with pytest.raises(SpaceError, match="unknown threshold pruner setting \\(did you mean upper\\?\\)"):
        load_space(_space(tmp_path, "{pruner: {type: threshold, uper: 2}}"))
    space = load_space(_space(tmp_path, "{objectives: [val_mse, latent_size], pruner: {type: threshold, upper: 2}}"))
    pruner = make_pruner(space.study.pruner)
    assert isinstance(pruner, optuna.pruners.ThresholdPruner) and pruner._upper == 2
