"""An interrupted grid study trains every point exactly once after the rerun (issue 32, items 2 and 3).

A stop signal or Ctrl-C hands its trial back (search.runtime.preemption); the grid sampler knows each point by its parameters
(search.grid_points), so the handed-back trial trains its own point and the rerun the ones still owed. Before, the
handed-back trial took the next point's ``grid_id``: one point ran twice and another never, and Ctrl-C threw its trial away.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

import search
from search.grid_points import PointGridSampler
from search.runtime.preemption import HandedBack, stopping_on
from search.runtime.storage import open_storage
from search.runtime.workers import work
from search.space_check import check_choices_kept

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
POINTS = [2, 3, 4, 5]
# four points, everything else fixed; 2,000 images: epochs long enough (a fraction of a second) to be stopped in
GRID_SPACE = """
study:
  name: grid4
  sampler: {type: grid}
  pruner: {type: none}
data:
  subset: 2000
train:
  epochs: 4
  batch_size: 64
  lr: 0.005
model:
  depth: 1
  channels: 4
  kernel: 3
  downsample: stride
  upsample: nearest
  latent_channels: {choice: [2, 3, 4, 5]}
"""


def trained(study: optuna.Study, key: str) -> Counter:
    """How many finished trials trained each value of parameter ``key``."""
    return Counter(t.params[key] for t in study.get_trials(deepcopy=False, states=FINISHED))


def choose(trial: optuna.Trial) -> int:
    return trial.suggest_categorical("x", POINTS)


def stopping_in(number: int, signum: int) -> object:
    """An objective that sends itself ``signum`` in trial ``number`` (its point drawn), as a scheduler or Ctrl-C would."""

    def objective(trial: optuna.Trial) -> float:
        x = choose(trial)
        if trial.number == number:
            os.kill(os.getpid(), signum)
            time.sleep(30)  # a trial that would go on: the signal cuts it short
        return x

    return objective


@pytest.mark.parametrize("sampler", [optuna.samplers.GridSampler, PointGridSampler])
@pytest.mark.parametrize(("signum", "number"), [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGUSR1, 0), (signal.SIGINT, 3)])
def test_a_stopped_grid_trial_is_handed_back_to_its_own_point_and_the_rerun_trains_each_point_once(
    sampler: type[optuna.samplers.GridSampler], signum: int, number: int
) -> None:
    study = optuna.create_study(sampler=sampler({"x": POINTS}, seed=0))
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, stopping_in(number, signum), len(POINTS), grace=180)
    stop = raised.value
    assert (stop.trial, stop.retry, stop.exit_code) == (number, number + 1, 128 + signum)  # Ctrl-C: 130, as before
    stopped, retry = study.trials[number], study.trials[number + 1]
    assert stopped.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.params == stopped.params and retry.system_attrs["grid_id"] == stopped.system_attrs["grid_id"]
    with stopping_on():
        work(study, choose, len(POINTS), grace=180)  # the same command again
    assert trained(study, "x") == dict.fromkeys(POINTS, 1)
    assert study.trials[number + 1].state == TrialState.COMPLETE


def test_ctrl_c_records_its_reason_and_queues_the_trial_again() -> None:
    study = optuna.create_study()
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, stopping_in(1, signal.SIGINT), 3, grace=180)
    assert raised.value.describe() == "interrupted (Ctrl-C): trial 1 failed and was queued again with the same parameters as trial 2"
    assert study.trials[1].user_attrs["reason"] == "interrupted (Ctrl-C); handed back: queued again with the same parameters"
    assert study.trials[2].state == TrialState.WAITING and study.trials[2].params == study.trials[1].params


def test_a_keyboard_interrupt_without_a_handler_is_handed_back_too() -> None:
    # a notebook's interrupt, or any KeyboardInterrupt where no stopping_on() is in force
    def objective(trial: optuna.Trial) -> float:
        x = choose(trial)
        if trial.number == 1:
            raise KeyboardInterrupt
        return x

    study = optuna.create_study(sampler=PointGridSampler({"x": POINTS}))
    with pytest.raises(HandedBack) as raised:
        work(study, objective, 4, grace=180)
    assert (raised.value.signal, raised.value.exit_code, raised.value.retry) == ("SIGINT", 130, 2)
    work(study, choose, 4, grace=180)
    assert trained(study, "x") == dict.fromkeys(POINTS, 1)


class StoppedWhileAsking(PointGridSampler):
    """A stop that arrives while Optuna makes trial 1 (its sampler's ``before_trial``), before the objective runs."""

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        super().before_trial(study, trial)
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_stop_while_optuna_makes_the_trial_hands_it_back_instead_of_leaving_it_running_for_ever() -> None:
    # Raised there, the stop left trial 1 RUNNING with no heartbeat: no grace check failed it, and every rerun waited on it.
    study = optuna.create_study(sampler=StoppedWhileAsking({"x": POINTS}))
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, choose, 4, grace=180)
    assert (raised.value.trial, raised.value.retry) == (1, 2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    study.sampler = PointGridSampler({"x": POINTS})
    work(study, choose, 4, grace=180)
    assert trained(study, "x") == dict.fromkeys(POINTS, 1)
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_a_stop_after_the_trial_ended_stops_between_trials_with_the_trial_kept() -> None:
    def stop_once_told(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.number == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    study = optuna.create_study(sampler=PointGridSampler({"x": POINTS}))
    with pytest.raises(HandedBack) as raised, stopping_on():
        work(study, choose, 4, grace=180, callbacks=[stop_once_told])
    assert raised.value.trial is None and "between trials" in raised.value.describe()
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def _legacy(study: optuna.Study, sampler: PointGridSampler) -> None:
    """What an earlier version left: point A complete; B failed by Ctrl-C and never queued again; C's handed-back retry,
    which trained C under D's grid_id (so D counted as done)."""
    dist = {"x": CategoricalDistribution(POINTS)}
    space = sampler._search_space
    a, b, c, _ = (point[0] for point in sampler._all_grids)
    ctrl_c, stopped = {"reason": "interrupted (Ctrl-C)"}, {"reason": "stopped by SIGTERM (a time limit, scancel or preemption)"}
    for params, state, attrs, system in (
        ({"x": a}, TrialState.COMPLETE, {}, {"grid_id": 0}),
        ({"x": b}, TrialState.FAIL, ctrl_c, {"grid_id": 1}),
        ({"x": c}, TrialState.FAIL, stopped, {"grid_id": 2}),
        ({"x": c}, TrialState.COMPLETE, {}, {"grid_id": 3, "failed_trial": 2}),
    ):
        value = None if state == TrialState.FAIL else 1.0
        system |= {"search_space": space}
        study.add_trial(create_trial(state=state, value=value, params=params, distributions=dist, user_attrs=attrs, system_attrs=system))


def test_a_resume_of_a_grid_interrupted_by_an_earlier_version_trains_the_points_it_missed() -> None:
    sampler = PointGridSampler({"x": POINTS}, seed=0)
    study = optuna.create_study(sampler=sampler)
    _legacy(study, sampler)
    work(study, choose, 4, grace=180)  # two finished trials: two more, the two points never trained
    assert trained(study, "x") == dict.fromkeys(POINTS, 1)


def test_a_point_refused_or_crashed_is_not_drawn_again_but_one_stopped_by_a_full_disk_is() -> None:
    sampler = PointGridSampler({"x": POINTS}, seed=0)
    study = optuna.create_study(sampler=sampler)
    dist = {"x": CategoricalDistribution(POINTS)}
    first, second = sampler._all_grids[0][0], sampler._all_grids[1][0]
    for x, reason in ((first, "refused: latent 99 over model.max_latent 64"), (second, "storage: the database cannot be written")):
        study.add_trial(create_trial(state=TrialState.FAIL, params={"x": x}, distributions=dist, user_attrs={"reason": reason}))
    work(study, choose, 3, grace=180)
    assert trained(study, "x") == {x: 1 for x in POINTS if x != first}


def test_a_grid_resumed_with_a_wider_range_trains_the_new_points_first() -> None:
    study = optuna.create_study(sampler=PointGridSampler({"x": [2, 3]}))
    work(study, lambda t: t.suggest_int("x", 2, 3), 2, grace=180)
    study.sampler = PointGridSampler({"x": POINTS})  # the same study, its range widened (Optuna allows it for a range)
    work(study, lambda t: t.suggest_int("x", 2, 5), 4, grace=180)
    assert trained(study, "x") == dict.fromkeys(POINTS, 1)


def test_a_grid_resumed_with_other_choices_is_refused_before_any_trial() -> None:
    # Optuna keeps a categorical parameter's choices within a study: the next trial raised ValueError (a traceback, exit 1)
    study = optuna.create_study()
    dist = {"latent_channels": CategoricalDistribution(POINTS)}
    study.add_trial(create_trial(value=1.0, params={"latent_channels": 2}, distributions=dist))
    widened = search.space_from_dict(yaml.safe_load(GRID_SPACE.replace("[2, 3, 4, 5]", "[2, 3, 4, 5, 6]")))
    with pytest.raises(search.SpaceError, match=r"model\.latent_channels: expected the choices \[2, 3, 4, 5\] that study"):
        check_choices_kept(widened, study)
    check_choices_kept(search.space_from_dict(yaml.safe_load(GRID_SPACE)), study)  # the same choices: resumed
    assert len(study.trials) == 1


def test_the_grid_samplers_first_draws_are_optunas() -> None:
    # the same shuffle and the same first points: a study started by an earlier version resumes in the same order
    ours, theirs = (
        optuna.create_study(sampler=PointGridSampler({"x": POINTS}, seed=3)),
        optuna.create_study(sampler=optuna.samplers.GridSampler({"x": POINTS}, seed=3)),
    )
    for study in (ours, theirs):
        study.optimize(choose, n_trials=4)
    assert [t.params for t in ours.trials] == [t.params for t in theirs.trials]


# --- the command, stopped by real signals at several moments -----------------------------------------------------------


def _command(space: Path) -> list[str]:
    return [sys.executable, "-m", "search", "run", str(space), "--trials", "4"]


def signal_at(command: list[str], cwd: Path, url: str, study: str, signum: int, trial: int, epochs: int) -> subprocess.CompletedProcess:
    """Run ``command`` and send it ``signum`` once trial ``trial`` runs with ``epochs`` epochs done (0: at its start)."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    loaded = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            loaded = loaded or optuna.load_study(study_name=study, storage=open_storage(url, create=False))
        except Exception:  # not made yet
            time.sleep(0.05)
            continue
        trials = loaded.get_trials(deepcopy=False)
        if len(trials) > trial and trials[trial].state == TrialState.RUNNING and len(trials[trial].user_attrs.get("val_mse", [])) >= epochs:
            process.send_signal(signum)
            break
        time.sleep(0.02)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, f"trial {trial} was never caught running at epoch {epochs}: {out}{err}"
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.slow  # fresh processes importing torch, several runs of one study: a minute or two on 2 busy cores
@pytest.mark.serial  # signals timed against a trial's epochs
@pytest.mark.parametrize(
    "moments",
    [
        [(signal.SIGTERM, 1, 1)],  # the case: a time limit in the second trial
        [(signal.SIGINT, 1, 1)],  # Ctrl-C there
        # Ctrl-C at the very start of the handed-back trial, then Ctrl-C in the middle of the last point
        [(signal.SIGTERM, 1, 1), (signal.SIGINT, 2, 0), (signal.SIGINT, 4, 2)],
    ],
    ids=["sigterm-mid-trial-1", "sigint-mid-trial-1", "three-stops"],
)
def test_an_interrupted_grid_command_trains_every_point_exactly_once(tmp_path: Path, moments: list[tuple[int, int, int]]) -> None:
    space = tmp_path / "grid4.yaml"
    space.write_text(GRID_SPACE)
    command, url = _command(space), f"sqlite:///{tmp_path}/studies/grid4.db"
    for signum, trial, epochs in moments:
        stopped = signal_at(command, tmp_path, url, "grid4", signum, trial, epochs)
        said = "interrupted (Ctrl-C)" if signum == signal.SIGINT else "stopped by SIGTERM"
        assert f"{said}: trial {trial} failed and was queued again" in stopped.stderr
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    study = optuna.load_study(study_name="grid4", storage=url)
    assert trained(study, "latent_channels") == dict.fromkeys(POINTS, 1)
    stopped_trials = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(stopped_trials) == len(moments) and not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))


@pytest.mark.slow  # three processes importing torch, then a rerun
@pytest.mark.serial  # signals timed against running trials
def test_workers_interrupted_hand_their_points_back_and_the_command_says_interrupted(tmp_path: Path) -> None:
    # Only the workers get the SIGINT here: the command's own can be lost (raised in a garbage collection's weakref
    # callback, seen once in four Ctrl-C of a terminal), and it then said "incomplete" and exited 1.
    # Caught mid-run with epochs still ahead: a trial caught at its last epoch could end before its signal arrived
    # (CI saw one complete, rightly, and this test fail). 8 epochs leave room for a worker that starts seconds late.
    space = tmp_path / "grid4.yaml"
    space.write_text(GRID_SPACE.replace("epochs: 4", "epochs: 8"))
    command, url = [*_command(space), "--workers", "2"], f"sqlite:///{tmp_path}/studies/grid4.db"
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline, running = time.monotonic() + 300, []
    while len(running) < 2 and time.monotonic() < deadline and process.poll() is None:
        try:
            study = optuna.load_study(study_name="grid4", storage=open_storage(url, create=False))
            trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            running = [t for t in trials if 1 <= len(t.user_attrs.get("val_mse", [])) <= 6 and "worker" in t.user_attrs]
        except Exception:  # not made yet
            pass
        time.sleep(0.05)
    assert len(running) == 2, "two workers never ran a trial at once"
    for trial in running:
        os.kill(int(trial.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "interrupted: finished trials are kept" in err
    again = subprocess.run(_command(space), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    study = optuna.load_study(study_name="grid4", storage=url)
    assert trained(study, "latent_channels") == dict.fromkeys(POINTS, 1)
    assert {t.number for t in study.get_trials(states=(TrialState.FAIL,))} == {t.number for t in running}
