"""Spaces that sweep a grid (spaces/latent.yaml) and spaces that start from another study (spaces/colorize.yaml)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cae.spec import Architecture
from search.cli import main
from search.trials.start import best_start, latent_front
from tests.conftest import SPACES

LATENT = str(SPACES / "latent.yaml")
QUICK = ["--set", "data.subset=200", "--set", "train.epochs=1"]


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_latent_grid_runs_every_size_once_then_stops(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", LATENT, "--trials", "100", *QUICK]) == 0
    study = optuna.load_study(study_name="latent", storage="sqlite:///studies/latent.db")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    sizes = sorted(t.user_attrs["latent_size"] for t in trials)
    assert sizes == [48, 64, 128, 256, 384, 768, 1024, 1536, 3072]
    assert len(study.trials) == 9
    assert "the grid has 9 points" in capsys.readouterr().out
    assert main(["run", LATENT, "--trials", "100", *QUICK]) == 0
    assert "nothing to do" in capsys.readouterr().out and len(study.get_trials()) == 9


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["study.sampler={type: grid}", "model.channels={int: [4, 8]}", "model.depth={int: [1, 2]}"], "grid sampler"),
        (["study.sampler={type: grid}", "train.lr={float: [0.001, 0.01]}"], "train.lr: expected {choice: [...]}"),
        (["study.sampler={type: grid, search_space: {a: [1]}}"], "study.sampler.search_space: unknown grid sampler setting"),
    ],
)
def test_grid_refuses_what_it_cannot_enumerate(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], message: str
) -> None:
    args = [arg for o in overrides for arg in ("--set", o)]
    assert main(["run", LATENT, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not Path("studies/latent.db").exists()


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_colorize_space_starts_from_the_best_trial(in_tmp: Path) -> None:
    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "2", "--set", "data.subset=200"]) == 0
    best = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db").best_trial
    start = Architecture.from_dict(best.user_attrs["architecture"])
    args = ["--set", "start.study=tiny", "--set", "data.subset=200", "--set", "model.context=0"]
    args += ["--set", "task={choice: [colorization, colorization_chroma]}"]
    assert main(["run", str(SPACES / "colorize.yaml"), "--trials", "3", *args]) == 0
    study = optuna.load_study(study_name="colorize", storage="sqlite:///studies/colorize.db")
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 3
    for trial in finished:
        arch = Architecture.from_dict(trial.user_attrs["architecture"])
        out = 2 if trial.params["task"] == "colorization_chroma" else 3
        assert (arch.in_channels, arch.out_channels) == (1, out)
        assert arch.encoder[1:] == start.encoder[1:] and arch.latent_shape == start.latent_shape
        # keys the space leaves out keep the started trial's values; those it sets are its own
        train = trial.user_attrs["train"]
        assert train["batch_size"] == best.user_attrs["train"]["batch_size"] and train["epochs"] == 4
        assert train["lr"] == trial.params["lr"]


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_start_picks_a_trial_by_number_or_by_latent_size(in_tmp: Path) -> None:
    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "4", "--set", "data.subset=100", "--set", "train.epochs=1"]) == 0
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert best_start("tiny").origin.startswith(f"study tiny, trial {study.best_trial.number} ")
    last = complete[-1]
    assert best_start("tiny", trial=last.number).architecture.to_dict() == last.user_attrs["architecture"]
    # by latent size: a trial of the front (no other is both smaller and better), the nearest in log-size
    front = latent_front(complete)
    sizes = sorted(t.user_attrs["latent_size"] for t in front)
    picked = best_start("tiny", latent=sizes[0] // 4)
    assert f"(latent {sizes[0]:,})" in picked.origin
    for t in complete:
        if t not in front:
            assert any(f.user_attrs["latent_size"] <= t.user_attrs["latent_size"] and f.values[0] <= t.values[0] for f in front)


def test_a_started_study_is_analysed_without_its_parent(in_tmp: Path) -> None:
    from analysis import evaluate

    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "1", "--set", "data.subset=100", "--set", "train.epochs=1"]) == 0
    args = ["--set", "start.study=tiny", "--set", "data.subset=100", "--set", "train.epochs=1", "--set", "task=colorization_chroma"]
    assert main(["run", str(SPACES / "colorize.yaml"), "--trials", "1", *args]) == 0
    Path("studies/tiny.db").rename(in_tmp / "moved.db")  # the parent is gone
    child = optuna.load_study(study_name="colorize", storage="sqlite:///studies/colorize.db")
    recorded = child.user_attrs["start"]
    assert recorded["study"] == "tiny" and recorded["trial"] == 0 and recorded["origin"].startswith("study tiny, trial 0")
    assert Architecture.from_dict(recorded["architecture"]).in_channels == 3 and recorded["train"]["epochs"] == 1
    assert evaluate.main(["--study", "colorize", "--out", str(in_tmp / "out")]) == 0
    assert (in_tmp / "out" / "evaluate.csv").stat().st_size > 0


def test_start_from_a_missing_study_is_bad_input(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(SPACES / "colorize.yaml"), "--set", "start.study=nope"]) == 2
    err = capsys.readouterr().err
    assert "colorize.yaml: start.study: expected a study with a finished trial" in err and "nope" in err
    assert not Path("studies/colorize.db").exists()
