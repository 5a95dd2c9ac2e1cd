"""``search refit --into`` a study that exists: the same refit trains only the designs it lacks (each exactly once, an
interrupted refit resumed included) and says "nothing to do" when it holds them all; anything else (an unrelated study,
other designs, epochs or overrides) is refused in one line with nothing written, and ``refit_of`` names only epochs trained.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

import search
from search.cli import main
from search.refits import choose_designs, refit_space
from tests.test_interrupted_grid import signal_at

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def _space(subset: int) -> dict:
    return {
        "study": {"name": "base", "sampler": {"type": "random", "seed": 1}, "pruner": {"type": "none"}},
        "data": {"subset": subset},
        "train": {"epochs": 1, "batch_size": 64, "lr": 0.005},
        "model": {"depth": 1, "channels": {"int": [4, 8]}, "latent_channels": {"int": [2, 6]}, "downsample": "stride"},
    }


def _parent(factory: pytest.TempPathFactory, subset: int) -> Path:
    folder = factory.mktemp("parent")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        search.optimize(_space(subset), trials=3)
    return folder


@pytest.fixture(scope="module")
def small_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """studies/base.db: three completed trials on 300 images (seconds to refit)."""
    return _parent(tmp_path_factory, 300)


@pytest.fixture
def parent(small_parent: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the small parent's folder to refit from and into, as the working directory."""
    folder = tmp_path / "work"
    shutil.copytree(small_parent, folder)
    monkeypatch.chdir(folder)
    return folder


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's own refusals
        return int(stop.code)


def _rows(folder: Path) -> dict[str, list[str]]:
    """Every row of every database under ``folder/studies``: what a refused command must leave as it was."""
    rows = {}
    for db in sorted((folder / "studies").glob("*.db")):
        with sqlite3.connect(db) as connection:
            rows[db.name] = list(connection.iterdump())
    return rows


def _designs(folder: Path, name: str = "X") -> Counter:
    child = optuna.load_study(study_name=name, storage=f"sqlite:///{folder}/studies/{name}.db")
    return Counter(t.params["design"] for t in child.get_trials(states=FINISHED))


SMALL = ["--set", "data.subset=300"]  # the parent's subset: a refit trains on the whole training split unless told
REFIT = ["refit", "--study", "base", "--trial", "0", "1", *SMALL, "--into", "X"]


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_the_same_refit_again_says_nothing_to_do_and_writes_nothing(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _code([*REFIT, "--epochs", "1"]) == 0
    before = _rows(parent)
    capsys.readouterr()
    assert _code([*REFIT, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "nothing to do: study X holds every design of this refit (2), trained 1 epochs each" in out
    assert "--trials" not in out  # refit has no such flag
    assert _rows(parent) == before and _designs(parent) == {0: 1, 1: 1}


def test_the_same_refit_with_other_epochs_is_refused_naming_both(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _code([*REFIT, "--epochs", "1"]) == 0
    before = _rows(parent)
    capsys.readouterr()
    assert _code([*REFIT, "--epochs", "3"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "--into X: study X in sqlite:///studies/X.db is the refit of study base's trials 0, 1 at --epochs 1" in err
    assert "this one asks --epochs 3: resume it with --epochs 1, or give --into another name" in err
    assert _rows(parent) == before  # refit_of still names the epochs that were trained
    child = optuna.load_study(study_name="X", storage="sqlite:///studies/X.db")
    assert child.user_attrs["refit_of"] == {"study": "base", "trials": [0, 1], "epochs": 1}


@pytest.mark.parametrize(
    ("other", "said"),
    [
        (["--trial", "0", "2"], "this refit trains study base's trials 0, 2"),
        (["--trial", "0", "1", "--set", "train.batch_size=32"], "with other overrides"),
    ],
)
def test_another_refit_into_the_same_study_is_refused(
    parent: Path, capsys: pytest.CaptureFixture[str], other: list[str], said: str
) -> None:
    assert _code([*REFIT, "--epochs", "1"]) == 0
    before = _rows(parent)
    capsys.readouterr()
    assert _code(["refit", "--study", "base", *other, "--epochs", "1", "--into", "X"]) == 2
    assert said in _one_line(capsys.readouterr().err)
    assert _rows(parent) == before


def test_the_same_designs_asked_in_another_order_are_the_same_refit(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _code([*REFIT, "--epochs", "1"]) == 0
    before = _rows(parent)
    capsys.readouterr()
    assert _code(["refit", "--study", "base", "--trial", "1", "0", *SMALL, "--into", "X", "--epochs", "1"]) == 0
    assert "nothing to do" in capsys.readouterr().out and _rows(parent) == before


def test_a_refit_into_an_unrelated_study_is_refused_and_nothing_is_written(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    search.optimize(_space(300) | {"study": {"name": "other", "sampler": {"type": "random"}}}, trials=1)
    before = _rows(parent)
    assert _code([*REFIT[:-1], "other", "--epochs", "1"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "--into other: study other in sqlite:///studies/other.db is a search of" in err and "with 1 trial, not a refit" in err
    assert _rows(parent) == before
    assert "refit_of" not in optuna.load_study(study_name="other", storage="sqlite:///studies/other.db").user_attrs


def test_a_refit_resumed_trains_only_the_designs_it_lacks(parent: Path) -> None:
    base = optuna.load_study(study_name="base", storage="sqlite:///studies/base.db")
    designs = choose_designs(base, trials=[0, 1, 2])
    # a refit that stopped after its first design: the child holds one finished trial
    search.optimize(refit_space(base, designs, 1, "X"), trials=1, study_name="X", storage="sqlite:///studies/X.db", overrides=SMALL[1:])
    child = search.refit("base", trials=[0, 1, 2], epochs=1, into="X", overrides=SMALL[1:])
    assert _designs(parent) == {0: 1, 1: 1, 2: 1} and len(child.trials) == 3
    assert child.user_attrs["refit_of"] == {"study": "base", "trials": [0, 1, 2], "epochs": 1}


def test_a_refit_left_by_an_earlier_version_with_a_design_twice_is_refused(parent: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = optuna.load_study(study_name="base", storage="sqlite:///studies/base.db")
    child = search.optimize(refit_space(base, choose_designs(base, trials=[0, 1]), 1, "X"), trials=1, study_name="X", overrides=SMALL[1:])
    done = child.trials[0]  # a handed-back design trained again under the other one's grid id: the other one never
    child.add_trial(create_trial(values=done.values, params=done.params, distributions=done.distributions, user_attrs=done.user_attrs))
    before = _rows(parent)
    assert _code([*REFIT, "--epochs", "1"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"holds 2 finished trials of 2 designs, and design {1 - done.params['design']} was never trained" in err
    assert _rows(parent) == before


# --- an interrupted refit command, resumed ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """studies/base.db: three completed trials on 2,000 images (epochs long enough to be stopped in)."""
    return _parent(tmp_path_factory, 2000)


@pytest.mark.slow  # fresh processes importing torch, two or three runs of one refit: a minute or two on 2 busy cores
@pytest.mark.serial  # signals timed against a trial's epochs
@pytest.mark.parametrize(
    ("signum", "trial", "epochs"),
    [(signal.SIGTERM, 1, 1), (signal.SIGINT, 1, 2), (signal.SIGINT, 0, 0)],
    ids=["sigterm-mid-design-trial-1", "sigint-mid-trial-1", "sigint-at-the-start"],
)
def test_an_interrupted_refit_resumed_trains_each_design_exactly_once(
    slow_parent: Path, tmp_path: Path, signum: int, trial: int, epochs: int
) -> None:
    folder = tmp_path / "work"
    shutil.copytree(slow_parent, folder)
    command = [sys.executable, "-m", "search", "refit", "--study", "base", "--trial", "0", "1", "2", "--set", "data.subset=2000"]
    command += ["--epochs", "4", "--into", "X"]
    url = f"sqlite:///{folder}/studies/X.db"
    signal_at(command, folder, url, "X", signum, trial, epochs)
    # the same refit with other epochs is refused, and leaves the interrupted one as it was
    before = _rows(folder)
    other = subprocess.run([*command[:-3], "8", "--into", "X"], cwd=folder, capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "at --epochs 4; this one asks --epochs 8" in other.stderr, other.stderr
    assert _rows(folder) == before
    again = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _designs(folder) == {0: 1, 1: 1, 2: 1}
    child = optuna.load_study(study_name="X", storage=url)
    assert child.user_attrs["refit_of"] == {"study": "base", "trials": [0, 1, 2], "epochs": 4}
    assert [t.state for t in child.trials].count(TrialState.FAIL) == 1
