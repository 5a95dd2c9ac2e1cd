"""The latent-aware percentile pruner: its rule on synthetic curves, and its reading of a real multi-objective study."""

from __future__ import annotations

import inspect
import random

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from search.pruning.latent_pruner import Curve, LatentPercentilePruner, verdict

DEFAULTS = {"percentile": 50.0, "latent_factor": 2.0, "n_startup_trials": 4, "n_warmup_steps": 1, "n_min_trials": 3}


def judge(curve: Curve, peers: list[Curve], **settings: float) -> str | None:
    return verdict(curve, peers, **(DEFAULTS | settings))


def flat(latent: int, value: float, epochs: int = 5) -> Curve:
    return Curve(latent, (value,) * epochs)


def good_peers(latent: int = 64, n: int = 6) -> list[Curve]:
    return [flat(latent, 0.010 + 0.001 * i) for i in range(n)]  # bests 0.010..0.015, median 0.0125


def test_a_clearly_worse_trial_is_pruned_at_the_first_epoch_after_warm_up() -> None:
    peers = good_peers()
    assert judge(Curve(64, (0.05,)), peers) is None  # epoch 1 is warm-up
    reason = judge(Curve(64, (0.05, 0.04)), peers)
    assert reason == (
        "pruned at epoch 2: best val MSE 0.04000 worse than the 50th percentile (0.01250) "
        "of 6 earlier trials with latent 32–128 at that epoch"
    )


def test_the_latent_bounds_are_inclusive_rounded_and_use_thousands_separators() -> None:
    peers = [flat(2048, 0.01), flat(8192, 0.01), flat(2047, 0.001), flat(8193, 0.001)]  # only the first two are within a factor of 2
    reason = judge(flat(4096, 0.02, 2), peers, n_startup_trials=0, n_min_trials=2)
    assert reason is not None
    assert "0.01000) of 2 earlier trials with latent 2,048–8,192 at" in reason
    reason = judge(
        flat(100, 0.02, 2), [flat(67, 0.01), flat(150, 0.01), flat(66, 0.001)], latent_factor=1.5, n_startup_trials=0, n_min_trials=2
    )
    assert reason is not None and "of 2 earlier trials with latent 67–150 " in reason


def test_a_bad_trial_whose_peers_all_have_distant_latents_is_not_pruned() -> None:
    trial = Curve(64, (0.05, 0.04, 0.04))
    distant = good_peers(16, 3) + good_peers(256, 3)
    assert judge(trial, distant) is None
    assert judge(trial, distant, latent_factor=4.0) is not None  # the same peers, made comparable, do prune it


def test_a_small_latent_is_not_judged_against_large_latents() -> None:
    large = [flat(512, 0.002 + 0.0001 * i) for i in range(6)]  # far better: 32× more latent numbers
    small = [flat(16, 0.030), flat(16, 0.031), flat(12, 0.034), flat(24, 0.036)]
    trial = flat(16, 0.032, 3)
    assert judge(trial, large + small) is None  # median of the four latent-16-ish peers is 0.0325
    assert judge(Curve(512, trial.val_mse), large + small) is not None  # as a latent-512 trial it would lose
    reason = judge(flat(16, 0.040, 3), large + small)
    assert reason is not None and "of 4 earlier trials with latent 8–32 " in reason


def test_best_so_far_a_noisy_uptick_after_a_good_epoch_does_not_prune() -> None:
    peers = good_peers()  # median 0.0125
    assert judge(Curve(64, (0.05, 0.011, 0.013)), peers) is None  # 0.013 at epoch 3 but 0.011 at epoch 2
    assert judge(Curve(64, (0.05, 0.014, 0.013)), peers) is not None  # never below the median
    # A peer's uptick does not make the bar easier either: each peer counts with its best up to the epoch.
    noisy_peers = [Curve(64, (0.05, 0.010, 0.050)) for _ in range(4)]
    reason = judge(Curve(64, (0.05, 0.020, 0.020)), noisy_peers)
    assert reason is not None and "(0.01000)" in reason
    # ...but only up to the epoch: a peer's later improvements do not raise the bar at an earlier epoch.
    improving_peers = [Curve(64, (0.05, 0.030, 0.001)) for _ in range(4)]
    assert judge(Curve(64, (0.05, 0.020)), improving_peers) is None


@pytest.mark.parametrize("n_startup", [1, 4, 7])
def test_startup_trials_boundary(n_startup: int) -> None:
    comparable = good_peers(64, 3)
    other = [flat(4096, 0.5) for _ in range(10)]  # startup counts finished trials of any latent
    trial = flat(64, 0.05, 3)
    short = (comparable + other)[: max(n_startup - 1, 3)]
    exact = (comparable + other)[: max(n_startup, 3)]
    if n_startup > 3:
        assert judge(trial, short, n_startup_trials=n_startup) is None
    assert judge(trial, exact, n_startup_trials=n_startup) is not None


@pytest.mark.parametrize("n_warmup", [0, 1, 3])
def test_warm_up_boundary(n_warmup: int) -> None:
    peers = good_peers()
    if n_warmup > 0:
        assert judge(flat(64, 0.05, n_warmup), peers, n_warmup_steps=n_warmup) is None
    assert judge(flat(64, 0.05, n_warmup + 1), peers, n_warmup_steps=n_warmup) is not None
    assert judge(Curve(64, ()), peers, n_warmup_steps=0) is None  # no epoch yet: nothing to judge


def test_peers_pruned_before_the_epoch_do_not_count_at_it() -> None:
    full = good_peers(64, 3)
    pruned_early = [Curve(64, (0.02, 0.02)) for _ in range(2)]
    peers = full + pruned_early
    reason = judge(flat(64, 0.05, 2), peers, n_min_trials=5)
    assert reason is not None and "of 5 earlier trials" in reason
    assert judge(flat(64, 0.05, 3), peers, n_min_trials=5) is None  # only 3 reached epoch 3
    reason = judge(flat(64, 0.05, 3), peers, n_min_trials=3)
    assert reason is not None and "of 3 earlier trials" in reason
    assert "(0.01100)" in reason  # the median of the three full curves, not of all five


def test_n_min_trials_boundary() -> None:
    peers = good_peers(64, 3) + [flat(1024, 0.01) for _ in range(5)]
    assert judge(flat(64, 0.05, 2), peers, n_min_trials=4) is None
    assert judge(flat(64, 0.05, 2), peers, n_min_trials=3) is not None


def test_prunes_only_when_strictly_worse_than_the_percentile() -> None:
    peers = [flat(64, v) for v in (0.25, 0.5, 0.75)]  # exact in binary, so equality is exact
    assert judge(flat(64, 0.5, 2), peers, n_startup_trials=3) is None  # equal to the median
    assert judge(flat(64, 0.5001, 2), peers, n_startup_trials=3) is not None
    assert judge(flat(64, 0.375, 2), peers, n_startup_trials=3, percentile=25) is None  # numpy's linear interpolation: 0.375
    assert judge(flat(64, 0.3751, 2), peers, n_startup_trials=3, percentile=25) is not None


def test_a_lower_percentile_prunes_more() -> None:
    rng = random.Random(0)
    latents = [8, 16, 32, 64, 128, 256]
    peers = [Curve(lat, [rng.uniform(0.005, 0.05) / (1 + i / 4) for i in range(6)]) for lat in latents for _ in range(5)]
    trials = [
        Curve(lat, [rng.uniform(0.005, 0.05) / (1 + i / 4) for i in range(k)]) for lat in latents for k in range(1, 7) for _ in range(8)
    ]
    counts = {p: sum(judge(t, peers, percentile=p) is not None for t in trials) for p in (10, 25, 50, 75, 90)}
    assert 0 < counts[75] < counts[25] < len(trials)
    assert counts[10] >= counts[25] >= counts[50] >= counts[75] >= counts[90]
    reason = next(r for t in trials if (r := judge(t, peers, percentile=25)) is not None)
    assert "the 25th percentile" in reason


def test_a_non_finite_value_prunes_after_warm_up() -> None:
    peers = good_peers()
    assert judge(Curve(64, (float("nan"),)), peers) is None  # warm-up still holds
    reason = judge(Curve(64, (0.011, float("nan"))), peers)
    assert reason is not None and "non-finite" in reason and "epoch 2" in reason
    assert judge(Curve(64, (0.011, float("inf"))), peers[:1]) is None  # startup still holds
    reason = judge(Curve(64, (0.011, float("inf"))), peers[:4])
    assert reason is not None and "non-finite" in reason
    # A peer's NaN epoch is ignored, not propagated into the percentile.
    reason = judge(Curve(64, (0.05, 0.05)), [*peers, Curve(64, (0.01, float("nan")))])
    assert reason is not None and "(0.01200)" in reason and "of 7 earlier" in reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("percentile", 0),
        ("percentile", 100),
        ("percentile", -5),
        ("percentile", float("nan")),
        ("percentile", "50"),
        ("latent_factor", 0.5),
        ("latent_factor", float("inf")),
        ("n_startup_trials", -1),
        ("n_startup_trials", 2.5),
        ("n_warmup_steps", -1),
        ("n_warmup_steps", True),
        ("n_min_trials", 0),
    ],
)
def test_bad_constructor_arguments_raise_value_error_naming_them(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"^{name} ") as error:
        LatentPercentilePruner(**{name: value})
    assert "\n" not in str(error.value)


def test_constructor_accepts_boundary_values_and_is_an_optuna_pruner() -> None:
    pruner = LatentPercentilePruner(percentile=0.5, latent_factor=1, n_startup_trials=0, n_warmup_steps=0, n_min_trials=1)
    assert isinstance(pruner, optuna.pruners.BasePruner)
    assert [p for p in inspect.signature(LatentPercentilePruner).parameters] == list(DEFAULTS)
    assert {k: p.default for k, p in inspect.signature(LatentPercentilePruner).parameters.items()} == DEFAULTS
    # latent_factor=1: only the same latent is comparable.
    assert pruner.reason_for(optuna.create_study(), 64, [0.05]) is None
    peers = [flat(64, 0.01), flat(65, 0.001), flat(63, 0.001)]
    reason = verdict(flat(64, 0.02, 1), peers, percentile=50, latent_factor=1, n_startup_trials=0, n_warmup_steps=0, n_min_trials=1)
    assert reason is not None and "of 1 earlier trial with latent 64–64 " in reason


def test_curve_from_trial_skips_missing_or_malformed_attributes() -> None:
    def frozen(**attrs: object) -> optuna.trial.FrozenTrial:
        return create_trial(values=[0.1, 8], user_attrs=attrs)

    assert Curve.from_trial(frozen(latent_size=8, val_mse=[0.1, 0.2])) == Curve(8, (0.1, 0.2))
    for attrs in ({}, {"latent_size": 8}, {"val_mse": [0.1]}, {"latent_size": "8", "val_mse": [0.1]}, {"latent_size": 8, "val_mse": "0.1"}):
        assert Curve.from_trial(frozen(**attrs)) is None, attrs
    assert Curve.from_trial(frozen(latent_size=8, val_mse=[0.1, None])) is None


def test_in_a_real_multi_objective_study() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"])
    pruner = LatentPercentilePruner(n_startup_trials=4, n_warmup_steps=1, n_min_trials=3)
    for i, curve in enumerate(([0.030, 0.020, 0.015], [0.030, 0.021, 0.016], [0.030, 0.022, 0.017], [0.030, 0.023, 0.018])):
        study.add_trial(create_trial(values=[min(curve), 64], user_attrs={"latent_size": 64 if i else 128, "val_mse": curve}))
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"latent_size": 64, "val_mse": [0.001, 0.001]}))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"latent_size": 64, "val_mse": [0.0, 0.0, 0.0]}))
    study.add_trial(create_trial(values=[0.001, 2048], user_attrs={"latent_size": 2048, "val_mse": [0.001] * 3}))
    study.add_trial(create_trial(values=[0.5, 64]))  # no curve recorded: skipped

    reason = pruner.reason_for(study, 64, [0.03, 0.025, 0.02])
    assert reason == (
        "pruned at epoch 3: best val MSE 0.02000 worse than the 50th percentile (0.01650) "
        "of 4 earlier trials with latent 32–128 at that epoch"
    )
    assert pruner.reason_for(study, 64, [0.03, 0.025, 0.016]) is None
    # At epoch 2 the pruned trial counts too, and pulls the median down.
    assert "(0.02100) of 5 earlier" in (pruner.reason_for(study, 64, [0.03, 0.025]) or "")
    # A trial's own number is left out of its peers.
    assert "of 3 earlier" in (pruner.reason_for(study, 64, [0.03, 0.025, 0.02], number=0) or "")

    for curve, pruned in (([0.03, 0.025, 0.02], True), ([0.03, 0.025, 0.016], False), ([0.03], False)):
        trial = study.ask()
        trial.set_user_attr("latent_size", 64)
        trial.set_user_attr("val_mse", curve)
        frozen = study.get_trials(deepcopy=False)[-1]
        assert frozen.number == trial.number and frozen.state == TrialState.RUNNING
        assert pruner.prune(study, frozen) is pruned
        assert pruner.reason(study, frozen) == pruner.reason_for(study, 64, curve, number=trial.number)
        study.tell(trial, state=TrialState.FAIL)  # keep the peers as they are for the next case


def test_errors_are_compared_relative_to_pca_when_every_trial_has_a_baseline() -> None:
    """Within a factor of 2 the error still falls with size: a latent-64 trial 9% above PCA at 64 is not worse
    than latent-128 peers 10% above PCA at 128, though its raw MSE is higher."""
    peers = [Curve(128, (0.05, 0.0055), baseline=0.005) for _ in range(4)]
    small = Curve(64, (0.05, 0.0087), baseline=0.008)  # 1.09× its PCA; the peers are 1.10× theirs
    assert judge(small, peers) is None
    assert judge(Curve(64, small.val_mse), peers) is not None  # without its baseline: raw errors, and it loses
    worse = judge(Curve(64, (0.05, 0.0096), baseline=0.008), peers)  # 1.20× its PCA
    assert worse is not None and "(1.200× PCA's at its size)" in worse and "percentile (1.100× PCA's)" in worse
    mixed = [*peers, Curve(128, (0.05, 0.0055))]  # one peer without a baseline: back to raw errors for all
    assert judge(small, mixed) is not None
