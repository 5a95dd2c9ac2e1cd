"""Analysis: the statistics on data with known answers, and each command end to end on tiny studies."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure

from analysis import latent_vs_error
from analysis.power_law import (
    MIN_SIZES_POWER_LAW,
    MIN_TRIALS_CORRELATION,
    MIN_TRIALS_IMPORTANCES,
    RankCorrelation,
    fit_power_law,
    left_out,
    pareto_front,
    rank_correlation,
    small_rank_correlation,
    strength,
)
from analysis.published import COIN_PLUS_PLUS, COLUMNS, LINEAR_BOTTLENECK, long_trained_psnr, published_points
from cae.settings import DataDescription
from search.display import state_counts
from tests.conftest import SPACES

# ---------------------------------------------------------------- statistics


def test_power_law_recovers_a_known_exponent() -> None:
    latent = np.geomspace(48, 3072, 9)
    exact = fit_power_law(latent, 0.4 * latent**-0.35)
    assert exact.b == pytest.approx(-0.35, abs=1e-9) and exact.a == pytest.approx(0.4, rel=1e-9)
    assert exact.r2 == pytest.approx(1.0) and exact.doubling == pytest.approx(2**-0.35)
    rng = np.random.default_rng(0)
    latent = rng.choice([64, 128, 256, 512, 1024, 2048], size=60)
    noisy = 0.4 * latent**-0.35 * np.exp(rng.normal(0, 0.1, size=60))
    fit = fit_power_law(latent, noisy)
    assert fit.b_low < -0.35 < fit.b_high and fit.b_high - fit.b_low < 0.1
    assert 0.8 < fit.r2 < 1
    assert fit(1024) == pytest.approx(0.4 * 1024**-0.35, rel=0.05)


def test_power_law_needs_three_distinct_latent_sizes() -> None:
    # two sizes: a line passes through any errors there, so no fit is given however many trials hold them
    with pytest.raises(ValueError) as caught:
        fit_power_law([64, 64, 128, 128, 128], [0.1, 0.2, 0.05, 0.06, 0.07])
    assert str(caught.value) == "a power law needs at least 3 distinct latent sizes; these 5 trials span 2"
    with pytest.raises(ValueError, match=r"; this trial has 1$"):
        fit_power_law([64], [0.1])
    assert fit_power_law([64, 128, 256], [0.1, 0.05, 0.025]).b == pytest.approx(-1)  # the third size: the first that could disagree
    assert MIN_SIZES_POWER_LAW == 3


def test_spearman_below_its_minimum_is_never_a_correlation() -> None:
    # exact p of a perfect order: 2/n!; below MIN_TRIALS_CORRELATION it cannot reach 0.05
    four = small_rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])
    assert four.rho == pytest.approx(-1) and four.p == pytest.approx(2 / 24) and strength(four) == "no clear"
    five = small_rank_correlation([1, 2, 3, 4, 5], [5, 4, 3, 2, 1])
    assert five.p == pytest.approx(2 / 120) and strength(five) == "a strong"
    # scipy's t approximation would call four trials in order certain: the rule does not trust it there either
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]).p < 1e-6 and strength(RankCorrelation(-1.0, 0.0, 4)) == "no clear"
    assert MIN_TRIALS_CORRELATION == 5


def test_rank_correlation_and_its_words() -> None:
    perfect = rank_correlation([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    assert perfect.rho == pytest.approx(-1) and perfect.p < 0.01 and strength(perfect) == "a strong"
    rng = np.random.default_rng(1)
    unrelated = rank_correlation(rng.random(30), rng.random(30))
    assert unrelated.p > 0.05 and strength(unrelated) == "no clear"


def test_pareto_front_keeps_the_best_error_at_each_size_or_smaller() -> None:
    table = pd.DataFrame(
        {
            "number": [0, 1, 2, 3, 4, 5],
            "latent_size": [64, 64, 128, 256, 512, 1024],
            "val_mse": [0.02, 0.01, 0.015, 0.008, 0.009, 0.004],
        }
    )
    front = pareto_front(table)
    assert front["number"].tolist() == [1, 3, 5]


def test_published_points_convert_psnr_and_mse() -> None:
    points = published_points().set_index("latent_size")
    assert points.loc[64, "mse"] == pytest.approx(10 ** (-2.15))
    assert points.loc[1024, "psnr"] == pytest.approx(-10 * math.log10(4.7e-3))


def test_published_points_are_keyed_by_dataset_and_pixels() -> None:
    points = published_points("cifar10")
    assert list(points.columns) == COLUMNS and len(points) == 8
    # each point says on what it was measured: CIFAR-10's own pixels, its official test split, and its PSNR convention:
    # the CAEs' PSNR of the mean MSE, COIN++'s mean of per-image PSNRs (set only beside a per-image figure: test_published)
    assert set(points["dataset"]) == {"cifar10"} and set(points["pixels"]) == {"original"} and set(points["split"]) == {"official"}
    conventions = points.groupby("psnr_convention")["source"].unique().map(set).to_dict()
    assert conventions == {"mean-mse": {LINEAR_BOTTLENECK, "the assignment's reference CAE"}, "mean-psnr": {COIN_PLUS_PLUS}}
    assert published_points().equals(points)  # CIFAR-10 stays the default of the callers from before datasets
    assert published_points("cifar10", shape=(3, 32, 32)).equals(points)
    for dataset in ("mnist", "fashionmnist", "cifar100", "svhn", "stl10", "imagefolder"):
        assert published_points(dataset).empty and long_trained_psnr(dataset) == {}, dataset
    for other_pixels in ((1, 32, 32), (3, 64, 64), (3, 28, 28)):  # CIFAR-10 made gray or resized is not what was published
        assert published_points("cifar10", shape=other_pixels).empty and long_trained_psnr("cifar10", shape=other_pixels) == {}
    assert long_trained_psnr() == {64: 21.5, 128: 23.9, 256: 26.8, 384: 28.9}  # the defaults: CIFAR-10 at its own shape


# ---------------------------------------------------------------- commands end to end


def test_latent_vs_error_writes_table_figure_and_report(
    tiny_study: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tiny_study)
    assert latent_vs_error.main(["--study", "tiny"]) == 0
    out = tiny_study / "studies" / "tiny" / "analysis"
    table = pd.read_csv(out / "latent_vs_error.csv")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    assert sorted(table["number"]) == [t.number for t in study.trials]
    complete = table[table["state"] == "complete"]
    assert len(complete) >= 3 and (table["state"] == "pruned").any()  # a fit, and pruned trials kept out of it
    assert (complete["val_mse"] == [study.trials[n].value for n in complete["number"]]).all()
    assert complete["test_mse"].notna().all() and (table["epochs"] >= 1).all()
    report = (out / "latent_vs_error.md").read_text()
    fit = fit_power_law(complete["latent_size"], complete["val_mse"])  # the session's study spans 3 sizes or more
    assert f"b = {fit.b:.3f}" in report and f"R² = {fit.r2:.2f}" in report
    assert "A power law needs" not in report  # three sizes or more: the fit is given, not left out
    assert f"{(table['state'] == 'pruned').sum()} pruned trial(s)" in report
    assert "![error against latent size](latent_vs_error.png)" in report
    assert (out / "latent_vs_error.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "study tiny: " in printed and "wrote studies/tiny/analysis/latent_vs_error.md" in printed
    assert "nan" not in printed


@pytest.fixture(scope="module")
def latent_result(tiny_study: Path) -> latent_vs_error.LatentAnalysis:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)  # the default storage, sqlite:///studies/tiny.db, is relative
        return latent_vs_error.compute("tiny")


def _complete_trials(folder: Path) -> tuple[optuna.Study, pd.DataFrame]:
    """The tiny study's complete trials, read from Optuna directly rather than through analysis.trials."""
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder}/studies/tiny.db")
    rows = [
        {"number": t.number, "latent_size": t.user_attrs["latent_size"], "val_mse": t.value, "test_mse": t.user_attrs["test_mse"]}
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    ]
    return study, pd.DataFrame(rows)


def test_latent_vs_error_compute_returns_the_study_s_statistics(
    tiny_study: Path, latent_result: latent_vs_error.LatentAnalysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, complete = _complete_trials(tiny_study)
    result = latent_result
    assert (result.study, result.storage, result.metric) == ("tiny", "sqlite:///studies/tiny.db", "val_mse")
    assert result.counts == state_counts(study)
    assert sorted(result.complete["number"]) == sorted(complete["number"])
    front = pareto_front(complete, error="val_mse")
    assert result.front["number"].tolist() == front["number"].tolist()
    assert result.front["val_mse"].tolist() == pytest.approx(front["val_mse"].tolist(), rel=1e-12)
    fit = fit_power_law(complete["latent_size"], complete["val_mse"])
    assert result.fit is not None and (result.fit.b, result.fit.r2) == pytest.approx((fit.b, fit.r2), rel=1e-9)
    assert (result.correlation is None) == (len(complete) < MIN_TRIALS_CORRELATION)
    assert result.pca is not None and result.train_images == 240  # data.subset=300, 80% to train
    monkeypatch.chdir(tiny_study)
    on_test = latent_vs_error.compute("tiny", metric="test")
    assert on_test.metric == "test_mse"
    assert on_test.front["number"].tolist() == pareto_front(complete, error="test_mse")["number"].tolist()
    with pytest.raises(ValueError, match="metric"):
        latent_vs_error.compute("tiny", metric="train")


def _latent_report(result: latent_vs_error.LatentAnalysis) -> str:
    return latent_vs_error.report(result, {"csv": Path("latent_vs_error.csv"), "png": Path("latent_vs_error.png")})


def test_latent_vs_error_report_words_follow_the_numbers(latent_result: latent_vs_error.LatentAnalysis) -> None:
    result = latent_result
    n = 12  # as many as a study with a correlation would have
    strong = dataclasses.replace(result, correlation=RankCorrelation(-0.95, 1e-5, n), correlation_problem="")
    assert "larger latents reconstruct better" in _latent_report(strong)
    assert "larger latents reconstruct worse" in _latent_report(dataclasses.replace(strong, correlation=RankCorrelation(0.95, 1e-5, n)))
    unclear = _latent_report(dataclasses.replace(strong, correlation=RankCorrelation(-0.3, 0.5, n)))
    assert "No clear correlation" in unclear and "larger latents" not in unclear

    front = result.front.assign(gain_db=0.4)
    won = _latent_report(dataclasses.replace(result, front=front))
    assert f"{len(front)} of {len(front)} front trials beat PCA" in won and "+0.40 dB" in won and "lose to PCA" not in won
    lost = _latent_report(dataclasses.replace(result, front=front.assign(gain_db=-0.4)))
    assert f"{len(front)} of {len(front)} lose to PCA" in lost and "beat PCA" not in lost
    why = "colorization: the model does not reconstruct its input"
    none = _latent_report(dataclasses.replace(result, front=front.assign(gain_db=math.nan, pca_reason=why)))
    assert f"No trial on the front has a PCA baseline: {why}." in none and "lose to PCA" not in none

    pruned = result.table[result.table["state"] == "pruned"]
    said = f"median {pruned['epochs'].median():g} epoch(s) against the complete trials' {result.complete['epochs'].median():g}"
    assert said in _latent_report(result)
    unpruned = dataclasses.replace(result, table=result.table[result.table["state"] != "pruned"])
    assert f"No trial was pruned: all {len(result.complete)} complete trials" in _latent_report(unpruned)

    # tiny trials: 2 epochs on 240 images, against the published points' 500 epochs on 50,000 (measured alike: see _as_published)
    published = _as_published(result)
    assert "this study's complete trials ran 2 epoch(s) on 240 training images" in _latent_report(published)
    assert "what longer training and more images can reach" in _latent_report(published)
    long = dataclasses.replace(published, complete=result.complete.assign(epochs=600), train_images=50_000)
    assert "as long a training" in _latent_report(long) and "can reach" not in _latent_report(long)

    latent_first = _latent_report(dataclasses.replace(result, importances={"latent_channels": 0.8, "lr": 0.15, "depth": 0.05}))
    assert "latent_channels carries 0.80 of the importance against 0.20" in latent_first
    assert "follows the latent size more than anything else" in latent_first
    others_first = _latent_report(dataclasses.replace(result, importances={"latent_channels": 0.2, "lr": 0.8}))
    assert "together they carry 0.80 of the importance against 0.20" in others_first and "may be theirs" in others_first


def test_latent_vs_error_plot_is_the_figure_render_writes(latent_result: latent_vs_error.LatentAnalysis, tmp_path: Path) -> None:
    result = latent_result
    figure = latent_vs_error.plot(result)
    assert isinstance(figure, Figure) and plt.get_fignums() == []  # made without pyplot: nothing left open in its registry
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"  # what Jupyter shows inline, with no pyplot to activate its backend
    errors, gains = figure.axes[:2]  # the tiny study's trials have PCA baselines: the gains get their own panel
    assert errors.get_title() == "study tiny: error against latent size" and errors.get_xscale() == errors.get_yscale() == "log"
    lines = {line.get_label().split(" (")[0]: line for line in errors.get_lines()}
    front = result.front
    # the front's staircase goes on, level, to the largest complete trial: no larger trial does better
    largest = result.complete["latent_size"].max()
    tail = [largest] if largest > front["latent_size"].iloc[-1] else []
    assert list(lines["Pareto front"].get_xdata()) == [*front["latent_size"], *tail]
    assert list(lines["Pareto front"].get_ydata()) == pytest.approx([*front["val_mse"], *[front["val_mse"].iloc[-1]] * len(tail)])
    assert any(label.startswith(f"fit: MSE = {result.fit.a:.3g} · latent^{result.fit.b:.2f}") for label in lines)
    on_front = result.front.dropna(subset=["gain_db"])
    assert gains.get_ylabel().startswith("gain over PCA (dB)") and sorted(gains.collections[1].get_offsets()[:, 1]) == pytest.approx(
        sorted(on_front["gain_db"])
    )
    files = latent_vs_error.render(result, tmp_path)
    assert {name: path.name for name, path in files.items()} == {
        "csv": "latent_vs_error.csv",
        "png": "latent_vs_error.png",
        "compute": "latent_vs_error-compute.png",
        "md": "latent_vs_error.md",
    }
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    without_pca = latent_vs_error.plot(dataclasses.replace(result, complete=result.complete.assign(gain_db=math.nan)))
    assert len([ax for ax in without_pca.axes if ax.get_legend() is not None]) == 1


# ---------------------------------------------------------------- published points follow the study's data

MNIST = DataDescription("mnist", (1, 28, 28), tuple(str(d) for d in range(10)), "MNIST (idx files) at data", "data")
GRAY_CIFAR = DataDescription(shape=(1, 32, 32))  # CIFAR-10 made gray: not the pixels the points were published on


def _legend(figure: Figure) -> list[str]:
    return [t.get_text() for t in figure.axes[0].get_legend().get_texts()]


def _published_in(figure: Figure) -> bool:
    return any(label.startswith("published") for label in _legend(figure))


def _as_published(result: latent_vs_error.LatentAnalysis) -> latent_vs_error.LatentAnalysis:
    """``result`` as if measured as the published points were: original pixels, official test split (the tiny study's are
    the JPEG export's, split at random, beside which no published point is drawn)."""
    return dataclasses.replace(result, data=dataclasses.replace(result.data, pixels="original", split="official"))


def _refit_of(result: latent_vs_error.LatentAnalysis) -> latent_vs_error.RefitFront:
    """The study's complete trials as a refit of it: enough for the refit table's columns."""
    table = result.complete.assign(parent_trial=result.complete["number"].astype(float), study="tiny-refit")
    return latent_vs_error.RefitFront("tiny-refit", table, 0.1, result.hypervolume, ())


def test_a_cifar10_study_is_set_beside_the_published_points(latent_result: latent_vs_error.LatentAnalysis) -> None:
    assert latent_result.data.dataset == "cifar10" and latent_result.data.shape == (3, 32, 32)  # recorded by the study
    result = _as_published(latent_result)
    report = _latent_report(result)
    assert "## Beside published results" in report
    assert "Published on CIFAR-10 at its original pixels (3 × 32 × 32), on its official test split, PSNR of the mean MSE" in report
    assert _published_in(latent_vs_error.plot(result))
    refit = latent_vs_error.refit_table(_refit_of(result), long_trained_psnr())
    assert {"published dB", "against published"} <= set(refit.columns)


@pytest.mark.parametrize("data", [MNIST, GRAY_CIFAR], ids=["mnist", "gray cifar10"])
def test_a_study_of_other_data_draws_no_published_point(latent_result: latent_vs_error.LatentAnalysis, data: DataDescription) -> None:
    result = dataclasses.replace(latent_result, data=data, refits=(_refit_of(latent_result),))
    report = _latent_report(result)
    assert "published" not in report.lower() and "## Refit: `tiny-refit`" in report  # the section and columns vanish, not empty
    assert not _published_in(latent_vs_error.plot(result))
    assert not {"published dB", "against published"} & set(latent_vs_error.refit_table(result.refits[0], {}).columns)


def write_images(root: Path, classes: tuple[str, ...], per_class: int, shape: tuple[int, int, int]) -> Path:
    """``per_class`` seeded PNG images of ``shape`` (C × H × W) in a folder per class, or in ``root`` itself without classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    channels, height, width = shape
    for index, name in enumerate(classes or ("",)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = (rng.random((height, width, channels)) * 100 + 100 * index).astype(np.uint8)
            Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(folder / f"{i:03d}.png")
    return root


def run_tiny_search(study: str, images: Path, trials: int = 2) -> int:
    """spaces/tiny.yaml on a folder of images, in the current folder (``python -m search run``, in-process)."""
    from search.cli import main as search

    data = ["--set", "data.dataset=imagefolder", "--set", f"data.root={images}", "--set", "data.subset=null"]
    return search(["run", str(SPACES / "tiny.yaml"), "--trials", str(trials), "--study", study, *data, "--set", "train.batch_size=16"])


@pytest.fixture(scope="module")
def gray_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding studies/gray.db: 2 trials of spaces/tiny.yaml on 60 gray 28 × 28 images in two class folders."""
    folder = tmp_path_factory.mktemp("gray")
    images = write_images(folder / "images", ("dark", "light"), 30, (1, 28, 28))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert run_tiny_search("gray", images) == 0
    return folder


def test_a_study_of_gray_images_is_analysed_without_published_points(gray_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(gray_study)
    result = latent_vs_error.compute("gray")
    assert (result.data.dataset, result.data.shape, result.data.classes) == ("imagefolder", (1, 28, 28), ("dark", "light"))
    assert result.image_values == 28 * 28  # the study's own images, not CIFAR-10's 3,072 values
    assert latent_vs_error.main(["--study", "gray"]) == 0
    report = (gray_study / "studies" / "gray" / "analysis" / "latent_vs_error.md").read_text()
    assert "published" not in report.lower() and "## Compute" in report


# ---------------------------------------------------------------- what few trials can say

IMPORTANCE_TABLE = "Optuna's parameter importances (fANOVA"
Analysed = tuple[Path, dict[int, latent_vs_error.LatentAnalysis]]


def _run(study: str, trials: int) -> None:
    from search.cli import main as search

    settings = ["--set", "data.subset=300", "--set", "study.pruner={type: none}"]  # no pruning: every trial is complete
    assert search(["run", str(SPACES / "tiny.yaml"), "--trials", str(trials), "--study", study, *settings]) == 0


def _grown(folder: Path, study: str, counts: tuple[int, ...]) -> dict[int, latent_vs_error.LatentAnalysis]:
    """Study ``study`` in ``folder``, analysed as it grows to each of ``counts`` complete trials."""
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for trials in counts:
            _run(study, trials)
            results[trials] = latent_vs_error.compute(study)
    return results


@pytest.fixture(scope="module")
def two_and_twelve(tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    """A folder with study ``two`` (2 complete trials) and study ``twelve`` (12), each analysed."""
    folder = tmp_path_factory.mktemp("few")
    return folder, _grown(folder, "two", (2,)) | _grown(folder, "twelve", (12,))


def _check_minimums(n: int, result: latent_vs_error.LatentAnalysis) -> None:
    """Each statistic of a study of ``n`` complete trials, given from its minimum on and, below it, left out with its line."""
    complete = result.complete
    assert len(complete) == n and (result.table["state"] == "complete").sum() == n
    sizes = complete["latent_size"].nunique()
    if sizes < MIN_SIZES_POWER_LAW:
        assert result.fit is None
        assert result.fit_problem == f"a power law needs at least 3 distinct latent sizes; these {n} trials span {sizes}"
    else:
        assert result.fit is not None and result.fit.n == n and result.fit_problem == ""
    if n < MIN_TRIALS_CORRELATION:
        assert result.correlation is None
        assert result.correlation_problem == f"Spearman's ρ needs at least 5 complete trials; this study has {n}"
    else:
        exact = small_rank_correlation(complete["latent_size"].tolist(), complete["val_mse"].tolist())
        assert result.correlation == exact and result.correlation_problem == ""
    if n < MIN_TRIALS_IMPORTANCES:
        assert result.importances == {}
        needs = "a table of parameter importances (fANOVA) needs at least 10 complete trials"
        assert result.importance_problem == f"{needs}; this study has {n}"
    else:
        assert result.importance_problem == "" and sum(result.importances.values()) == pytest.approx(1.0)


def test_two_trials_leave_out_what_twelve_give(two_and_twelve: Analysed) -> None:
    _, results = two_and_twelve
    for n, result in results.items():
        _check_minimums(n, result)
    two, twelve = results[2], results[12]
    assert two.correlation is None and two.importances == {}
    assert twelve.fit is not None and twelve.correlation is not None and twelve.importances != {}


@pytest.mark.slow  # four more runs of a growing study, tens of seconds: the default tier checks 2 and 12 trials
def test_each_statistic_turns_at_its_minimum(tmp_path: Path) -> None:
    results = _grown(tmp_path, "grown", (4, 5, 9, 10))
    for n, result in results.items():
        _check_minimums(n, result)
    assert results[4].correlation is None and results[5].correlation is not None
    assert results[9].importances == {} and results[10].importances != {}
    assert (MIN_TRIALS_CORRELATION, MIN_TRIALS_IMPORTANCES) == (5, 10)


def test_two_trials_print_what_they_leave_out_and_twelve_their_statistics(
    two_and_twelve: Analysed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, results = two_and_twelve
    monkeypatch.chdir(folder)
    assert latent_vs_error.main(["--study", "two", "--out", "two-out"]) == 0
    printed = capsys.readouterr().out
    two = results[2]
    lines = [left_out(two.correlation_problem), left_out(two.importance_problem)]
    lines += [left_out(two.fit_problem)] if two.fit is None else []
    for line in lines:
        assert line in printed.splitlines()  # one line each
    assert "Spearman's ρ needs at least 5 complete trials; this study has 2, so it is left out." in printed
    assert "ρ =" not in printed and "nan" not in printed and "importances (fANOVA):" not in printed
    report = (folder / "two-out" / "latent_vs_error.md").read_text()
    assert all(line in report for line in lines)
    assert "Spearman's ρ =" not in report and IMPORTANCE_TABLE not in report and "nan" not in report

    assert latent_vs_error.main(["--study", "twelve", "--out", "twelve-out"]) == 0
    printed = capsys.readouterr().out
    twelve = results[12]
    c = twelve.correlation
    assert f"Spearman: ρ = {c.rho:.3f}" in printed and f"n = {c.n})" in printed and "left out" not in printed
    assert "parameter importances (fANOVA): " in printed
    report = (folder / "twelve-out" / "latent_vs_error.md").read_text()
    assert f"Spearman's ρ = {c.rho:.2f}" in report and IMPORTANCE_TABLE in report and "left out" not in report


def _texts_inside(figure: Figure) -> None:
    """Everything drawn (text, legends, tick labels) lies whole inside the figure: nothing is clipped at its edges."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    drawn = figure.get_tightbbox(renderer)  # in inches, of what is drawn (tick labels outside the axes' limits are not)
    width, height = figure.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn


def test_the_figure_of_two_trials_draws_their_front_and_says_what_it_leaves_out(two_and_twelve: Analysed) -> None:
    result = _as_published(two_and_twelve[1][2])
    figure = latent_vs_error.plot(result)
    errors = figure.axes[0]
    legend = [label.replace("\n", " ") for label in _legend(figure)]
    count = len(result.front)
    front_label = next(label for label in legend if label.startswith("Pareto front"))
    assert front_label.startswith(f"Pareto front ({count} trial{'' if count == 1 else 's'}): ") and "best validation MSE" in front_label
    (front,) = [line for line in errors.get_lines() if line.get_label().startswith("Pareto front")]
    assert front.get_marker() == "o" and list(front.get_markevery()) == list(range(count))  # each front trial ringed, however few
    if result.front["latent_size"].max() < result.complete["latent_size"].max():
        assert len(front.get_xdata()) == count + 1  # carried on, level, to the larger trial: a line even for one point
    # the error axis and each series say which split their MSE is of
    assert "validation" in errors.get_ylabel() and "test" in errors.get_ylabel()
    assert any(label.startswith("complete trials (2): best validation MSE") for label in legend)
    assert any(label.startswith("PCA on the same split (optimal linear code): test MSE") for label in legend)
    assert any(label.startswith("published CAEs: test MSE") for label in legend)
    # the statistics left out close the legend, and nothing is fitted
    assert left_out(result.correlation_problem) in legend and not any(label.startswith("fit:") for label in legend)
    # the legend stands right of the panels, and the published points' labels stay inside the axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    axes_box = errors.get_window_extent(renderer)
    assert errors.get_legend().get_window_extent(renderer).x0 > axes_box.x1
    for note in errors.texts:
        box = note.get_window_extent(renderer)
        assert axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1, note.get_text()
    _texts_inside(figure)
