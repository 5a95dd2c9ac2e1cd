"""End to end: tiny studies on real CIFAR-10 in a temporary SQLite storage, pruning, resume, failures, CLI."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

import search.runtime.workers
import search.trials.objective
from cae.checkpoint import load_checkpoint
from cae.training import NonFiniteLoss
from search.cli import main
from tests.conftest import SPACES, run_cli

TINY = str(SPACES / "tiny.yaml")
# A pruner that keeps only trials in the best 10% at every epoch: pruning happens for sure.
STRICT = ["--set", "study.pruner={type: percentile, percentile: 10, n_startup_trials: 1, n_warmup_steps: 0}"]
SMALL = ["--set", "data.subset=300", "--set", "train.epochs=2"]


def load(name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///studies/{name}.db")


def states(study: optuna.Study) -> dict[TrialState, int]:
    return {s: len(study.get_trials(states=(s,))) for s in TrialState}


def break_training(monkeypatch: pytest.MonkeyPatch, failures: dict[int, BaseException]) -> None:
    """Make the n-th training of the run raise ``failures[n]``; the others train for real."""
    real_train = search.trials.objective.train
    calls = itertools.count(1)

    def train(*args, **kwargs):
        failure = failures.get(next(calls))
        if failure is not None:
            raise failure
        return real_train(*args, **kwargs)

    monkeypatch.setattr(search.trials.objective, "train", train)


def test_tiny_study_end_to_end_with_pruning(in_tmp: Path) -> None:
    assert main(["run", TINY, "--trials", "6", *SMALL, *STRICT]) == 0
    study = load()
    counts = states(study)
    assert counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] == 6
    assert counts[TrialState.PRUNED] >= 1 and counts[TrialState.COMPLETE] >= 1
    for trial in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = trial.user_attrs
        assert a["latent_size"] > 0 and a["n_params"] > 0
        epochs = len(a["val_mse"])
        assert len(a["train_mse"]) == len(a["epoch_seconds"]) == epochs >= 1
        # Intermediate values are the per-epoch validation MSE, which the pruner judged.
        assert trial.intermediate_values == {e + 1: v for e, v in enumerate(a["val_mse"])}
        if trial.state == TrialState.COMPLETE:
            assert epochs == 2
            assert trial.value == min(a["val_mse"]) == a["val_mse"][a["best_epoch"] - 1]
            assert 0 < a["test_mse"] < 0.1 and a["test_psnr"] > 10
            files = {m.filename: m for m in get_all_artifact_meta(trial, storage=study._storage)}
            assert set(files) == {"reconstructions.png", "model.pt"}
            stored = in_tmp / "studies" / "tiny" / "artifacts"
            assert (stored / files["reconstructions.png"].artifact_id).read_bytes()[:4] == b"\x89PNG"
            model = load_checkpoint(stored / files["model.pt"].artifact_id)
            assert sum(p.numel() for p in model.parameters()) == a["n_params"]
        else:
            assert epochs < 2 and a["reason"].startswith("pruned at epoch")
    assert (in_tmp / "studies" / "tiny" / "curves.png").stat().st_size > 10_000
    assert study.user_attrs["overrides"] == [*SMALL[1::2], STRICT[1]]


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_resume_finishes_the_remainder(in_tmp: Path) -> None:
    assert main(["run", TINY, "--trials", "3", *SMALL]) == 0
    before = {t.number: (t.params, t.value, t.state) for t in load().trials}
    assert main(["run", TINY, "--trials", "5", *SMALL]) == 0
    after = load()
    assert states(after)[TrialState.COMPLETE] + states(after)[TrialState.PRUNED] == 5
    assert {n: (t.params, t.value, t.state) for n, t in enumerate(after.trials) if n in before} == before
    # A resumed run continues the sampler's seed sequence instead of replaying the first draws.
    assert after.trials[3].params != after.trials[0].params
    assert main(["run", TINY, "--trials", "5", *SMALL]) == 0  # nothing to do, nothing changed
    assert len(load().trials) == len(after.trials)


def test_ctrl_c_exits_130_and_the_same_command_completes_the_study(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    break_training(monkeypatch, {2: KeyboardInterrupt()})
    assert main(["run", TINY, "--trials", "3", *SMALL]) == 130
    study = load()
    # Ctrl-C hands the trial back as SIGTERM does: failed with its reason, its parameters queued again
    assert [t.state for t in study.trials] == [study.trials[0].state, TrialState.FAIL, TrialState.WAITING]
    assert study.trials[1].user_attrs["reason"].startswith("interrupted (Ctrl-C)")
    assert main(["run", TINY, "--trials", "3", *SMALL]) == 0
    after = load()
    counts = states(after)
    assert counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] == 3
    assert counts[TrialState.FAIL] == 1 and counts[TrialState.RUNNING] == 0
    assert after.trials[2].params == after.trials[1].params  # the interrupted design, trained by the rerun


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_failing_and_refused_trials_are_recorded_and_the_study_goes_on(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    break_training(monkeypatch, {1: NonFiniteLoss("non-finite loss at epoch 3"), 2: RuntimeError("CUDA out of memory (simulated)")})
    # One stage leaves a 16×16 map, two an 8×8 one: latents of 2 to 8 channels over 500 values are refused trial by trial.
    refusing = ["--set", "model.depth={choice: [1, 2]}", "--set", "model.max_latent=500"]
    assert main(["run", TINY, "--trials", "4", *SMALL, *refusing]) == 0
    study = load()
    counts = states(study)
    assert counts[TrialState.COMPLETE] + counts[TrialState.PRUNED] == 4
    reasons = [t.user_attrs["reason"] for t in study.get_trials(states=(TrialState.FAIL,))]
    assert "non-finite loss at epoch 3" in reasons
    crash = next(r for r in reasons if r.startswith("RuntimeError"))
    assert "CUDA out of memory (simulated)" in crash
    assert (in_tmp / "studies" / "tiny" / "errors").is_dir() and "traceback in" in crash
    refused = [t for t in study.get_trials(states=(TrialState.FAIL,)) if t.user_attrs["reason"].startswith("refused:")]
    assert refused
    assert all("is above model.max_latent (500)" in t.user_attrs["reason"] for t in refused)


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_a_study_whose_every_trial_crashes_stops_with_exit_1(in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    break_training(monkeypatch, dict.fromkeys(range(1, 100), RuntimeError("broken")))
    assert main(["run", TINY, "--trials", "3", *SMALL]) == 1
    assert "10 trials in a row failed" in capsys.readouterr().out
    assert states(load())[TrialState.FAIL] == 10
    assert main(["best", "--study", "tiny"]) == 2
    assert capsys.readouterr().err == "error: --study tiny: no completed trial yet (0 complete · 0 pruned · 10 fail · 0 running)\n"


def test_best_shows_the_best_trial(in_tmp: Path, capsys) -> None:
    assert main(["run", TINY, "--trials", "2", *SMALL]) == 0
    capsys.readouterr()
    assert main(["best", "--study", "tiny"]) == 0
    out = capsys.readouterr().out
    best = load().best_trial
    assert f"best trial {best.number}" in out
    assert f"{best.value:.6f}" in out and f"{best.user_attrs['test_psnr']:.2f} dB" in out
    assert "reconstructions.png" in out and "latent" in out


BAD_COMMANDS = [
    (["run", "missing.yaml"], "missing.yaml: file: no such file"),
    (
        ["run", TINY, "--set", "model.depth={int: [5, 1]}"],
        "tiny.yaml: model.depth: expected {int: [low, high]} with low ≤ high, got [5, 1]",
    ),
    (
        ["run", TINY, "--set", "data.root=/nonexistent/cifar"],
        "tiny.yaml: data.root: /nonexistent/cifar: CIFAR-10 is not there and could not be downloaded",
    ),
    (["run", TINY, "--study", "../escape"], "--study: expected a name of letters"),
    (["run", TINY, "--storage", "postgresql://user:secret@127.0.0.1:1/db"], "--storage postgresql://user:***@127.0.0.1:1/db: cannot open"),
    (["best", "--study", "nothing"], "no such database"),
]


@pytest.mark.parametrize(("args", "message"), BAD_COMMANDS, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _) in enumerate(BAD_COMMANDS)])
def test_bad_input_exits_2_with_one_line(in_tmp: Path, capsys, args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert "secret" not in err


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_the_command_line_as_users_type_it(in_tmp: Path) -> None:
    bad = in_tmp / "bad.yaml"
    bad.write_text("model:\n  depth: {int: [5, 1]}\n")
    result = run_cli("run", str(bad), cwd=in_tmp)
    assert result.returncode == 2
    assert result.stderr == f"error: {bad}: model.depth: expected {{int: [low, high]}} with low ≤ high, got [5, 1]\n"
    assert "Traceback" not in result.stdout + result.stderr
    ok = run_cli("run", TINY, "--trials", "1", "--set", "data.subset=100", "--set", "train.epochs=1", cwd=in_tmp)
    assert ok.returncode == 0, ok.stderr
    assert "trial   0 complete" in ok.stdout and "PSNR" in ok.stdout
    assert "epoch 1/1" in ok.stdout  # a log file gets one line per epoch
    assert ok.stderr == ""


def test_existing_study_is_untouched_by_bad_input(in_tmp: Path) -> None:
    assert main(["run", TINY, "--trials", "1", *SMALL]) == 0
    before = (in_tmp / "studies" / "tiny.db").read_bytes()
    assert main(["run", TINY, "--trials", "2", *SMALL, "--set", "train.lr=-1"]) == 2
    assert main(["run", TINY, "--trials", "2", *SMALL, "--set", "data.root=/nonexistent"]) == 2
    assert (in_tmp / "studies" / "tiny.db").read_bytes() == before


def test_timeout_and_study_name(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The trial in flight finishes; no new one starts once the timeout has passed. The run's clock
    # moves on 0.3 s with each training: trials start at 0 and 0.3 s, before the 0.5 s deadline; the
    # second passes it while it trains, finishes all the same, and no third one starts.
    clock = [0.0]
    started: list[float] = []  # the clock when each training began
    real_train = search.trials.objective.train

    def train(*args, **kwargs):
        started.append(clock[0])
        clock[0] += 0.3
        return real_train(*args, **kwargs)

    monkeypatch.setattr(search.trials.objective, "train", train)
    monkeypatch.setattr(
        search.runtime.workers, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep, strftime=time.strftime)
    )
    assert main(["run", TINY, "--trials", "5", "--timeout", "0.5", "--study", "quick", *SMALL]) == 0
    study = load("quick")
    assert started == [0.0, 0.3]
    assert [t.number for t in study.trials] == [0, 1]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert study.trials[0].datetime_complete <= study.trials[1].datetime_start
    assert (in_tmp / "studies" / "quick.db").exists() and not (in_tmp / "studies" / "tiny.db").exists()
    assert study.metric_names == ["best val MSE"]


@pytest.mark.serial  # a SIGINT timed mid-trial
@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_sigint_mid_trial_exits_130_and_leaves_no_running_trial(in_tmp: Path) -> None:
    command = [sys.executable, "-m", "search", "run", TINY, "--trials", "3", "--set", "data.subset=2000", "--set", "train.epochs=200"]
    # A shell that starts pytest in the background (nohup … &) makes children ignore SIGINT, and an
    # ignored SIGINT stays ignored through exec: give the child the default that a terminal gives.
    restore = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(
        command, cwd=in_tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), preexec_fn=restore
    )
    deadline = time.monotonic() + 120
    for line in process.stdout:  # a log: one line per epoch
        if "epoch 1/200" in line:
            break
        assert time.monotonic() < deadline, "no epoch finished within 120 s"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip() == (
        "interrupted (Ctrl-C): trial 0 failed and was queued again with the same parameters as trial 1; "
        "run the same command again to complete the study"
    )
    assert [t.state for t in load().trials] == [TrialState.FAIL, TrialState.WAITING]  # handed back, not left RUNNING


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", TINY, "--trials", "0"], "error: python -m search run: argument --trials: expected an integer ≥ 1, got '0'"),
        (["run", TINY, "--timeout", "-1"], "argument --timeout: expected a number of seconds > 0, got '-1'"),
        (["run"], "the following arguments are required: space"),
        (["best"], "the following arguments are required: --study"),
        (["serve"], "argument COMMAND: invalid choice: 'serve'"),
    ],
)
def test_bad_flags_exit_2_with_one_line(capsys, args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
