"""Analysis: the statistics on data with known answers, and each command end to end on tiny studies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from analysis.power_law import fit_power_law, pareto_front, rank_correlation, strength
from analysis.published import published_points
from tests.conftest import analysis

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


def test_power_law_refuses_too_little_data() -> None:
    with pytest.raises(ValueError, match="at least 3 trials over 2 latent sizes"):
        fit_power_law([64, 64, 64], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law([64, 128], [0.1, 0.2])


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


# ---------------------------------------------------------------- commands end to end


def test_latent_vs_error_writes_table_figure_and_report(tiny_study: Path) -> None:
    done = analysis("latent_vs_error", "--study", "tiny", cwd=tiny_study)
    assert done.returncode == 0, done.stderr
    out = tiny_study / "studies" / "tiny" / "analysis"
    table = pd.read_csv(out / "latent_vs_error.csv")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    assert sorted(table["number"]) == [t.number for t in study.trials]
    complete = table[table["state"] == "complete"]
    assert len(complete) >= 3 and (table["state"] == "pruned").any()  # a fit, and pruned trials kept out of it
    assert (complete["val_mse"] == [study.trials[n].value for n in complete["number"]]).all()
    assert complete["test_mse"].notna().all() and (table["epochs"] >= 1).all()
    report = (out / "latent_vs_error.md").read_text()
    fit = fit_power_law(complete["latent_size"], complete["val_mse"])
    correlation = rank_correlation(complete["latent_size"], complete["val_mse"])
    assert f"b = {fit.b:.3f}" in report and f"R² = {fit.r2:.2f}" in report
    assert f"ρ = {correlation.rho:.2f}" in report and ("p = " in report or "p < " in report)
    assert "No power-law fit" not in report
    assert f"{(table['state'] == 'pruned').sum()} pruned trial(s)" in report
    assert "![error against latent size](latent_vs_error.png)" in report
    assert (out / "latent_vs_error.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # commands in fresh processes (about 17 s each)
@pytest.mark.parametrize("module", ["latent_vs_error", "colorize"])
def test_commands_refuse_missing_and_unfinished_studies(tmp_path: Path, module: str) -> None:
    missing = analysis(module, "--study", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "nope" in missing.stderr and "no such database" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "studies").mkdir()
    study = optuna.create_study(study_name="empty", storage=f"sqlite:///{tmp_path}/studies/empty.db")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    empty = analysis(module, "--study", "empty", cwd=tmp_path)
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1
    assert "no completed trial" in empty.stderr and "1 fail" in empty.stderr
    bad = analysis(module, "--study", "x", "--out", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
