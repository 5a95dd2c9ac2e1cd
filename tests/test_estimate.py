"""A run says what it will cost before it spends it (issue 34): the estimate from a measured first epoch, and the
one line the display prints from it, once, through its console (a library call's quiet console prints nothing)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rich.console import Console

from search.display import MEASURE_SECONDS, Display
from search.estimate import duration, estimate, from_batches

ARCH = SimpleNamespace(latent_size=256, in_channels=3, out_channels=3, image_size=32, n_params=1_000)


def test_the_estimate_of_a_measured_first_epoch() -> None:
    found = estimate(41.0, 10, 100, measured="trial 0's first epoch")
    assert found.trial_seconds == 410 and found.study_seconds == 41_000
    assert found.line().startswith(
        "trial 0's first epoch took 41 s: a trial of 10 epochs ≈ 7 min, the 100 trials asked ≈ 11.4 h on this machine (pruned trials"
    )


def test_trials_running_at_once_share_the_study_in_rounds() -> None:
    # 5 trials 2 at a time: 3 rounds of a 10-minute trial, the last round one trial long all the same
    found = estimate(60.0, 10, 5, parallel=2)
    assert found.study_seconds == 3 * 600
    assert "the 5 trials asked ≈ 30 min with 2 running at once" in found.line()


def test_a_resumed_study_counts_the_trials_left() -> None:
    assert "the 97 trials left of 100 ≈ 16.2 h" in estimate(60.0, 10, 97, trials=100).line()
    assert ": a trial of 1 epoch ≈ 60 s, the 1 trial left of 100 ≈ 60 s on" in estimate(60.0, 1, 1, trials=100).line()


def test_an_epoch_extrapolated_from_its_first_batches() -> None:
    found = from_batches(20.0, 40, 625, 10, 100, number=3, trials=100)
    assert found.epoch_seconds == pytest.approx(312.5) and found.study_seconds == pytest.approx(312_500)
    assert found.line().startswith("trial 3's first 40 of 625 batches took 20 s (an epoch ≈ 5 min): a trial of 10 epochs ≈ 52 min, ")
    assert "the 100 trials asked ≈ 3.6 days" in found.line()


def test_the_pace_is_timed_after_the_first_batches_one_off_costs() -> None:
    # 10 batches in the first 5 s (memory, kernels), then 75 in 15 s: the other 290 at that pace, not at the first's
    found = from_batches(20.0, 85, 375, 10, 100, number=0, since=(5.0, 10))
    assert found.epoch_seconds == pytest.approx(5 + 15 / 75 * 365)
    with pytest.raises(ValueError, match="batches: expected 11 to 375"):
        from_batches(20.0, 10, 375, 10, 100, number=0, since=(5.0, 10))


@pytest.mark.parametrize(
    ("first", "epochs", "left", "parallel"), [(float("nan"), 10, 1, 1), (-1.0, 10, 1, 1), (1.0, 0, 1, 1), (1.0, 1, -1, 1), (1.0, 1, 1, 0)]
)
def test_impossible_measures_are_refused(first: float, epochs: int, left: int, parallel: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        estimate(first, epochs, left, parallel=parallel)


@pytest.mark.parametrize(
    ("seconds", "said"), [(0.24, "0.2 s"), (41, "41 s"), (89.4, "89 s"), (410, "7 min"), (41_000, "11.4 h"), (312_500, "3.6 days")]
)
def test_durations_read_as_a_person_says_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _display(target: int, *, quiet: bool = False) -> tuple[Display, io.StringIO, Clock]:
    study = optuna.create_study(study_name="costs")
    out, clock = io.StringIO(), Clock()
    return Display(Console(file=out, width=300, quiet=quiet, get_time=clock), study, target), out, clock


def _epoch(number: int, epochs: int) -> SimpleNamespace:
    return SimpleNamespace(epoch=number, epochs=epochs, train_mse=0.02, val_mse=0.03, seconds=30.0)


def test_the_display_says_the_cost_once_after_the_first_epoch() -> None:
    display, out, clock = _display(100)
    display.study.ask()  # the trial in flight: the one running trial
    display.trial_started(0, 10, ARCH)
    clock.now += 10.0
    display.batch(100, 625)  # 10 s into the epoch: under MEASURE_SECONDS, so the epoch's end is awaited
    assert display.estimate is None
    clock.now += 31.0
    display.epoch(_epoch(1, 10))  # 41 s from the trial's start, the validation pass included
    clock.now += 41.0
    display.epoch(_epoch(2, 10))
    lines = [line for line in out.getvalue().splitlines() if "took" in line]
    assert lines == [display.estimate.line()]
    assert lines[0].startswith("trial 0's first epoch took 41 s: a trial of 10 epochs ≈ 7 min, the 100 trials asked ≈ 11.4 h")
    # the study's bar counts down from the trial's start
    assert display.progress.tasks[display.study_task].fields["ends"] == pytest.approx(1000.0 + 41_000)


def test_a_long_first_epoch_is_extrapolated_from_its_first_batches() -> None:
    display, out, clock = _display(100)
    display.study.ask()
    display.trial_started(7, 10, ARCH)
    clock.now += MEASURE_SECONDS / 4
    display.batch(10, 625)  # the mark: the pace is timed from here
    clock.now += MEASURE_SECONDS * 3 / 4
    display.batch(40, 625)  # 30 batches in 15 s: the other 585 take 292.5 s more
    assert display.estimate is not None and display.estimate.epoch_seconds == pytest.approx(5 + 0.5 * 615)
    assert "trial 7's first 40 of 625 batches took 20 s (an epoch ≈ 5 min): a trial of 10 epochs ≈ 52 min" in out.getvalue()
    display.epoch(_epoch(1, 10))  # said already: not again
    assert out.getvalue().count(" took ") == 1


def test_a_library_call_prints_nothing() -> None:
    display, out, clock = _display(3, quiet=True)
    display.trial_started(0, 2, ARCH)
    clock.now += 1.0
    display.epoch(_epoch(1, 2))
    assert display.estimate is not None and out.getvalue() == ""


def test_the_display_over_worker_processes_times_the_first_trial_to_end() -> None:
    """``--workers K``: the command's own display sees no epoch, only trials ending (search.runtime.workers.run_workers)."""
    display, out, clock = _display(100)
    study = display.study
    for _ in range(2):
        study.ask()  # the other workers' trials, still running
    attrs = {"epoch_seconds": [40.0, 38.0], "val_mse": [0.02, 0.01], "train": {"epochs": 10}}
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    display.trial_finished(study, study.trials[-1])
    said = display.estimate
    assert said is not None and said.line().startswith(
        "trial 2's first epoch (its training pass) took 40 s: a trial of 10 epochs ≈ 7 min, "
        "the 100 trials asked ≈ 3.8 h with 3 running at once"  # 34 rounds of 3 trials
    )
    assert said.line() in out.getvalue()
    # from then on the study's bar counts down at the pace the run keeps: 2 trials in 60 s, 98 left
    clock.now += 60.0
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    display.trial_finished(study, study.trials[-1])
    assert display.progress.tasks[display.study_task].fields["ends"] == pytest.approx(clock.now + 30.0 * 98)
    assert out.getvalue().count(" took ") == 1
