"""Workers that start together draw different configurations; one worker on a fresh study is reproducible (issue 22)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.samplers import QMCSampler
from optuna.trial import TrialState

from search.factories import make_sampler
from search.runtime.draws import SeedPerTrial, trial_seeded_sampler
from search.runtime.storage import open_storage
from tests.conftest import SPACES

TPE = {"type": "tpe", "seed": 0, "n_startup_trials": 3}


def draw(trial: optuna.Trial) -> dict[str, float | int]:
    return {"lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True), "depth": trial.suggest_int("depth", 1, 4)}


def two_workers_first_draws(sampler: object) -> tuple[dict, dict]:
    """Two workers (each its own sampler, as in two processes) open one study and ask for a trial at the same moment."""
    storage = optuna.storages.InMemoryStorage()
    a = optuna.create_study(storage=storage, study_name="s", sampler=sampler())
    b = optuna.load_study(storage=storage, study_name="s", sampler=sampler())
    first, second = a.ask(), b.ask()  # neither has told: each sees an empty history
    return draw(first), draw(second)


def test_a_seed_per_process_repeats_the_first_draws_and_a_seed_per_trial_does_not() -> None:
    same, again = two_workers_first_draws(lambda: make_sampler(TPE))  # what every worker did before issue 22
    assert same == again
    first, second = two_workers_first_draws(lambda: trial_seeded_sampler(TPE))
    assert first != second


def test_one_worker_on_a_fresh_study_draws_the_same_trials_every_time() -> None:
    def run() -> list[dict]:
        study = optuna.create_study(sampler=trial_seeded_sampler(TPE))
        study.optimize(lambda t: draw(t)["lr"], n_trials=6)  # past TPE's 3 start-up trials
        return [t.params for t in study.trials]

    first = run()
    assert first == run()
    assert len({tuple(p.values()) for p in first}) == 6


def test_a_resumed_study_continues_instead_of_replaying_its_first_draws() -> None:
    study = optuna.create_study(sampler=trial_seeded_sampler({"type": "random", "seed": 0}))
    study.optimize(lambda t: draw(t)["lr"], n_trials=2)
    resumed = optuna.load_study(
        study_name=study.study_name, storage=study._storage, sampler=trial_seeded_sampler({"type": "random", "seed": 0})
    )
    resumed.optimize(lambda t: draw(t)["lr"], n_trials=2)
    lrs = [t.params["lr"] for t in resumed.trials]
    assert len(set(lrs)) == 4


def test_qmc_keeps_one_seed_in_every_worker() -> None:
    # Optuna's QMC sampler draws distinct points of one sequence only when every worker shares its seed.
    sampler = trial_seeded_sampler({"type": "qmc", "seed": 3})
    assert isinstance(sampler, QMCSampler) and sampler._seed == 3
    assert isinstance(trial_seeded_sampler(TPE), SeedPerTrial)


@pytest.mark.serial  # processes started together: a race, timed
@pytest.mark.slow  # three fresh processes importing torch: about two minutes on 2 busy cores
def test_three_processes_started_together_draw_pairwise_different_parameters(tmp_path: Path) -> None:
    storage = "sqlite:///studies/tiny.db"  # the default storage, as three hand-started commands would use it
    command = [sys.executable, "-m", "search", "run", str(SPACES / "tiny.yaml"), "--trials", "3", "--storage", storage]
    quick = ["--set", "data.subset=300", "--set", "train.epochs=1"]
    processes = [
        subprocess.Popen(
            [*command, *quick], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy()
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outs
    study = optuna.load_study(study_name="tiny", storage=open_storage(f"sqlite:///{tmp_path}/studies/tiny.db", create=False))
    drawn = [t for t in study.get_trials() if t.params]  # surplus trials that trained nothing drew nothing either
    workers = {t.user_attrs["worker"] for t in drawn}
    print(f"{storage}: {len(drawn)} trials drawn by {len(workers)} workers; {[t.params for t in drawn]}")
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 3
    for one, other in itertools.combinations(drawn, 2):
        assert one.params != other.params, (one.number, other.number, one.params)
