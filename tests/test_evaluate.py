"""``python -m analysis.evaluate``: the SSIM helper on known images, and the command end to end on the tiny study."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from analysis import evaluate as evaluate_command
from analysis.evaluate import image_ssim, mse_and_ssim
from cae.training import evaluate, reconstruct, to_unit
from search.trials.trial_model import load_trial

SPLITS = ["train", "validation", "test"]
PNG = b"\x89PNG\r\n\x1a\n"


def _scaling(factor: float) -> nn.Conv2d:
    """A 1×1 convolution multiplying every channel by ``factor``: the identity at 1."""
    conv = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(factor * torch.eye(3).view(3, 3, 1, 1))
        conv.bias.zero_()
    return conv


def _images(n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_ssim_is_one_for_identical_images_and_less_with_noise() -> None:
    x = to_unit(_images(4))
    assert image_ssim(x, x).tolist() == pytest.approx([1.0] * 4)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    scores = image_ssim(noisy, x)
    assert scores.shape == (4,) and ((scores > 0) & (scores < 0.99)).all()


def mean_ssim(model: nn.Module, images: torch.Tensor, **batch: int) -> float:
    return mse_and_ssim(model, images, **batch)[1]


def test_mean_ssim_averages_over_images_whatever_the_batch() -> None:
    images = _images(10)
    assert mean_ssim(_scaling(1.0), images, batch=3) == pytest.approx(1.0)
    darker = _scaling(0.5)
    per_image = image_ssim(reconstruct(darker, images), to_unit(images))
    assert per_image.std() > 0  # images differ, so a wrongly weighted last batch of 1 would show
    for batch in (3, 4, 10, 1000):
        assert mean_ssim(darker, images, batch=batch) == pytest.approx(per_image.mean().item(), rel=1e-6)
        # the same pass gives the MSE that cae.training.evaluate gives
        assert mse_and_ssim(darker, images, batch=batch)[0] == pytest.approx(evaluate(darker, images), rel=1e-6)
    assert mean_ssim(darker, images) < 1


# ---------------------------------------------------------------- the command end to end


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder}/studies/tiny.db")


def test_evaluate_writes_scores_pictures_curves_and_report(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tiny_study)
    assert evaluate_command.main(["--study", "tiny", "--out", str(tmp_path)]) == 0
    best = _study(tiny_study).best_trial
    result = json.loads((tmp_path / "evaluate.json").read_text())
    assert result["study"] == "tiny" and result["trial"] == best.number
    assert list(result["splits"]) == SPLITS
    assert [result["splits"][s]["n"] for s in SPLITS] == [240, 30, 30]  # data.subset=300, cut 80/10/10
    # the same weights on the same images: the error the trial recorded when it finished
    assert result["splits"]["test"]["mse"] == pytest.approx(best.user_attrs["test_mse"])
    for split in SPLITS:
        scores = result["splits"][split]
        assert scores["psnr"] == pytest.approx(-10 * math.log10(scores["mse"]))
        assert 0 < scores["ssim"] <= 1
    table = pd.read_csv(tmp_path / "evaluate.csv")
    assert table["split"].tolist() == SPLITS
    assert table["mse"].tolist() == pytest.approx([result["splits"][s]["mse"] for s in SPLITS])
    for name in [*(f"evaluate-{s}.png" for s in SPLITS), "evaluate-curves.png"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG
    report = (tmp_path / "evaluate.md").read_text()
    assert f"# Evaluation of study tiny, trial {best.number}" in report and "| split" in report
    assert "(evaluate-test.png)" in report and "(evaluate-curves.png)" in report
    assert "they agree within" in report and "over-fitting" in report and "validation MSE" in report
    assert f"wrote {tmp_path / 'evaluate.json'}" in capsys.readouterr().out


@pytest.fixture(scope="module")
def evaluated(tiny_study: Path) -> evaluate_command.EvaluateResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)  # the default storage, sqlite:///studies/tiny.db, is relative
        return evaluate_command.compute("tiny")


def test_evaluate_compute_measures_the_saved_weights(
    evaluated: evaluate_command.EvaluateResult, tiny_study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_study)
    loaded = load_trial("tiny")  # loaded afresh: the result's own model is not trusted to be the trial's
    data = loaded.data()
    best = _study(tiny_study).best_trial
    assert (evaluated.study, evaluated.trial, evaluated.task, evaluated.keeps_last) == ("tiny", best.number, "reconstruction", False)
    assert [s.split for s in evaluated.scores] == SPLITS
    for split, images in zip(SPLITS, (data.train, data.val, data.test), strict=True):
        scores = evaluated.split(split)
        assert scores.n == len(images)
        assert scores.mse == pytest.approx(evaluate(loaded.model, images.images), rel=1e-6)
        assert scores.psnr == pytest.approx(-10 * math.log10(scores.mse))
        assert 0 < evaluated.mse_se[split] < scores.mse
        assert torch.equal(evaluated.samples[split], images.images[:8])
    assert evaluated.recorded_test_mse == best.user_attrs["test_mse"]
    assert evaluated.val_curve == best.user_attrs["val_mse"] and evaluated.train_curve == best.user_attrs["train_mse"]
    assert evaluated.kept_epoch == best.user_attrs["best_epoch"]


def _with_test_mse(result: evaluate_command.EvaluateResult, mse: float, se: float = 1e-6) -> evaluate_command.EvaluateResult:
    scores = [dataclasses.replace(s, mse=mse, psnr=-10 * math.log10(mse)) if s.split == "test" else s for s in result.scores]
    return dataclasses.replace(result, scores=scores, mse_se=dict.fromkeys(SPLITS, se))


def _evaluate_report(result: evaluate_command.EvaluateResult) -> str:
    names = ["json", "csv", "md", *SPLITS, "curves"]
    return evaluate_command.report(result, {name: Path(f"evaluate-{name}.png") for name in names})


def test_evaluate_report_words_follow_the_numbers(evaluated: evaluate_command.EvaluateResult) -> None:
    test, train = evaluated.split("test").mse, evaluated.split("train").mse
    close = dataclasses.replace(evaluated, recorded_test_mse=test * (1 + 1e-5))
    assert "they agree within 0.01%" in _evaluate_report(close)
    off = _evaluate_report(dataclasses.replace(evaluated, recorded_test_mse=test / 1.05, precision="fp32"))
    assert "5.00% apart" in off and "not those it measured" in off and "agree" not in off
    assert "recorded no test MSE" in _evaluate_report(dataclasses.replace(evaluated, recorded_test_mse=None))

    overfit = _evaluate_report(_with_test_mse(evaluated, 2 * train))
    assert "100.0% above the train split's" in overfit and "a sign of over-fitting" in overfit
    assert "no clear sign of over-fitting" in _evaluate_report(_with_test_mse(evaluated, 2 * train, se=train))
    assert "no clear sign of over-fitting" in _evaluate_report(_with_test_mse(evaluated, train * (1 + 1e-9)))
    assert "slight over-fitting at most" in _evaluate_report(_with_test_mse(evaluated, train * 1.02))
    assert "easier for this model" in _evaluate_report(_with_test_mse(evaluated, train / 2))

    falling = _evaluate_report(dataclasses.replace(evaluated, val_curve=[0.05, 0.04, 0.03], kept_epoch=3))
    assert "still falling at the last epoch (-25.0% over epoch 3, its lowest)" in falling
    stopped = _evaluate_report(dataclasses.replace(evaluated, val_curve=[0.03, 0.04, 0.045], kept_epoch=1))
    assert "stopped falling: lowest at epoch 1 of 3, the last epoch +50.0% above it" in stopped and "epoch 1's" in stopped
    assert "not clearly still falling" in _evaluate_report(dataclasses.replace(evaluated, val_curve=[0.05, 0.03, 0.04, 0.035]))
    assert "one epoch" in _evaluate_report(dataclasses.replace(evaluated, val_curve=[0.05]))
    classifier = _evaluate_report(dataclasses.replace(evaluated, val_curve=[0.03, 0.04, 0.045], keeps_last=True))
    assert "+12.5% over the last epoch" in classifier and "does not say" in classifier and "stopped falling" not in classifier


def test_evaluate_plots_are_figures_of_the_result(evaluated: evaluate_command.EvaluateResult) -> None:
    curves = evaluate_command.plot(evaluated)
    assert isinstance(curves, Figure) and curves.axes[0].get_title() == f"{evaluated.name}: error per epoch"
    drawn = [list(line.get_ydata()) for line in curves.axes[0].get_lines() if len(line.get_ydata())]
    assert drawn == [pytest.approx(evaluated.train_curve), pytest.approx(evaluated.val_curve)]
    pictures = evaluate_command.plot_reconstructions(evaluated, "validation")
    assert [ax.get_ylabel() for ax in pictures.axes] == ["input", "output"]  # a reconstruction: no gray row
    assert pictures.axes[0].images[0].get_array().shape[:2] == (2 + 34, 2 + 8 * 34)  # 8 images of 32 pixels, 2 of padding
    # the title names the study, trial and split and gives the split's own MSE; each output's error is written under it
    scores = evaluated.split("validation")
    title = pictures.texts[0].get_text()
    assert title.startswith(f"study tiny, trial {evaluated.trial} · validation split: its first 8 of {scores.n} images")
    assert f"MSE over all {scores.n}: {scores.mse:.5f} ({scores.psnr:.2f} dB)" in title
    images = evaluated.samples["validation"]
    errors = ((reconstruct(evaluated.model, images) - to_unit(images)) ** 2).flatten(1).mean(1)
    notes = [text.get_text() for text in pictures.axes[1].texts]
    assert notes == [f"MSE {e:.4f}\n{-10 * math.log10(e):.1f} dB" for e in errors.tolist()]
    assert len(pictures.axes[0].texts) == 0  # the inputs have no error to give
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="split: expected one of train, validation, test"):
        evaluate_command.plot_reconstructions(evaluated, "val")
