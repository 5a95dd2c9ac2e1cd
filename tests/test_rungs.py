"""Multi-fidelity multi-objective pruning (issue 18): the rung rule on synthetic curves, the hypervolume
against hand-computed cases, a tiny study end to end, and the replay of rules on synthetic curves."""

from __future__ import annotations

import datetime
import math
import os
import random
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rich.console import Console

from benchmarks import replay as rp
from search.cli import main as search
from search.pruning.rungs import (
    ParetoHalvingPruner,
    RungRecord,
    crowding_distances,
    is_rung,
    non_dominated_fronts,
    rank_order,
    rungs,
    verdict,
)
from search.runtime.storage import default_storage
from search.trials.best import show_best
from search.trials.front import REFERENCE_LATENT, REFERENCE_MSE, anytime_hypervolume, compute_hours, hypervolume, study_hypervolume
from tests.conftest import SPACES

RULE = {"min_epochs": 1, "eta": 3, "n_min_trials": 3}


def rec(number: int, curve: list[float], latent: int = 64, baseline: float | None = None) -> RungRecord:
    return RungRecord(number, tuple(curve), (latent,), baseline)


# ---- rungs


def test_rungs_are_min_epochs_times_powers_of_eta_below_the_epochs() -> None:
    assert rungs(1, 3, 9) == [1, 3]
    assert rungs(1, 3, 10) == [1, 3, 9]
    assert rungs(2, 2, 17) == [2, 4, 8, 16]
    assert rungs(5, 3, 5) == []
    assert [e for e in range(1, 30) if is_rung(e, 1, 3)] == [1, 3, 9, 27]
    assert [e for e in range(1, 30) if is_rung(e, 2, 2)] == [2, 4, 8, 16]
    assert is_rung(6, 2, 3) and is_rung(18, 2, 3) and not is_rung(12, 2, 3) and not is_rung(3, 2, 3) and not is_rung(1, 2, 3)


# ---- who continues at a rung


def test_the_top_third_at_a_rung_continues_and_the_rest_stops() -> None:
    # nine trials of one size at rung 1: the order is the error's, three go on
    peers = [rec(i, [0.010 + 0.001 * i]) for i in range(8)]
    kept = [verdict(rec(100, [v]), peers, **RULE) is None for v in (0.0095, 0.0105, 0.0115, 0.0125, 0.0200)]
    assert kept == [True, True, True, False, False]  # 9 // 3 = 3 go on: positions 1, 2 and 3
    reason = verdict(rec(100, [0.0125]), peers, **RULE)
    assert reason == (
        "pruned at rung 1: best val MSE 0.01250 ranks 4 of the 9 trials recorded at epoch 1 (Pareto front 4); the first 3 (1/3) go on"
    )


def test_no_verdict_between_rungs_nor_with_too_few_trials_at_the_rung() -> None:
    peers = [rec(i, [0.01, 0.009, 0.008, 0.007]) for i in range(8)]
    bad = [0.05, 0.05, 0.05, 0.05]
    assert verdict(rec(100, bad[:2]), peers, **RULE) is None  # epoch 2 is no rung
    assert verdict(rec(100, bad[:3]), peers, **RULE) is not None  # epoch 3 is
    # with the trial itself, fewer than n_min_trials at the rung: it goes on however bad
    assert verdict(rec(100, bad[:1]), peers[:1], **RULE) is None
    assert verdict(rec(100, bad[:1]), peers[:2], **RULE) is not None
    assert verdict(rec(100, bad[:1]), peers[:2], **(RULE | {"n_min_trials": 4})) is None


def test_peers_still_running_count_only_with_what_they_recorded_at_that_rung() -> None:
    # eight peers have one epoch (they may still be running): at rung 3 none of them counts yet
    short = [rec(i, [0.001]) for i in range(8)]
    assert verdict(rec(100, [0.05, 0.04, 0.03]), short, **RULE) is None
    # two that did reach rung 3 count with their best up to epoch 3, not with what came after
    reached = [rec(8, [0.02, 0.02, 0.02, 0.0001]), rec(9, [0.02, 0.02, 0.019])]
    assert "ranks 3 of the 3 trials" in (verdict(rec(100, [0.05, 0.04, 0.03]), short + reached, **RULE) or "")
    # at rung 1 everyone counts, at its first epoch
    assert "ranks 11 of the 11" in (verdict(rec(100, [0.05]), short + reached, **RULE) or "")
    # a decision is never revisited: the same trial judged later, with more peers, is simply not asked again
    assert verdict(rec(100, [0.05, 0.04, 0.03, 0.02]), short + reached, **RULE) is None


def test_non_finite_errors_stop_at_the_rung() -> None:
    assert "non-finite (nan)" in (verdict(rec(100, [math.nan]), [], **RULE) or "")
    assert verdict(rec(100, [math.nan, 0.01]), [], **RULE) is None  # epoch 2 is no rung
    # a peer with nothing finite up to the rung does not count
    peers = [rec(1, [math.nan]), rec(2, [math.inf])]
    assert verdict(rec(100, [0.5]), peers, **RULE) is None


def test_errors_are_relative_to_pca_at_each_size_when_every_trial_has_a_baseline() -> None:
    # one size, so only the error decides: 0.8-0.84× PCA's among the peers
    peers = [rec(1, [0.004], 256, 0.005), rec(2, [0.0041], 256, 0.005), rec(3, [0.0042], 256, 0.005)]
    small = rec(100, [0.0090], 256, 0.010)  # 0.9× PCA's: the worst ratio
    assert "(0.900× PCA's at its size)" in (verdict(small, peers, **RULE) or "")
    better = rec(100, [0.0075], 256, 0.010)  # 0.75× PCA's: the best ratio, though its raw error is the largest
    assert verdict(better, peers, **RULE) is None
    # one peer without a baseline: raw errors everywhere, and the raw-worst trial stops
    mixed = [*peers[:2], rec(3, [0.0042], 256, None)]
    assert verdict(better, mixed, **RULE) is not None


def test_a_trial_on_the_front_beats_any_dominated_one_whatever_its_error() -> None:
    # the smallest code is on the front even with the worst error; dominated trials rank after every front trial
    peers = [rec(1, [0.004], 128), rec(2, [0.005], 256), rec(3, [0.006], 512), rec(4, [0.007], 512), rec(5, [0.008], 512)]
    assert verdict(rec(100, [0.02], 16), peers, **RULE) is None  # front 1, an extreme
    # (512, 0.0065) is dominated by three peers in a chain: front 4 of 6, and 6 // 3 = 2 go on
    assert "ranks 4 of the 6 trials recorded at epoch 1 (Pareto front 4)" in (verdict(rec(100, [0.0065], 512), peers, **RULE) or "")


def test_the_kept_trials_are_spread_over_sizes_not_packed_where_the_front_is_dense() -> None:
    # One front of 9 trials (error falls as size grows): four packed at 16-19 values, the rest an
    # octave apart. Three go on: the two extremes, then the widest gap, not the dense cluster.
    sizes = [16, 17, 18, 19, 32, 64, 128, 256, 512]
    errors = [0.020, 0.0195, 0.019, 0.0185, 0.012, 0.008, 0.005, 0.003, 0.002]
    points = np.column_stack([errors, np.log2(sizes)])
    assert set(non_dominated_fronts(points)) == {0}
    order = rank_order(points, list(range(9)))
    assert set(order[:2]) == {0, 8}  # the extremes first (infinite crowding distance)
    assert order[2] not in (1, 2, 3)  # then a lone point, not one of the cluster
    records = [rec(i, [e], s) for i, (s, e) in enumerate(zip(sizes, errors, strict=True))]
    going_on = [i for i, r in enumerate(records) if verdict(r, records, **RULE) is None]
    assert going_on == sorted(order[:3])
    assert not set(going_on) & {1, 2, 3}


def test_crowding_distance_and_fronts_against_hand_computed_values() -> None:
    points = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.0], [4.0, 0.0], [3.0, 3.0]])
    assert non_dominated_fronts(points).tolist() == [0, 0, 0, 0, 1]
    distance = crowding_distances(points[:4])
    # inner points: (2 - 0)/4 + (4 - 1)/4 = 1.25 and (4 - 1)/4 + (2 - 0)/4 = 1.25
    assert distance[0] == distance[3] == math.inf and distance[1] == pytest.approx(1.25) and distance[2] == pytest.approx(1.25)


# ---- the pruner in an Optuna study


def _study(metric_names: list[str] | None = None) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"])
    if metric_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names)
    return study


def test_the_pruner_reads_complete_pruned_and_running_trials_from_the_storage() -> None:
    study = _study(["best val MSE", "latent size"])
    pruner = ParetoHalvingPruner(**RULE)
    for curve in ([0.010, 0.009, 0.008], [0.011, 0.010, 0.009]):
        study.add_trial(create_trial(values=[min(curve), 64], user_attrs={"latent_size": 64, "val_mse": curve}))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"latent_size": 64, "val_mse": [0.012]}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"latent_size": 64, "val_mse": [0.0001]}))  # failed: no peer
    running = study.ask()  # a peer still running, one epoch recorded
    running.set_user_attr("latent_size", 64)
    running.set_user_attr("val_mse", [0.0115])
    # rung 1: four trials recorded (two complete, one pruned, one running) and this one: 5 // 3 = 1 goes on
    assert pruner.reason_for(study, 64, [0.0099]) is None
    assert "ranks 3 of the 5 trials" in (pruner.reason_for(study, 64, [0.01105]) or "")
    # rung 3: only the two complete trials reached it; with this one, 3 trials: the first goes on
    assert pruner.reason_for(study, 64, [0.02, 0.01, 0.0079]) is None
    assert "of the 3 trials recorded at epoch 3" in (pruner.reason_for(study, 64, [0.02, 0.01, 0.0085]) or "")
    # its own number leaves it out of the peers; prune() and reason() read its stored curve
    assert pruner.reason_for(study, 64, [0.0115], number=running.number) is not None
    frozen = study.get_trials(deepcopy=False)[running.number]
    assert pruner.reason(study, frozen) == pruner.reason_for(study, 64, [0.0115], number=running.number)
    assert pruner.prune(study, frozen) is True


def test_a_parameter_count_objective_is_ranked_too() -> None:
    study = _study(["best val MSE", "parameters"])
    pruner = ParetoHalvingPruner(**(RULE | {"eta": 2}))  # four at the rung: two go on
    assert pruner.size_keys(study) == ("n_params",)
    for n, v in ((1000, 0.010), (2000, 0.009), (4000, 0.008)):
        study.add_trial(create_trial(values=[v, n], user_attrs={"latent_size": 64, "n_params": n, "val_mse": [v]}))
    trial = study.ask()
    trial.set_user_attr("latent_size", 64)
    trial.set_user_attr("n_params", 500)  # the fewest parameters: on the front whatever its error
    assert pruner.reason_for(study, 64, [0.05], number=trial.number) is None
    trial.set_user_attr("n_params", 8000)  # the most, and the worst error: dominated by all
    assert pruner.reason_for(study, 64, [0.05], number=trial.number) is not None
    assert ParetoHalvingPruner.size_keys(_study()) == ("latent_size",)


@pytest.mark.parametrize(
    ("name", "value"), [("min_epochs", 0), ("min_epochs", 1.5), ("eta", 1), ("eta", True), ("n_min_trials", 0), ("n_min_trials", "3")]
)
def test_bad_settings_raise_value_error_naming_them(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        ParetoHalvingPruner(**{name: value})


# ---- the hypervolume


def test_the_hypervolume_against_a_hand_computed_case() -> None:
    right, top = math.log2(REFERENCE_LATENT), 10 * math.log10(REFERENCE_MSE)  # 11.585 octaves, -10 dB
    # (64, 0.01) is (6, -20 dB); (256, 0.001) is (8, -30 dB); (128, 0.02) is dominated; (4096, ...) is beyond the reference
    area = (right - 6) * (top + 20) + (right - 8) * (-20 + 30)
    assert hypervolume([64, 256, 128, 4096], [0.01, 0.001, 0.02, 1e-6]) == pytest.approx(area)
    assert area == pytest.approx(91.699, abs=1e-3)
    assert hypervolume([64], [0.5]) == 0  # worse than the reference's 10 dB
    assert hypervolume([], []) == 0
    assert hypervolume([64, 64], [0.01, 0.01]) == pytest.approx((right - 6) * 10)  # duplicates count once


def test_the_hypervolume_agrees_with_optunas_on_random_fronts() -> None:
    from optuna._hypervolume import compute_hypervolume  # private: used only as an independent check

    rng = np.random.default_rng(0)
    sizes, errors = rng.integers(8, 2048, 30), rng.uniform(0.001, 0.05, 30)
    points = np.column_stack([np.log2(sizes), 10 * np.log10(errors)])
    reference = np.array([math.log2(REFERENCE_LATENT), 10 * math.log10(REFERENCE_MSE)])
    assert hypervolume(sizes.tolist(), errors.tolist()) == pytest.approx(compute_hypervolume(points, reference))


def test_a_study_s_hypervolume_compute_and_anytime_curve() -> None:
    study = _study(["best val MSE", "latent size"])
    t0 = datetime.datetime(2026, 1, 1)

    def add(state: TrialState, latent: int, curve: list[float], seconds: float | None, minute: int) -> None:
        attrs = {"latent_size": latent, "val_mse": curve, "epoch_seconds": [10.0] * len(curve)}
        if seconds is not None:
            attrs["train_seconds"] = seconds
        values = [min(curve), latent] if state == TrialState.COMPLETE else None
        trial = create_trial(state=state, values=values, user_attrs=attrs)
        trial.datetime_start, trial.datetime_complete = t0, t0 + datetime.timedelta(minutes=minute)
        study.add_trial(trial)

    add(TrialState.COMPLETE, 256, [0.002, 0.001], 100.0, 3)
    add(TrialState.PRUNED, 16, [0.0001], 50.0, 1)  # pruned: costs compute, is off the front
    add(TrialState.COMPLETE, 64, [0.01], None, 2)  # no train_seconds (older study): its epoch_seconds, 10 s
    assert study_hypervolume(study) == pytest.approx(hypervolume([256, 64], [0.001, 0.01]))
    assert compute_hours(study) == pytest.approx(160 / 3600)
    curve = anytime_hypervolume(study)
    assert [s for s, _ in curve] == [50.0, 60.0, 160.0]
    assert [v for _, v in curve] == pytest.approx([0.0, hypervolume([64], [0.01]), study_hypervolume(study)])


# ---- a tiny multi-fidelity study end to end

TINY = (SPACES / "tiny.yaml").read_text()
HALVING = TINY.replace("name: tiny", "name: rungs\n  objectives: [val_mse, latent_size]").replace(
    "pruner: {type: median, n_startup_trials: 1, n_warmup_steps: 0}",
    "pruner: {type: pareto_halving, min_epochs: 1, eta: 2, n_min_trials: 2}",
)


def test_a_tiny_multi_fidelity_study_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rungs.yaml").write_text(HALVING)
    monkeypatch.chdir(tmp_path)
    assert search(["run", "rungs.yaml", "--trials", "5", "--set", "data.subset=300", "--set", "train.epochs=3"]) == 0
    study = optuna.load_study(study_name="rungs", storage=default_storage("rungs"))
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) >= 1 and states.count(TrialState.PRUNED) >= 1, states
    assert set(states) <= {TrialState.COMPLETE, TrialState.PRUNED}
    for t in trials:
        epochs = len(t.user_attrs["val_mse"])
        assert t.user_attrs["train_seconds"] > 0
        if t.state == TrialState.PRUNED:
            assert epochs in (1, 2)  # stopped at a rung (1 and 2 are below train.epochs 3), never between
            assert t.user_attrs["reason"].startswith(f"pruned at rung {epochs}: ")
        else:
            assert epochs == 3
    # the first trial reaches every rung with too few peers (n_min_trials 2): it cannot have been stopped
    assert trials[0].state == TrialState.COMPLETE
    assert study_hypervolume(study) > 0 and compute_hours(study) > 0
    console = Console(record=True, width=300)
    assert show_best("rungs", console=console) == 0
    text = console.export_text()
    assert f"compute: {compute_hours(study):.2f} training hours" in text
    assert f"front hypervolume {study_hypervolume(study):.2f} dB × octaves" in text


# ---- the replay


def synthetic(n: int = 12, epochs: int = 9, seed: int = 0) -> list[rp.Config]:
    rng = random.Random(seed)
    configs = []
    for s in range(n):
        latent = round(math.exp(rng.uniform(math.log(16), math.log(512))))
        pca = 0.05 * latent**-0.5
        q = rng.uniform(0.75, 0.98)
        curve = tuple(pca * (q + (1.2 - q) * math.exp(-e / 3)) for e in range(1, epochs + 1))
        configs.append(rp.Config(s, latent, pca, curve, (1.0 + s % 3,) * epochs))
    return configs


def test_the_replay_counts_epochs_and_fronts_as_a_study_would() -> None:
    configs = synthetic()
    full = rp.replay(configs, rp.fixed(9, 9), range(12))
    assert full.epochs == 12 * 9 and full.complete == 12
    sizes, errors = [c.latent_size for c in configs], [min(c.val_mse) for c in configs]
    assert full.hypervolume == pytest.approx(hypervolume(sizes, errors))
    short = rp.replay(configs, rp.fixed(3, 9), range(12))
    assert short.epochs == 36 and short.hypervolume == pytest.approx(hypervolume(sizes, [min(c.val_mse[:3]) for c in configs]))
    # a recorded short schedule is used where there is one
    with_short = [rp.Config(c.seed, c.latent_size, c.pca_mse, c.val_mse, c.epoch_seconds, {3: (0.0001,) * 3}) for c in configs]
    assert rp.replay(with_short, rp.fixed(3, 9), range(12)).hypervolume == pytest.approx(hypervolume(sizes, [0.0001] * 12))
    # the anytime curve never falls and ends at the final hypervolume
    volumes = [v for _, v in full.anytime]
    assert volumes == sorted(volumes) and volumes[-1] == full.hypervolume
    assert rp.at_epochs(full.anytime, 0) == 0 and rp.at_epochs(full.anytime, 10_000) == full.hypervolume


def test_the_replayed_halving_rule_is_the_pruner_s_and_stops_at_rungs_only() -> None:
    configs = synthetic()
    order = list(range(12))
    run = rp.replay(configs, rp.pareto_halving(9), order, workers=1)
    # sequential arrivals: the trial numbered i has the first i trials as peers; replay the rule by hand
    peers: list[RungRecord] = []
    spent = 0
    for i, c in enumerate(configs):
        for k in range(1, 10):
            me = RungRecord(i, c.val_mse[:k], (c.latent_size,), c.pca_mse)
            spent += 1
            if k < 9 and verdict(me, peers, **RULE) is not None:
                assert k in (1, 3)
                break
        peers.append(me)
    assert run.epochs == spent < 12 * 9
    # with several workers the same configurations cost the same epochs when nothing is pruned
    assert rp.replay(configs, rp.fixed(9, 9), order, workers=4).epochs == 12 * 9


def test_every_rule_runs_and_the_benchmark_summarises_orderings() -> None:
    configs = synthetic(n=10)
    result = rp.benchmark(configs, orderings=3, workers=[1, 3], short=[3])
    assert result["reference"]["epochs"] == 90
    keys = {f"{r}/w{w}" for r in ("full", "fixed-3", "latent_percentile", "pareto_median", "pareto_halving") for w in (1, 3)}
    assert set(result["summary"]) == keys
    for s in result["summary"].values():
        assert 0 < s["epochs_mean"] <= 90 and 0 <= s["complete"]["share_mean"] <= 1 + 1e-12 and len(s["complete"]["anytime"]) == 3
        assert s["complete"]["share_mean"] <= s["all"]["share_mean"] + 1e-12  # stopped trials can only add to a front
    assert result["summary"]["full/w1"]["complete"]["share_mean"] == pytest.approx(1.0)
    assert result["summary"]["fixed-3/w3"]["epochs_mean"] == 30


def test_the_replay_command_writes_its_json_and_figure(tmp_path: Path) -> None:
    import json

    curves = tmp_path / "curves"
    curves.mkdir()
    for c in synthetic(n=6, epochs=3):
        payload = {
            "seed": c.seed,
            "latent_size": c.latent_size,
            "pca_mse": c.pca_mse,
            "val_mse": c.val_mse,
            "epoch_seconds": c.epoch_seconds,
        }
        (curves / f"seed-{c.seed:02d}.json").write_text(json.dumps(payload))
    out = tmp_path / "out"
    assert rp.main(["--curves", str(curves), "--orderings", "2", "--workers", "1", "--short", "1", "--out", str(out)]) == 0
    result = json.loads((out / "replay.json").read_text())
    assert result["configs"] == 6 and (out / "replay.png").stat().st_size > 10_000
    assert os.environ.get("CAE_DATA_DIR")  # the hermetic fixture kept it; nothing here read images


@pytest.mark.parametrize("space", ["pareto.yaml", "tiny.yaml"])
def test_worker_processes_open_the_study_with_the_spaces_pruner(tmp_path: Path, space: str) -> None:
    """A ``--workers`` process loads the study itself: it must judge trials by the space's rule, not Optuna's default."""
    from search.runtime.workers import Job, join_study
    from search.space import load_space

    parsed = load_space(SPACES / space)
    url = f"sqlite:///{tmp_path}/w.db"
    optuna.create_study(study_name="w", storage=url, directions=["minimize"] * len(parsed.study.objectives))
    pruner = join_study(Job(str(SPACES / space), (), "w", url, trials=1, timeout=None, grace=60), parsed).pruner
    settings = {k: v for k, v in parsed.study.pruner.items() if k != "type"}
    if space == "pareto.yaml":
        assert isinstance(pruner, ParetoHalvingPruner)
        assert {k: getattr(pruner, k) for k in settings} == settings
    else:
        assert isinstance(pruner, optuna.pruners.MedianPruner)
        assert (pruner._n_startup_trials, pruner._n_warmup_steps) == (settings["n_startup_trials"], settings["n_warmup_steps"])
