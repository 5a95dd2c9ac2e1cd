"""Tables fit the terminal they are printed in (issue 34): ``search best``'s table of the front at 80 columns (and
narrower, and wide) keeps every trial's number, values and parameters whole, never cut to "…"."""

from __future__ import annotations

import io
import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import create_trial
from rich.console import Console

from search.display import best_table

# A big design's figures: the widest a column gets in the shipped spaces (latent 12,288, a million parameters)
TRIALS = [
    dict(val=0.004213, test=0.004398, latent=12_288, n_params=1_234_567, depth=4, kernel=5, lr=0.000731, batch=256),
    dict(val=0.011902, test=0.012504, latent=768, n_params=98_113, depth=3, kernel=3, lr=0.00193, batch=64),
    dict(val=0.031060, test=0.034390, latent=48, n_params=5_402, depth=2, kernel=3, lr=0.00288, batch=128),
]


@pytest.fixture(scope="module")
def front() -> optuna.Study:
    study = optuna.create_study(study_name="recon", directions=["minimize", "minimize"])
    study.set_metric_names(["best val MSE", "latent size"])
    distributions = {
        "depth": IntDistribution(1, 4),
        **{f"channels.{i}": IntDistribution(8, 64, log=True) for i in range(4)},
        "kernel": CategoricalDistribution([3, 5]),
        "downsample": CategoricalDistribution(["maxpool", "stride"]),
        "upsample": CategoricalDistribution(["nearest", "transpose"]),
        "latent_channels": IntDistribution(4, 64, log=True),
        "batch_size": CategoricalDistribution([64, 128, 256]),
        "lr": FloatDistribution(3e-4, 3e-3, log=True),
    }
    for t in TRIALS:
        pca = t["test"] * 0.5
        params = {
            "depth": t["depth"],
            **{f"channels.{i}": 8 * (i + 1) for i in range(4)},
            "kernel": t["kernel"],
            "downsample": "maxpool",
            "upsample": "transpose",
            "latent_channels": 12,
            "batch_size": t["batch"],
            "lr": t["lr"],
        }
        attrs = {
            "val_mse": [0.05, t["val"]],
            "best_epoch": 2,
            "test_mse": t["test"],
            "test_psnr": -10 * math.log10(t["test"]),
            "pca_mse": pca,
            "gain_db": 10 * math.log10(pca / t["test"]),
            "latent_size": t["latent"],
            "n_params": t["n_params"],
        }
        study.add_trial(create_trial(values=[t["val"], t["latent"]], params=params, distributions=distributions, user_attrs=attrs))
    return study


def _printed(study: optuna.Study, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(best_table(study))
    return console.export_text().splitlines()


def _row(trial: optuna.trial.FrozenTrial) -> list[str]:
    a = trial.user_attrs
    return [
        str(trial.number),
        f"{a['val_mse'][1]:.5f}",
        f"{a['test_mse']:.5f}",
        f"{a['test_psnr']:.2f}",
        f"{-10 * math.log10(a['pca_mse']):.2f}",
        f"{a['gain_db']:+.2f}",
        f"{a['latent_size']:,}",
        f"{a['n_params']:,}",
        "2",
    ]


def _parameters(trial: optuna.trial.FrozenTrial) -> list[str]:
    return [f"{k}={f'{v:.3g}' if isinstance(v, float) else v}" for k, v in trial.params.items()]


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_every_trial_keeps_its_number_values_and_parameters(front: optuna.Study, width: int) -> None:
    lines = _printed(front, width)
    text = "\n".join(lines)
    assert "…" not in text
    assert max(len(line.rstrip()) for line in lines) <= width
    cells = [line.replace("│", " ").split() for line in lines]
    words = text.replace("│", " ").split()
    for trial in front.best_trials:
        assert any(row[: len(_row(trial))] == _row(trial) for row in cells), f"trial {trial.number}'s row at {width} columns"
        assert all(p in words for p in _parameters(trial))  # each whole, wherever it wraps
    assert lines[0] == "Pareto front of study recon (objectives: best val MSE, latent size)"
    assert "3 complete · 0 pruned · 0 fail · 0 running" in text


def test_at_80_columns_the_headers_are_whole_and_the_parameters_go_below(front: optuna.Study) -> None:
    lines = _printed(front, 80)
    header = " ".join(" ".join(line.split()) for line in lines[1:3])
    assert header == "val test PSNR PCA gain trial MSE MSE dB dB dB latent params epochs"
    assert any(line.startswith(f"trial {front.best_trials[0].number}: depth=4 ") for line in lines)


def test_wide_the_parameters_are_a_column(front: optuna.Study) -> None:
    lines = _printed(front, 250)
    assert [c.strip() for c in lines[2].split("┃")[1:-1]] == [
        *("trial", "val MSE", "test MSE", "PSNR dB", "PCA dB", "gain dB", "latent", "params", "epochs", "parameters")
    ]


def test_narrower_than_the_numbers_each_trial_is_a_block(front: optuna.Study) -> None:
    lines = _printed(front, 40)
    assert max(len(line.rstrip()) for line in lines) <= 40 and "…" not in "\n".join(lines)
    for trial in front.best_trials:
        start = lines.index(f"trial {trial.number}")
        block = [line.split(None, 2)[-1].strip() if line.strip() else "" for line in lines[start + 1 : start + 9]]
        assert block == _row(trial)[1:], block
