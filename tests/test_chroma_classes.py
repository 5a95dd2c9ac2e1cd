"""Chroma as classes (Zhang et al. 2016): bins, rebalancing, annealed mean, training, the colorize command and its refusals."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from optuna.trial import TrialState
from rich.console import Console

from analysis import colorize
from cae.builder import build
from cae.checkpoint import load_checkpoint, save_checkpoint
from cae.chroma_bins import ChromaBins, ChromaBinsError, full_grid
from cae.chroma_classes import annealed_mean, centres, class_loss, class_weights, dequantise, fit_bins, quantise
from cae.color import chroma, luma, rgb_to_ycbcr, ycbcr_to_rgb
from cae.data import Splits
from cae.spec import Architecture, ArchitectureError, Conv, MaxPool, Upsample
from cae.tasks import TASKS, adapt, task_of_architecture, with_classes
from cae.training import TrainConfig, evaluate, reconstruct, to_unit, train
from search.cli import main as search
from tests.conftest import SPACES

SMALL = Architecture((Conv(8), MaxPool(), Conv(16)), (Upsample(), Conv(8), Conv(3, activation="none")))


def _solid(rgb: tuple[float, float, float], n: int) -> torch.Tensor:
    """``n`` uint8 8×8 images of one colour."""
    return (torch.tensor(rgb).view(1, 3, 1, 1).expand(n, 3, 8, 8) * 255).round().to(torch.uint8)


# ---------------------------------------------------------------- bins


@pytest.mark.parametrize("per_axis", [10, 16, 24])
def test_quantisation_round_trip_is_within_half_a_bin(tiny_splits: Splits, per_axis: int) -> None:
    bins = fit_bins(tiny_splits.train.images, per_axis)
    cbcr = chroma(to_unit(tiny_splits.train.images[:64]))
    back = dequantise(quantise(cbcr, bins), bins)
    assert back.shape == cbcr.shape
    # every training pixel's own cell is a class, and a square grid's nearest centre is the cell's own
    assert (back - cbcr).abs().max().item() <= bins.width / 2 + 1e-6
    # the classes are the cells in use: far fewer than the grid (photographs are mostly low-saturation)
    assert 2 <= bins.n_classes < per_axis**2 / 2 and math.isclose(sum(bins.prior), 1)


def test_bins_hold_the_training_gamut_and_its_frequencies() -> None:
    # 2 : 1 : 1 pixels of gray, orange and blue, cells at least 2 apart on both axes (the smoothing's reach is 2)
    images = torch.cat([_solid((0.5, 0.5, 0.5), 20), _solid((0.7, 0.4, 0.3), 10), _solid((0.3, 0.4, 0.7), 10)])
    bins = fit_bins(images, 16)
    assert bins.n_classes == 3
    gray = bins.cells.index(8 * 16 + 8)  # (Cb, Cr) = (0, 0) is the centre of the plane
    assert bins.prior[gray] == pytest.approx(0.5, abs=1e-4)
    assert sorted(bins.prior) == pytest.approx([0.25, 0.25, 0.5], abs=1e-4)


def test_rebalancing_weights_on_a_synthetic_histogram() -> None:
    prior = (0.7, 0.2, 0.1)

    def weights(strength: float) -> list[float]:
        return class_weights(ChromaBins(4, (0, 5, 10), prior, rebalance=strength)).tolist()

    assert weights(0.0) == pytest.approx([1, 1, 1])  # no rebalancing
    assert weights(1.0) == pytest.approx([1 / (3 * p) for p in prior], rel=1e-5)  # inverse frequency, E[w] = 1
    half = [1 / (0.5 * p + 0.5 / 3) for p in prior]
    norm = sum(p * w for p, w in zip(prior, half, strict=True))
    assert weights(0.5) == pytest.approx([w / norm for w in half], rel=1e-5)  # the paper's λ = 0.5
    for s in (0.0, 0.3, 0.5, 1.0):
        w = weights(s)
        assert sum(p * x for p, x in zip(prior, w, strict=True)) == pytest.approx(1, rel=1e-5)
        assert w[0] <= w[1] <= w[2]  # rarer classes weigh more


def test_annealed_mean_is_the_mean_at_one_and_the_mode_near_zero() -> None:
    bins = full_grid(6)
    torch.manual_seed(0)
    logits = torch.randn(2, bins.n_classes, 3, 3)
    p = torch.softmax(logits, dim=1)
    mean = torch.einsum("nqhw,qc->nchw", p, centres(bins))
    assert torch.allclose(annealed_mean(logits, bins, 1.0), mean, atol=1e-6)
    mode = centres(bins)[logits.argmax(dim=1)].permute(0, 3, 1, 2)
    assert torch.allclose(annealed_mean(logits, bins, 1e-4), mode, atol=1e-5)
    # lower temperatures move the colour away from the mean, towards the mode
    far = [(annealed_mean(logits, bins, t) - mean).abs().mean().item() for t in (1.0, 0.38, 0.1)]
    assert far[0] < far[1] < far[2]


def test_loss_is_lowest_for_the_true_colours() -> None:
    bins = full_grid(8, rebalance=0.5)
    cbcr = torch.rand(2, 2, 4, 4) * 0.5 + 0.25
    right = torch.zeros(2, bins.n_classes, 4, 4).scatter_(1, quantise(cbcr, bins).unsqueeze(1), 8.0)
    wrong = torch.zeros(2, bins.n_classes, 4, 4).scatter_(1, quantise(1 - cbcr, bins).unsqueeze(1), 8.0)
    uniform = torch.zeros(2, bins.n_classes, 4, 4)
    losses = [class_loss(x, cbcr, bins).item() for x in (right, uniform, wrong)]
    assert losses[0] < losses[1] < losses[2]
    assert losses[1] == pytest.approx(math.log(bins.n_classes), rel=1e-5)  # uniform guesses: log Q, whatever the weights


def test_bad_bins_are_refused() -> None:
    with pytest.raises(ChromaBinsError, match=r"classes\.rebalance must be in"):
        ChromaBins(4, (0, 1), (0.5, 0.5), rebalance=1.5)
    with pytest.raises(ChromaBinsError, match=r"classes\.temperature must be > 0"):
        ChromaBins(4, (0, 1), (0.5, 0.5), temperature=0)
    with pytest.raises(ChromaBinsError, match=r"classes\.bins must be an integer ≥ 2"):
        full_grid(1)


# ---------------------------------------------------------------- the task


def test_a_classifier_trains_keeps_the_luma_and_round_trips_through_a_checkpoint(tiny_splits: Splits, tmp_path: Path) -> None:
    bins = fit_bins(tiny_splits.train.images, 10)
    arch = with_classes(SMALL, bins)
    assert (arch.in_channels, arch.out_channels, arch.output, arch.decoder[-1].kernel) == (1, bins.n_classes, "none", 1)
    assert task_of_architecture(arch).name == "colorization_classes"
    # a classifier adapted to another task is no longer one (analysis.colorize may start from a colorize study's trial)
    assert task_of_architecture(adapt(arch, TASKS["colorization_chroma"])).name == "colorization_chroma"
    assert with_classes(adapt(arch, TASKS["colorization"]), bins) == arch
    torch.manual_seed(0)
    untrained = evaluate(build(arch), tiny_splits.val.images)
    model, result = train(arch, tiny_splits, TrainConfig(epochs=3, lr=3e-3, batch_size=32, device="cpu"))
    assert result.best_val_mse < untrained
    x = to_unit(tiny_splits.test.images).contiguous()
    out = reconstruct(model, tiny_splits.test.images)
    assert (luma(out) - luma(x)).abs().mean() < 0.01  # brightness is the photograph's (clamping aside)
    again = load_checkpoint(save_checkpoint(model, tmp_path / "classes.pt"))
    assert again.arch == arch and torch.allclose(reconstruct(again, tiny_splits.test.images), out, atol=1e-5)
    with pytest.raises(ArchitectureError, match="chroma classifier"):
        Architecture(arch.encoder, arch.decoder, in_channels=1, out_channels=bins.n_classes, output="sigmoid", classes=bins)


def test_the_colour_decoded_is_the_annealed_mean_merged_with_the_luma(tiny_splits: Splits) -> None:
    bins = fit_bins(tiny_splits.train.images, 10)
    task = task_of_architecture(with_classes(SMALL, bins))
    x = to_unit(tiny_splits.test.images[:2]).contiguous()
    logits = torch.randn(2, bins.n_classes, 32, 32)
    rgb = task.to_rgb(luma(x), logits)
    ycbcr = rgb_to_ycbcr(rgb)
    assert torch.allclose(ycbcr[:, :1], luma(x), atol=1e-5)
    assert torch.allclose(ycbcr[:, 1:], annealed_mean(logits, bins), atol=1e-5)
    assert torch.allclose(ycbcr_to_rgb(ycbcr), rgb, atol=1e-5)


# ---------------------------------------------------------------- analysis.colorize and spaces/colorize.yaml


def test_colorize_compares_gray_regression_and_classes(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tiny_study)
    result = colorize.compute("tiny", epochs=1, subset=200, bins=10)
    assert capfd.readouterr() == ("", "")  # a library call: no progress bar and no line, unless given a console
    files = colorize.render(result, tmp_path)
    assert {kind: path.name for kind, path in files.items()} == {
        "csv": "colorize.csv",
        "png": "colorize.png",
        "colour": "colorize-colour.png",
        "md": "colorize.md",
        **{key: f"colorize-{key}.pt" for key in ("rgb", "chroma", "classes")},
    }
    table = pd.read_csv(tmp_path / "colorize.csv")
    assert list(table.columns) == ["variant", "test_mse", "psnr_db", "colourfulness_ratio"]
    variants = table["variant"].tolist()
    assert variants[:4] == ["gray", "rgb", "chroma", "classes"] and variants[-1] == "truth"
    assert [v for v in variants if v.startswith("classes@T=")] == [f"classes@T={t:g}" for t in colorize.TEMPERATURES]
    rows = table.set_index("variant")
    assert rows.loc["gray", "colourfulness_ratio"] == 0 and rows.loc["truth", "colourfulness_ratio"] == 1
    assert rows.loc["gray", "psnr_db"] == pytest.approx(-10 * math.log10(rows.loc["gray", "test_mse"]))
    # the default temperature's row is the model's own decoding
    assert rows.loc["classes@T=0.38", "test_mse"] == pytest.approx(rows.loc["classes", "test_mse"], rel=1e-4)
    report = (tmp_path / "colorize.md").read_text()
    assert "the target (≥ 50% of the colour, within 1 dB of gray)" in report and "## Results" in report
    for name in ("colorize.png", "colorize-colour.png", "colorize-rgb.pt", "colorize-chroma.pt", "colorize-classes.pt"):
        assert (tmp_path / name).read_bytes()[:4] in (b"\x89PNG", b"PK\x03\x04")

    # The command is compute (with its console, for the progress display), render and print: given
    # this result instead of training again, it passes the flags on, writes the same files and prints.
    asked: dict[str, object] = {}

    def computed(study: str, **options: object) -> colorize.ColorizeResult:
        asked.update(options, study=study)
        return result

    monkeypatch.setattr(colorize, "compute", computed)
    out = tmp_path / "command"
    assert colorize.main(["--study", "tiny", "--epochs", "1", "--subset", "200", "--bins", "10", "--out", str(out)]) == 0
    assert (asked["study"], asked["epochs"], asked["subset"], asked["bins"]) == ("tiny", 1, 200, 10)
    assert isinstance(asked["console"], Console)
    printed = capfd.readouterr().out
    assert "gray stays gray" in printed and all(f"wrote {out / path.name}" in printed for path in files.values())


# Its refusals (flags, a missing trial, a linear_skip start) are in the one bad-input catalogue, tests/test_bad_input.py.

COLORIZE = str(SPACES / "colorize.yaml")


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_colorize_space_searches_tasks_bins_and_context_for_error_and_colour(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert search(["run", str(SPACES / "tiny.yaml"), "--trials", "2", "--set", "data.subset=200"]) == 0
    tiny = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    quick = ["--set", "start.study=tiny", "--set", "data.subset=200", "--set", "train.epochs=1", "--set", "model.context={int: [0, 1]}"]
    assert search(["run", COLORIZE, "--trials", "8", "--set", "study.sampler={type: random, seed: 1}", *quick]) == 0
    study = optuna.load_study(study_name="colorize", storage="sqlite:///studies/colorize.db")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 8
    tasks = {t.params["task"] for t in complete}
    assert "colorization_classes" in tasks and len(tasks) >= 2
    start = Architecture.from_dict(tiny.best_trial.user_attrs["architecture"])
    for trial in complete:
        arch = Architecture.from_dict(trial.user_attrs["architecture"])
        assert arch.in_channels == 1 and trial.values[1] == pytest.approx(min(trial.user_attrs["val_colourfulness_ratio"], 1.0))
        assert 0 <= trial.user_attrs["colourfulness_ratio"] < 3
        assert arch.latent_shape[1] == start.latent_shape[1] // 2 ** trial.params["context"]
        if trial.params["task"] == "colorization_classes":
            assert arch.classes is not None and arch.out_channels == arch.classes.n_classes
            assert arch.classes.per_axis == trial.params["bins"] and arch.classes.temperature == trial.params["temperature"]
            assert arch.classes.n_classes < arch.classes.per_axis**2  # fitted on the training split's gamut, not the grid
        else:
            assert "bins" not in trial.params and arch.classes is None
    capsys.readouterr()
    assert search(["best", "--study", "colorize"]) == 0
    out = capsys.readouterr().out
    assert "colour" in out and "best by PSNR: trial" in out and "most colourful: trial" in out


def _colorized() -> colorize.ColorizeResult:
    """A result of made-up numbers and pictures: what the figures draw must follow them."""
    generator = torch.Generator().manual_seed(0)
    truth = colorize.Measured("truth", "truth", 0.0, 0.0, 0.3, 0.3)
    gray = colorize.Measured("gray", "gray stays gray", 0.01, 0.0, 0.0, 0.0)
    rows = {
        v.key: colorize.Measured(v.key, v.label, 0.008 + 0.001 * i, 0.001, 0.06 * (i + 1), 0.2, epochs=2, best_epoch=2)
        for i, v in enumerate(colorize.VARIANTS)
    }
    sweep = [(t, colorize.Measured(f"classes@T={t:g}", f"T = {t:g}", 0.01 + t / 100, 0.001, 0.3 * (1 - t), 0.2)) for t in (1.0, 0.1)]
    images = torch.rand(4, 3, 8, 8, generator=generator)
    pictures = {"gray": images, **{m.label: images for m in rows.values()}, "truth": images}
    saturations = {"truth": torch.rand(500, generator=generator), **{m.label: torch.rand(500, generator=generator) for m in rows.values()}}
    return colorize.ColorizeResult(
        "s", "study s, trial 0", "data", (8, 1, 1), TrainConfig(), SMALL, 0, None, truth, gray, rows, sweep, pictures, saturations
    )


def test_colorize_plots_draw_the_result_s_pictures_and_numbers() -> None:
    result = _colorized()
    pictures = colorize.plot(result)
    assert isinstance(pictures, Figure) and [ax.get_ylabel() for ax in pictures.axes] == list(result.pictures)
    # titled with its study, trial and split, and what is written under each image (the made-up result's sizes: 8/1/1)
    assert pictures.texts[0].get_text().startswith("colorization from study s, trial 0 · test split: its first 4 of 1 images\nunder each")
    colour = colorize.plot_colour(result)
    assert isinstance(colour, Figure) and plt.get_fignums() == []
    *histograms, scatter = colour.axes  # a saturation histogram per variant, then error against colour
    assert [ax.get_title(loc="left") for ax in histograms] == [m.label for m in result.rows.values()]
    [sweep] = [line for line in scatter.get_lines() if line.get_label() == "chroma classes at other T"]
    assert list(sweep.get_xdata()) == pytest.approx([result.ratio(m) for _, m in result.sweep])
    assert list(sweep.get_ydata()) == pytest.approx([m.psnr for _, m in result.sweep])
    points = scatter.collections[0].get_offsets()
    assert list(points[:, 1]) == pytest.approx([m.psnr for m in (result.gray, *result.rows.values())])
