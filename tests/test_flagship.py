"""The flagship's budget: the plan's arithmetic from measured epoch seconds, images and minutes to each size's epochs,
and its report's judgement (published points only beside the column measured as they were, the targets met or missed)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from analysis.published import Measurement
from benchmarks.flagship import _parse, _refit_overrides, _refit_train, _search_overrides
from benchmarks.flagship_calibration import PassCost, pass_cost
from benchmarks.flagship_plan import Budget, plan_epochs, plan_refit
from benchmarks.flagship_report import TARGET_GAIN_DB, Cell, Column, Row, markdown, published_at, targets
from cae.code_fit import CodeFit
from cae.settings import TrainConfig
from cae.spec import Architecture, Conv, MaxPool, Upsample


def test_each_size_gets_an_equal_part_of_the_seconds_in_its_own_epochs() -> None:
    # 64: 3 s a search epoch on 10,000 images, 6 s at 256; the refit's 45,000 images and a 1.2 margin make 16.2 s and 32.4 s
    plan = plan_refit({64: 3.0, 256: 6.0}, search_images=10_000, refit_images=45_000, seconds=3600)
    assert [s.epoch_seconds for s in plan.sizes] == pytest.approx([16.2, 32.4])
    # 1,800 s each: 111 epochs (1,798.2 s) and 55 (1,782 s); the 19.8 s left buy 64 one more (16.2 s)
    assert plan.epochs == {64: 112, 256: 55}
    assert plan.planned_seconds == pytest.approx(112 * 16.2 + 55 * 32.4) and plan.planned_seconds <= 3600
    assert "within the 60.0 min left" in plan.lines()[-1]


def test_what_flooring_leaves_goes_to_the_size_with_fewest_epochs_that_fits() -> None:
    plan = plan_refit({64: 1.0, 128: 1.0, 256: 2.0}, search_images=1, refit_images=1, seconds=10, margin=1.0)
    # 3.33 s each: 3, 3 and 1 epochs (8 s); the 2 s left: 256 (fewest, fits) then nothing but 0 s
    assert plan.epochs == {64: 3, 128: 3, 256: 2} and plan.planned_seconds == 10


def test_a_budget_too_small_for_one_epoch_each_plans_one_and_says_it_is_over() -> None:
    plan = plan_refit({64: 10.0, 128: 10.0}, search_images=100, refit_images=1000, seconds=60)
    assert plan.epochs == {64: 1, 128: 1} and plan.planned_seconds == pytest.approx(240)
    assert "OVER" in plan.lines()[-1]


@pytest.mark.parametrize(
    ("seconds", "kwargs"),
    [({}, {}), ({64: 0.0}, {}), ({64: math.nan}, {}), ({64: 1.0}, {"search_images": 0}), ({64: 1.0}, {"seconds": -1})],
)
def test_the_plan_refuses_what_it_cannot_plan(seconds: dict, kwargs: dict) -> None:
    with pytest.raises(ValueError, match="plan_refit"):
        plan_refit(seconds, **({"search_images": 10, "refit_images": 10, "seconds": 60} | kwargs))


def test_the_budget_gives_the_search_its_share_and_the_refit_what_is_left_but_the_reserve() -> None:
    budget = Budget(150, 1 / 3, 0.08)
    assert budget.search_seconds == pytest.approx(3000) and budget.reserve_seconds == pytest.approx(720)
    assert budget.refit_seconds(3200) == pytest.approx(9000 - 3200 - 720)  # the search ran over its share: the refit pays
    assert budget.refit_seconds(9000) == 0
    for bad in ((0, 0.3, 0.1), (150, 0, 0.1), (150, 0.6, 0.4), (math.inf, 0.3, 0.1)):
        with pytest.raises(ValueError, match="budget"):
            Budget(*bad)


def test_the_command_searches_every_trial_at_a_short_fixed_budget_on_the_official_split() -> None:
    args = _parse(["--budget-minutes", "90", "--search-subset", "6000"])
    assert args.budget.search_seconds == pytest.approx(1800) and args.split == "official"
    own = ["data.subset=6000", "study.pruner={type: none}", "train.epochs=2", "data.split=official", "model.blocks=2"]
    assert _search_overrides(args) == own
    more = _parse(["--search-set", "model.latent_channels=32"])
    assert _search_overrides(more)[-1] == "model.latent_channels=32"
    # the refit mirrors a random half of every batch unless told otherwise: the last setting wins
    assert _refit_overrides(args) == ["train.flip=true"]
    unflipped = _refit_overrides(_parse(["--refit-set", "train.flip=false"]))
    assert not _refit_train({"train": {"lr": 0.002}}, unflipped).flip and _refit_train({"train": {}}, _refit_overrides(args)).flip
    with pytest.raises(SystemExit):
        _parse(["--sizes", "64", "128", "256", "--refit-epochs", "4", "3"])
    with pytest.raises(SystemExit):
        _parse(["--search-share", "0.95"])


COLUMNS = [
    Column("own", "own test split (official)", Measurement("JPEG export", "official")),
    Column("official", "official test split (JPEG export)", Measurement("JPEG export", "official")),
    Column("originals", "original pixels (test/)", Measurement("original", "official")),
]


PUBLISHED = {64: 21.5, 128: 23.9}  # the linear-bottleneck CAE's, of the mean MSE
COIN = {128: 24.67}  # COIN++'s mean of per-image PSNRs; none at 64


def _row(latent: int, psnr: float, pca: float) -> Row:
    cells = {
        "own": Cell("own", psnr + 0.2, pca + 0.2),
        "official": Cell("official", psnr + 0.2, pca + 0.2, psnr + 0.9, pca + 0.9),
        "originals": Cell("846", psnr, pca, psnr + 0.7, pca + 0.7, published=PUBLISHED[latent], published_mean_psnr=COIN.get(latent)),
    }
    return Row(latent, "flagship-refit", 0, 3, 20, 12.0, cells)


def test_the_targets_are_met_or_missed_by_how_much_and_the_published_point_stands_only_beside_the_originals() -> None:
    rows = [_row(64, 21.9, 21.0), _row(128, 24.0, 23.0)]
    judged = targets(rows)
    assert judged[0]["met"] and judged[0]["psnr_short_db"] == 0 and judged[0]["gain_db"] == pytest.approx(0.9)
    assert not judged[1]["met"] and judged[1]["psnr_short_db"] == pytest.approx(0.2) and judged[1]["gain_short_db"] == 0
    assert TARGET_GAIN_DB == 0.8
    text = markdown(rows, COLUMNS, judged, "Wall time 3.0 min.")
    table = next(line for line in text.splitlines() if line.startswith("| 64 ")).strip("| ").split(" | ")
    header = next(line for line in text.splitlines() if line.startswith("| latent")).strip("| ").split(" | ")
    assert table[header.index("originals: published")] == "21.50"
    assert table[header.index("official: published")] == table[header.index("own: published")] == "not measured so"
    assert "- 64 values, the encoder's codes: PSNR 21.90 (target 21.8: met); over PCA 0.90 (target 0.8: met)" in text
    assert "- 128 values, the encoder's codes: PSNR 24.00 (target 24.2: missed by 0.20 dB)" in text
    assert "fitted" not in text  # no codes were fitted: no such column, no such target
    assert "PSNR of the mean MSE" in text and "mean of per-image PSNRs" in text


def test_a_published_per_image_mean_stands_beside_the_per_image_figure_of_the_originals_only() -> None:
    rows = [_row(64, 21.9, 21.0), _row(128, 24.0, 23.0)]
    text = markdown(rows, COLUMNS, targets(rows), "Wall time 3.0 min.")
    header = next(line for line in text.splitlines() if line.startswith("| latent")).strip("| ").split(" | ")
    lines = {line.strip("| ").split(" | ")[0]: line.strip("| ").split(" | ") for line in text.splitlines() if line.startswith("| ")}
    at = {latent: lines[str(latent)] for latent in (64, 128)}
    per_image, of_mean_mse = header.index("originals: CAE / PCA (per-image mean)"), header.index("originals: published")
    assert at[128][per_image] == "24.70 / 23.70 (published 24.67)" and at[128][of_mean_mse] == "23.90"
    assert at[64][per_image] == "22.60 / 21.70" and at[64][of_mean_mse] == "21.50"  # COIN++ published nothing at 64
    assert at[128][header.index("official: CAE / PCA (per-image mean)")] == "24.90 / 23.90"  # the JPEG export: not measured so
    # the JSON carries both published values, each named by its convention
    cell = rows[1].to_dict()["cells"]["originals"]
    assert (cell["published"], cell["published_mean_psnr"]) == (23.9, 24.67)
    assert rows[0].to_dict()["cells"]["originals"]["published_mean_psnr"] is None
    assert rows[1].to_dict()["cells"]["official"]["published_mean_psnr"] is None


def test_the_report_takes_each_published_value_from_the_points_measured_as_its_figure() -> None:
    assert published_at(Measurement("original", "official"), 128) == 23.9
    assert published_at(Measurement("original", "official", "mean-psnr"), 128) == 24.67
    assert published_at(Measurement("original", "official", "mean-psnr"), 64) is None  # no COIN++ point at 64
    assert published_at(Measurement("JPEG export", "official", "mean-psnr"), 128) is None
    assert published_at(Measurement("JPEG export", "official"), 128) is None


def test_measured_epochs_are_planned_as_measured_and_said_so() -> None:
    plan = plan_epochs({64: 24.0, 256: 48.0}, refit_images=45_000, seconds=960, search_epoch_seconds={64: 5.0})
    assert plan.epochs == {64: 20, 256: 10} and plan.planned_seconds == 960
    lines = plan.lines()
    assert "timed on this machine beforehand" in lines[0]
    assert "an epoch took 5.0 s in the search, measured 24.0 s here" in lines[1] and "measured 48.0 s here" in lines[2]
    for bad in ({}, {64: 0.0}, {64: math.inf}):
        with pytest.raises(ValueError, match="plan_epochs"):
            plan_epochs(bad, refit_images=10, seconds=60)


def test_an_epoch_costs_its_training_pass_and_one_validation_pass_or_two_with_averaged_weights() -> None:
    cost = PassCost(train=0.001, evaluate=0.0002)
    assert cost.epoch_seconds(45_000, 5_000, averaged=False) == pytest.approx(45 + 1)
    assert cost.epoch_seconds(45_000, 5_000, averaged=True) == pytest.approx(45 + 2)


def test_calibration_times_a_design_as_the_refit_trains_it(tiny_splits) -> None:
    arch = Architecture(encoder=(Conv(4), MaxPool(), Conv(4)), decoder=(Upsample(), Conv(3, activation="none")))
    cfg = TrainConfig(batch_size=16, device="cpu", epochs=30)
    cost = pass_cost(arch, cfg, tiny_splits.train.images)
    assert 0 < cost.evaluate < cost.train < 1  # a training step costs more than a forward pass, and neither a second an image
    assert pass_cost(arch, cfg, tiny_splits.train.images[:100]).train > 0  # fewer images than it trains: repeated
    with pytest.raises(ValueError, match="calibration"):
        pass_cost(arch, cfg, tiny_splits.train.images[:0])


def test_the_refit_trains_each_design_as_it_was_but_what_refit_set_writes() -> None:
    design = {"train": {"epochs": 2, "lr": 0.002, "batch_size": 128, "schedule": "onecycle", "unknown_key": 1}}
    cfg = _refit_train(design, ["train.ema=0.999", "data.subset=100"])
    assert (cfg.ema, cfg.lr, cfg.batch_size, cfg.schedule) == (0.999, 0.002, 128, "onecycle")
    assert _parse(["--refit-set", "train.ema=0.999", "--refit-set", "train.batch_size=256"]).refit_set == [
        "train.ema=0.999",
        "train.batch_size=256",
    ]


def test_fitted_codes_are_judged_on_their_own_and_the_published_point_stays_beside_the_encoders() -> None:
    rows = [_row(128, 24.0, 23.0)]
    rows[0].cells["originals"] = dataclasses.replace(rows[0].cells["originals"], fitted_psnr=24.5, fitted_mean_psnr=25.2)
    judged = targets(rows)
    assert [(j["codes"], j["met"]) for j in judged] == [("encoder", False), ("fitted", True)]
    assert judged[1]["gain_db"] == pytest.approx(1.5) and judged[0]["psnr_short_db"] == pytest.approx(0.2)
    text = markdown(rows, COLUMNS, judged, "Wall time 3.0 min.", CodeFit(30))
    header = next(line for line in text.splitlines() if line.startswith("| latent")).strip("| ").split(" | ")
    row = next(line for line in text.splitlines() if line.startswith("| 128 ")).strip("| ").split(" | ")
    assert row[header.index("originals, fitted codes: CAE (mean MSE)")] == "24.50" and row[header.index("fitted: gain")] == "1.50"
    assert row[header.index("originals: published")] == "23.90" and "fitted: published" not in header
    assert "- 128 values, fitted codes: PSNR 24.50 (target 24.2: met); over PCA 1.50 (target 0.8: met)" in text
    assert "(30 Adam steps at 0.01)" in text and rows[0].to_dict()["cells"]["originals"]["fitted_gain_db"] == pytest.approx(1.5)


def test_the_gain_over_pca_is_split_into_the_decoders_share_and_the_encoders_where_the_network_has_a_linear_code() -> None:
    rows = [_row(64, 21.9, 21.0), _row(128, 24.0, 23.0)]
    rows[1].cells["originals"] = dataclasses.replace(rows[1].cells["originals"], linear_psnr=23.8, fitted_psnr=24.5)
    text = markdown(rows, COLUMNS, targets(rows), "Wall time 3.0 min.", CodeFit(30))
    assert "Where the gain over PCA on the originals comes from" in text
    said = "- 128 values, +1.00 dB: +0.80 from the decoder on PCA's code, +0.20 from the encoder's correction of the code"
    assert said + "; fitted codes add +0.50 more" in text
    assert "- 64 values, +" not in text  # measured without a linear code: no split
    assert rows[1].to_dict()["cells"]["originals"]["linear_psnr"] == 23.8
    assert "comes from" not in markdown(rows[:1], COLUMNS, targets(rows[:1]), "Wall time 3.0 min.")


def test_a_size_stopped_by_the_refits_deadline_is_said_so() -> None:
    rows = [_row(64, 21.9, 21.0), dataclasses.replace(_row(128, 24.0, 23.0), stopped="stopped after epoch 9 of 12 by the run's deadline")]
    text = markdown(rows, COLUMNS, targets(rows), "Wall time 3.0 min.")
    assert "Shortened or stopped by the refit's deadline" in text
    assert "- 128 values: stopped after epoch 9 of 12 by the run's deadline" in text
    assert "- 64 values: stopped" not in text and rows[1].to_dict()["stopped"].startswith("stopped after epoch 9")
    assert "deadline" not in markdown(rows[:1], COLUMNS, targets(rows[:1]), "Wall time 3.0 min.")
