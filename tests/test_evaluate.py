"""``python -m analysis.evaluate``: the SSIM helper on known images, and the command end to end on the tiny study."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from torch import nn

from analysis.evaluate import image_ssim, mse_and_ssim
from cae.training import evaluate, reconstruct, to_unit
from tests.conftest import analysis

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


def test_evaluate_writes_scores_pictures_curves_and_report(tiny_study: Path, tmp_path: Path) -> None:
    done = analysis("evaluate", "--study", "tiny", "--out", str(tmp_path), cwd=tiny_study)
    assert done.returncode == 0, done.stderr
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
    assert f"wrote {tmp_path / 'evaluate.json'}" in done.stdout


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_evaluate_refuses_missing_studies_and_trials(tiny_study: Path, tmp_path: Path) -> None:
    missing = analysis("evaluate", "--study", "nope", "--out", str(tmp_path), cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "nope" in missing.stderr and "no such database" in missing.stderr
    no_trial = analysis("evaluate", "--study", "tiny", "--trial", "999", "--out", str(tmp_path), cwd=tiny_study)
    assert no_trial.returncode == 2 and no_trial.stderr.count("\n") == 1
    assert "--trial 999" in no_trial.stderr and "no such trial" in no_trial.stderr
    assert not (tmp_path / "evaluate.json").exists()


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_evaluate_refuses_a_pruned_trial(tiny_study: Path, tmp_path: Path) -> None:
    pruned = [t.number for t in _study(tiny_study).trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "the tiny study is meant to hold pruned trials"
    done = analysis("evaluate", "--study", "tiny", "--trial", str(pruned[0]), "--out", str(tmp_path), cwd=tiny_study)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert f"trial {pruned[0]} of study tiny is pruned" in done.stderr and "Traceback" not in done.stderr
