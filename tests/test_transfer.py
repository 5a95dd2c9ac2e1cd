"""analysis.transfer: balanced subsets, which weights move, the command end to end, the front and its words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from rich.console import Console

from analysis import probe, transfer
from analysis.cli import progress_bars
from analysis.probe import Labelled
from analysis.transfer.runs import Reporter
from cae.data import DataError, Splits
from search.trials.trial_model import load_trial

# The exact PCA of 3,072 pixels costs seconds per fit; the randomized one above MAX_FEATURES, hundredths (as in test_probe).
RANDOMIZED = 10


def test_balanced_subsets_hold_the_asked_count_of_every_class(tiny_splits: Splits) -> None:
    labels = tiny_splits.train.labels
    n = len(labels)
    for fraction in (0.05, 0.1, 0.2):
        subset = transfer.balanced_subset(labels, fraction, seed=0)
        k = transfer.per_class(n, 10, fraction)
        assert torch.bincount(labels[subset], minlength=10).tolist() == [k] * 10
        assert subset.unique().numel() == len(subset) == 10 * k and (subset.diff() > 0).all()
        assert subset.equal(transfer.balanced_subset(labels, fraction, seed=0))  # seeded
        assert not subset.equal(transfer.balanced_subset(labels, fraction, seed=1))
    assert transfer.balanced_subset(labels, 1.0, seed=3).equal(torch.arange(n))  # the whole split, as it is
    # 1% of 48,000 is 480 images: 48 of each class
    assert transfer.per_class(48_000, 10, 0.01) == 48 and transfer.per_class(19_200, 10, 0.01) == 19
    # the library names its parameter (fractions); the command words it as --labels (tests/test_bad_input.py)
    with pytest.raises(DataError, match=r"fractions=0.001: .* under one image per class of 10") as few:
        transfer.balanced_subset(labels, 0.001, seed=0)
    with pytest.raises(DataError, match=r"fractions=0.9: 29 images per class, but class \d has \d+ train images") as many:
        transfer.balanced_subset(labels, 0.9, seed=0)
    assert "--" not in str(few.value) + str(many.value)
    assert [transfer.epochs_for(f) for f in (0.01, 0.1, 1.0)] == [30, 10, 3]


def test_the_frozen_encoder_stays_the_fine_tuned_one_moves_and_scratch_starts_elsewhere(tiny_study: Path, monkeypatch) -> None:
    monkeypatch.chdir(tiny_study)
    loaded = load_trial("tiny")
    model = loaded.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = loaded.data()
    parts = transfer.Parts(data.train, data.val, data.test, transfer.labelled_subsets(data.train.labels, (0.5,), 1), 10)
    rows = parts.subsets[(0.5, 0)].numpy()
    train, val, test = parts.images()
    latent = model.arch.latent_size
    tuned = transfer.seeded_classifier(lambda: transfer.encoder_of(model), latent, 10, seed=0)
    transfer.fit_classifier(tuned, Labelled(train.x[rows], train.y[rows]), val, test, epochs=2, seed=0)
    encoder_keys = [k for k in tuned.encoder.state_dict() if k.startswith("encoder.") and k.endswith("weight")]
    assert encoder_keys and all(not torch.equal(tuned.encoder.state_dict()[k], before[k]) for k in encoder_keys)
    # The whole of a trial's runs, frozen ones and fine-tuning included, leaves the trial's own model as it was.
    with progress_bars(Console(quiet=True), quiet=True) as progress:
        transfer.trial_runs(loaded, parts, Reporter(progress, 12), methods=("linear", "mlp", "finetune"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    frozen = transfer.Classifier(None, latent, 10)
    assert frozen.encoder is None and sum(p.numel() for p in frozen.parameters()) == sum(p.numel() for p in frozen.head.parameters())
    scratch = transfer.scratch_encoder(model.arch, seed=0)
    assert all(not torch.equal(scratch.state_dict()[k], before[k]) for k in encoder_keys)
    assert all(torch.equal(v, transfer.scratch_encoder(model.arch, seed=0).state_dict()[k]) for k, v in scratch.state_dict().items())
    assert not torch.equal(
        scratch.state_dict()[encoder_keys[0]], transfer.scratch_encoder(model.arch, seed=1).state_dict()[encoder_keys[0]]
    )
    assert not hasattr(scratch, "skip_out") and len(scratch.decoder) == 0  # only what encode() uses gets trained


def test_the_command_writes_every_method_at_every_budget(tiny_study: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(probe, "MAX_FEATURES", RANDOMIZED)
    monkeypatch.chdir(tiny_study)
    assert transfer.main(["--study", "tiny", "--labels", "0.1", "1", "--seeds", "2", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "labelled train images per fraction: 0.1 → 20, 1 → 240 of 240; 18 runs" in printed
    assert f"wrote {tmp_path / 'transfer.md'}" in printed
    table = pd.read_csv(tmp_path / "transfer.csv")
    assert list(table.columns[:7]) == ["trial", "method", "fraction", "labels", "seed", "subset", "test_accuracy"]
    assert {"val_accuracy", "epochs", "best_epoch", "c", "seconds"} <= set(table.columns)
    assert table["test_accuracy"].between(0, 1).all() and table["val_accuracy"].between(0, 1).all() and (table["seconds"] > 0).all()
    assert sorted(table["method"].unique()) == sorted(transfer.METHODS) and len(table) == 6 * 3
    # every method of a (fraction, seed) fitted on the same labelled images; 2 seeds below 100%, 1 at it
    assert (table.groupby(["fraction", "seed"])["subset"].nunique() == 1).all()
    assert table.groupby("fraction")["seed"].nunique().to_dict() == {0.1: 2, 1.0: 1}
    assert table.groupby("fraction")["labels"].unique().map(list).to_dict() == {0.1: [20], 1.0: [240]}
    networks = table[table["method"].isin(["mlp", "finetune", "scratch"])]
    assert (networks["epochs"] == networks["fraction"].map({0.1: 10, 1.0: 3})).all()
    assert networks["best_epoch"].between(1, networks["epochs"]).all() and networks["c"].isna().all()
    assert table[table["method"] == "pixels"]["trial"].isna().all()
    result = json.loads((tmp_path / "transfer.json").read_text())
    assert result["train_images"] == 240 and result["rule"]["epochs"] == {"0.1": 10, "1": 3} and len(result["runs"]) == 18
    report = (tmp_path / "transfer.md").read_text()
    assert (
        "At 10% (20 labels), fine-tuning the pretrained encoder reaches" in report
        and "![test accuracy against labels](transfer.png)" in report
    )
    assert (tmp_path / "transfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same command gives the same numbers
    again = transfer.compute("tiny", fractions=(0.1,), seeds=2)  # the budget with seeds: half the command's work
    assert capsys.readouterr() == ("", "")  # a library call without a console prints nothing
    keys = ("trial", "method", "fraction", "seed", "subset", "test_accuracy", "val_accuracy", "best_epoch", "c")
    first = [{k: row[k] for k in keys} for row in result["runs"] if row["fraction"] == 0.1]
    assert [{k: getattr(r, k) for k in keys} for r in again.runs] == first
    figure = transfer.plot(again)
    assert isinstance(figure, Figure) and figure.axes[0].get_xscale() == "log"
    _, labels = figure.axes[0].get_legend_handles_labels()
    assert sorted(labels) == sorted([*transfer.METHODS.values(), f"chance ({100 * again.chance:.0f}%)"])


def test_the_front_ranks_probe_accuracy_against_latent_size_and_psnr(tiny_study: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tiny_study)
    front = transfer.compute_front("tiny", fractions=(1.0,), seeds=1)
    table = front.table()
    assert len(table) == len(front.trials) >= 3 and table["test_accuracy"].between(0, 1).all()
    assert {r.method for r in front.runs} == {"linear"}
    for axis in ("latent_size", "test_psnr"):
        c = front.correlations[(1.0, axis)]
        assert -1 <= c.rho <= 1 and 0 <= c.p <= 1 and c.n == len(front.trials)
    files = transfer.render_front(front, tmp_path)
    assert all(path.exists() for path in files.values())
    assert "ρ = " in files["md"].read_text() and len(transfer.plot_front(front).axes) == 2
    assert list(pd.read_csv(files["csv"]).columns[:3]) == ["trial", "latent_size", "test_psnr"]


def _made_up(**means: tuple[float, float, float]) -> transfer.TransferResult:
    """A result whose methods score ``means[method]`` at 1%, 10% and 100% (three seeds a point apart below 100%), on 10,000 test images."""
    runs = []
    for method in transfer.METHODS:
        for fraction, labels, mean in zip((0.01, 0.1, 1.0), (480, 4800, 48000), means.get(method, (0.3, 0.4, 0.5)), strict=True):
            for seed, shift in enumerate((-0.01, 0.0, 0.01) if fraction < 1 else (0.0,)):
                trial = None if method == "pixels" else 7
                runs.append(transfer.Run(trial, method, fraction, labels, seed, "x", mean + shift, mean, 3, 2, None, 1.0))
    info = transfer.TrialInfo(7, "study s, trial 7", 64, False, 21.0, 1000, 1.0)
    return transfer.TransferResult("s", "data", 48_000, 2000, 6000, 10_000, 10, 0.1, (0.01, 0.1, 1.0), 3, (info,), tuple(runs))


def test_the_reading_follows_the_numbers() -> None:
    result = _made_up(finetune=(0.40, 0.50, 0.60), scratch=(0.30, 0.45, 0.595), linear=(0.35, 0.40, 0.45), pca=(0.35, 0.40, 0.40))
    words = transfer.reading(result, result.trials[0])
    assert "At 1% (480 labels), fine-tuning the pretrained encoder reaches 40.0% ± 1.0 against 30.0% ± 1.0 from scratch: 10.0 ± " in words
    assert "pretraining pays (fine-tuning beats scratch beyond noise) at 1% and 10% of the labels" in words
    assert "level within noise at 100%" in words and "level within noise (+0.5 ± " in words
    assert "The frozen code against PCA's: 5.0 ± 0.7 points above, beyond the noise of 1.4." in words  # at 100%: one seed
    assert "The frozen code against PCA's: level within noise (+0.0 ± 1.1 points; the noise is 2.1)" in words
    assert transfer.pays(result, 7) == {"pays": ["1%", "10%"], "costs": [], "level": ["100%"]}
    hurt = _made_up(finetune=(0.30, 0.40, 0.50), scratch=(0.40, 0.50, 0.50))
    assert transfer.pays(hurt, 7) == {"pays": [], "costs": ["1%", "10%"], "level": ["100%"]}
    assert "it costs (scratch is ahead beyond noise) at 1% and 10%" in transfer.reading(hurt, hurt.trials[0])
    table = transfer.accuracy_table(result, result.trials[0])
    assert table.columns.tolist() == ["method", "1% (480 labels)", "10% (4,800 labels)", "100% (48,000 labels)"]
    assert table.iloc[2].tolist() == ["fine-tuned", "40.0 ± 1.0", "50.0 ± 1.0", "60.0"]
    summary = result.summary()
    assert summary[(summary["method"] == "scratch") & (summary["fraction"] == 0.01)]["mean"].item() == pytest.approx(0.30)
    assert np.isnan(summary[summary["fraction"] == 1.0]["std"]).all()


def test_a_few_trials_get_an_exact_rank_p_value() -> None:
    from scipy import stats

    from analysis.power_law import EXACT_UP_TO, small_rank_correlation

    in_order = small_rank_correlation([64, 128, 256], [0.3, 0.2, 0.1])
    assert (in_order.rho, in_order.n) == (pytest.approx(-1.0), 3) and in_order.p == pytest.approx(1 / 3)  # scipy's t approximation: 0
    assert small_rank_correlation([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]).p == pytest.approx(2 / 120)
    x, y = list(range(EXACT_UP_TO + 2)), [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    assert small_rank_correlation(x, y).p == pytest.approx(stats.spearmanr(x, y).pvalue)  # beyond a few, scipy's own
