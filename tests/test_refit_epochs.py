"""A refit's data and epochs: the parent's data without its subset unless told (a search on a subset refits on the whole
training split), and epochs per asked size (``epochs={64: 40, 128: 30}``, ``--epochs 40 30``), each design trained its
own, recorded, resumed and refused in one line where the sizes do not match."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import yaml
from rich.console import Console

import search
from search.cli import main
from search.refits import choose_designs, design_epochs, refit_space
from search.space import SpaceError
from search.trials.record import read_trial
from tests.test_refit_into import _parent

SMALL = ["data.subset=300"]  # what the tests refit on: the parent's own subset, asked for


@pytest.fixture(scope="module")
def parent_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """studies/base.db: three completed trials on 300 images, codes on 16 × 16 maps (latent sizes multiples of 256)."""
    return _parent(tmp_path_factory, 300)


@pytest.fixture
def parent(parent_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    folder = tmp_path / "work"
    shutil.copytree(parent_folder, folder)
    monkeypatch.chdir(folder)
    return optuna.load_study(study_name="base", storage="sqlite:///studies/base.db")


def _recorded_data(study: optuna.Study) -> dict:
    """The data of the space ``study`` recorded (before its overrides)."""
    return yaml.safe_load(study.user_attrs["space"])["data"]


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's own refusals
        return int(stop.code)


def test_a_refit_trains_on_the_parents_data_without_its_subset_unless_told(parent: optuna.Study) -> None:
    space = refit_space(parent, choose_designs(parent, trials=[0]), 1, "X")
    assert "subset" not in space["data"] and space["data"]["split"] == [0.8, 0.1, 0.1] and space["data"]["dataset"] == "cifar10"
    assert search.space_from_dict(space).data.subset is None
    assert search.space_from_dict(space, overrides=SMALL).data.subset == 300
    lines = Console(record=True, width=300)
    child = search.refit("base", trials=[0], epochs=1, into="X", overrides=SMALL, console=lines)
    assert "240 train / 30 val / 30 test images" in lines.export_text().splitlines()[0]  # the run's first line: the subset
    assert "subset" not in _recorded_data(child) and child.user_attrs["overrides"] == SMALL


def test_each_size_trains_its_own_epochs_and_the_record_says_them(parent: optuna.Study, capsys: pytest.CaptureFixture[str]) -> None:
    latent = read_trial(parent.trials[0]).latent_size
    sizes = [256, 512] if latent != 256 else [512, 256]
    epochs = {sizes[0]: 2, sizes[1]: 1}
    child = search.refit("base", trials=[0], latent=sizes, epochs=epochs, into="X", overrides=SMALL)
    trained = {read_trial(t).latent_size: len(t.user_attrs["val_mse"]) for t in child.trials}
    assert trained == epochs
    assert child.user_attrs["refit_of"] == {"study": "base", "trials": [0, 0], "epochs": [2, 1]}
    # the same refit asked again, on the command line: nothing to do, in words that say each size's epochs
    argv = ["refit", "--study", "base", "--trial", "0", "--latent", *map(str, sizes), "--set", SMALL[0], "--into", "X"]
    assert _code([*argv, "--epochs", "2", "1"]) == 0
    assert f"trained 2, 1 epochs at latent {sizes[0]}, {sizes[1]}" in capsys.readouterr().out
    # other epochs per size: refused, naming both
    assert _code([*argv, "--epochs", "3", "1"]) == 2
    err = capsys.readouterr().err
    assert f"at --epochs {{{sizes[0]}: 2, {sizes[1]}: 1}}; this one asks --epochs {{{sizes[0]}: 3, {sizes[1]}: 1}}" in err
    assert err.count("\n") == 1


def test_per_size_epochs_are_written_into_each_design_and_equal_ones_are_one_number(parent: optuna.Study) -> None:
    designs = choose_designs(parent, trials=[0, 1], latent=[256, 512])
    space = refit_space(parent, designs, {256: 5, 512: 3}, "X")
    assert "train" not in space and design_epochs(space) == [5, 3, 5, 3]
    assert [d["train"]["epochs"] for d in space["model"]["designs"]] == [5, 3, 5, 3]
    assert [d["train"]["epochs"] for d in designs] == [1, 1, 1, 1]  # the designs asked for are left as they were
    assert design_epochs(refit_space(parent, designs, 4, "X")) == [4, 4, 4, 4]


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ({"latent": [256, 512], "epochs": {256: 2}}, "refit: epochs=: expected one number for each of latent=256, 512, got them for 256"),
        ({"latent": [256], "epochs": {256: 2, 512: 1}}, "expected one number for each of latent=256, got them for 256, 512"),
        ({"trials": [0], "epochs": {256: 2}}, "epochs=: a number per latent size applies to latent=D...: give one number"),
        ({"latent": [256, 512], "epochs": {256: 2, 512: 0}}, "epochs=: expected an integer from 1 to 100000, got 0"),
    ],
)
def test_epochs_per_size_that_do_not_match_the_sizes_are_refused_before_the_parent_is_read(
    in_tmp: Path, arguments: dict, said: str
) -> None:
    with pytest.raises(SpaceError) as caught:
        search.refit("parent", storage="sqlite:///studies/parent.db", **arguments)
    assert said in str(caught.value)
    assert not Path("studies").exists()


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--latent", "64", "128", "--epochs", "3", "2", "1"], "--epochs: expected one number, or one per size of --latent, got 3"),
        (["--trial", "0", "--epochs", "3", "2"], "got 2 for no --latent"),
        (["--latent", "64", "64", "--epochs", "3", "2"], "got 2 for --latent 64 64"),
    ],
)
def test_the_command_refuses_epochs_that_do_not_match_its_sizes_in_one_line(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    assert _code(["refit", "--study", "parent", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and said in err and err.count("\n") == 1
    assert not Path("studies").exists()
