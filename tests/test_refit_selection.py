"""Refit's choice of designs: one checked :class:`~search.selection.Selection` for ``search.refit`` and ``search refit``
alike, its refusals worded with the library's parameters and, on the command line, with the same words as flags; a design
the parent cannot give is a :class:`~search.selection.DesignError`, not a storage's error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import search
from search.cli import main
from search.refits import choose_designs, refit_space
from search.runtime.storage import StorageError
from search.selection import DesignError, Selection
from search.space import SpaceError

MODEL = {"study": {"name": "chosen"}, "model": {"depth": 2, "channels": 8, "latent_channels": 4}}  # a conv code of 8×8 maps


def test_a_selection_is_a_frozen_value_with_each_number_once() -> None:
    selection = Selection.of(trials=[3, 7, 3], latent=[128, 64, 128])
    assert selection == Selection(front=False, trials=(3, 7), latent=(128, 64), best=False, within=0.0)
    assert Selection.of(best=True, within=0.005, latent=[64]) == Selection(best=True, within=0.005, latent=(64,))
    assert Selection.of(front=True) == Selection(front=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        selection.best = True  # type: ignore[misc]


# (arguments, what the library says after "refit: ", the command's flags for the same choice, what the command says after "error: ")
REFUSED = [
    ({}, "front=: expected one of front=, trials=N..., latent=D..., best=, or trials= or best= with latent=", []),
    ({"front": True, "latent": [64]}, "front=: expected one of front=, trials=N...", ["--front", "--latent", "64"]),
    ({"front": True, "trials": [0]}, "front=: expected one of front=, trials=N...", ["--front", "--trial", "0"]),
    ({"best": True, "front": True}, "best=: expected best= alone or with latent=D..., not with front= or trials=", ["--best", "--front"]),
    ({"best": True, "trials": [0], "latent": [64]}, "best=: expected best= alone or with latent=D...", ["--best", "--trial", "0"]),
    ({"front": True, "within": 0.01}, "within=: applies to best=: add best= or drop within=", ["--front", "--within", "0.01"]),
    ({"best": True, "within": 2}, "within=: expected a fraction from 0 to 1, got 2", None),
    ({"best": True, "within": True}, "within=: expected a fraction from 0 to 1, got True", None),
    ({"latent": [64, 0]}, "latent=: expected an integer ≥ 1, got 0", None),
    ({"trials": [1.0]}, "trials=: expected an integer ≥ 0, got 1.0", None),
]
COMMAND = {
    "front=: expected one of front=, trials=N..., latent=D..., best=, or trials= or best= with latent=": (
        "--front: expected one of --front, --trial N..., --latent D..., --best, or --trial or --best with --latent"
    ),
    "front=: expected one of front=, trials=N...": "--front: expected one of --front, --trial N...",
    "best=: expected best= alone or with latent=D..., not with front= or trials=": (
        "--best: expected --best alone or with --latent D..., not with --front or --trial"
    ),
    "best=: expected best= alone or with latent=D...": "--best: expected --best alone or with --latent D...",
    "within=: applies to best=: add best= or drop within=": "--within: applies to --best: add --best or drop --within",
}


@pytest.mark.parametrize(("arguments", "said", "flags"), REFUSED, ids=[str(a) for a, _, _ in REFUSED])
def test_a_bad_choice_is_refused_naming_the_parameter_before_the_parent_is_read(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], arguments: dict, said: str, flags: list[str] | None
) -> None:
    with pytest.raises(SpaceError) as caught:
        search.refit("parent", epochs=1, storage="sqlite:///studies/parent.db", **arguments)
    assert str(caught.value).startswith(f"refit: {said}")
    assert not Path("studies").exists()
    if flags is None:  # a value argparse refuses itself (tests/test_api.py)
        return
    assert main(["refit", "--study", "parent", *flags, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: command line: {COMMAND[said]}") and err.count("\n") == 1, err
    assert not Path("studies").exists()


def test_the_child_is_named_once_for_both(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SpaceError, match=r"^refit: into=: expected a study other than its parent p \(a refit is a child study\)$"):
        search.refit("p", epochs=1, front=True, into="p")
    with pytest.raises(SpaceError, match=r"^refit: into=: expected a name of letters"):
        search.refit("p", epochs=1, front=True, into="../x")
    assert main(["refit", "--study", "p", "--front", "--epochs", "1", "--into", "p"]) == 2
    assert capsys.readouterr().err == "error: command line: --into: expected a study other than its parent p (a refit is a child study)\n"
    assert not Path("studies").exists()


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    """An in-memory study of two objectives: two completed trials of one design (no PCA recorded) and a pruned one."""
    arch = search.architecture(search.space_from_dict(MODEL), seed=0)
    study = optuna.create_study(study_name="mem", directions=["minimize", "minimize"])
    for val_mse in (0.02, 0.01):
        attrs = {"architecture": arch.to_dict(), "train": {}, "val_mse": [val_mse], "latent_size": arch.latent_size}
        study.add_trial(create_trial(values=[val_mse, arch.latent_size], user_attrs=attrs))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"val_mse": [0.5]}))
    return study


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"trials": [2]}, "trial 2 of study mem is not a completed trial (only those keep a design)"),
        ({"latent": [100]}, "latent 100: no design on the front of study mem can be built at that size"),
        ({"trials": [0], "latent": [100]}, "latent 100: trial 0 of study mem cannot be built at that size"),
        ({"best": True}, "study mem has no completed trial with PCA's error recorded"),
    ],
)
def test_a_design_the_parent_cannot_give_is_a_design_error(study: optuna.Study, arguments: dict, said: str) -> None:
    with pytest.raises(DesignError) as caught:
        choose_designs(study, **arguments)
    assert str(caught.value).startswith(said) and not isinstance(caught.value, StorageError)


def test_the_designs_a_selection_picks_and_the_parent_space_they_need(study: optuna.Study) -> None:
    assert [d["lineage"]["trial"] for d in choose_designs(study, trials=[1, 0, 1])] == [1, 0]
    assert [(d["lineage"]["trial"], d["lineage"]["latent"]) for d in choose_designs(study, latent=[64, 128])] == [(1, 64), (1, 128)]
    with pytest.raises(DesignError, match=r"^study mem recorded no space, so its data and objectives are unknown$"):
        refit_space(study, choose_designs(study, front=True), 1, "mem-refit")
    empty = optuna.create_study(study_name="empty")
    with pytest.raises(DesignError, match=r"^study empty has no completed trial to refit$"):
        choose_designs(empty, front=True)
