"""The library's entry points (search.optimize, space_from_dict, architecture) and search refit."""

from __future__ import annotations

import copy
import logging
import math
import sqlite3
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

import cae
import search
from cae.spec import ArchitectureError, Conv, Dense, at_latent_size
from search.cli import main
from search.refits import best_against_pca, choose_designs, front_trials

QUICK = {"subset": 300}
SUBSET = ["--set", f"data.subset={QUICK['subset']}"]  # a refit trains on the whole training split unless told
SPACE = {
    "study": {"name": "api", "objectives": ["val_mse", "latent_size"], "sampler": {"type": "random", "seed": 1}},
    "data": QUICK,
    "train": {"epochs": 1, "batch_size": 64, "lr": {"float": [1.0e-3, 1.0e-2], "log": True}},
    "model": {"depth": 2, "channels": {"int": [4, 8]}, "latent_channels": {"int": [2, 4]}},
}


def _exit_code(argv: list[str]) -> int:
    """``python -m search ARGV``'s exit code, in-process (argparse exits for a bad flag)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def _rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as connection:
        return list(connection.iterdump())


def test_parsing_a_mapping_leaves_it_unchanged_even_with_overrides() -> None:
    before = copy.deepcopy(SPACE)
    space = search.space_from_dict(SPACE, overrides=["train.epochs=3", "data.subset=500"])
    assert before == SPACE
    assert space.train["epochs"] == 3 and space.data.subset == 500 and space.study.name == "api"
    assert "name: api" in space.text  # the study's record of a mapping is its YAML


def test_a_mapping_without_a_study_name_is_refused() -> None:
    with pytest.raises(search.SpaceError, match=r"study\.name: missing"):
        search.space_from_dict({"model": {"depth": 1}})


def test_architecture_is_a_seeded_draw_and_builds() -> None:
    space = search.space_from_dict(SPACE)
    draws = {search.architecture(space, seed=s).n_params for s in range(6)}
    assert search.architecture(space, seed=3) == search.architecture(space, seed=3)
    assert len(draws) > 1  # the seed chooses among the space's networks
    model = cae.build(search.architecture(space, seed=0))
    assert isinstance(model, cae.CAE)


def test_architecture_skips_draws_over_the_bound_and_says_when_none_fits() -> None:
    bounded = copy.deepcopy(SPACE) | {"model": SPACE["model"] | {"max_latent": 128}}
    assert search.architecture(search.space_from_dict(bounded), seed=0).latent_size <= 128
    impossible = copy.deepcopy(SPACE) | {"model": SPACE["model"] | {"max_latent": 8}}
    with pytest.raises(search.SpaceError, match="none of 200 draws"):
        search.architecture(search.space_from_dict(impossible), seed=0)


def test_optimize_returns_the_study_silently_and_leaves_logging_as_it_was(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    optuna.logging.set_verbosity(logging.INFO)
    filters = list(warnings.filters)
    study = search.optimize(SPACE, trials=2)
    assert isinstance(study, optuna.Study)
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert optuna.logging.get_verbosity() == logging.INFO and warnings.filters == filters
    table = search.trials_table(study)
    assert isinstance(table, pd.DataFrame) and len(table) == 2
    assert {"latent_size", "test_psnr", "pca_mse", "gain_db", "state"} <= set(table.columns)
    # resumed: two more, the first two kept
    assert len(search.optimize(SPACE, trials=4).trials) == 4


def test_optimize_raises_for_a_bad_space_and_stores_nothing(in_tmp: Path) -> None:
    with pytest.raises(search.SpaceError, match=r"train\.lrr"):
        search.optimize(SPACE | {"train": {"lrr": 1}}, trials=1)
    assert not Path("studies/api.db").exists()


def test_at_latent_size_builds_exact_codes() -> None:
    space = search.space_from_dict(SPACE)
    arch = search.architecture(space, seed=0)  # a conv bottleneck on an 8×8 map
    assert at_latent_size(arch, 128).latent_size == 128
    with pytest.raises(ArchitectureError, match="multiple of 64"):
        at_latent_size(arch, 100)
    dense = search.architecture(search.space_from_dict(SPACE | {"model": SPACE["model"] | {"latent_dim": 48}}), seed=0)
    assert isinstance(dense.encoder[-1], Dense) and at_latent_size(dense, 77).latent_size == 77
    assert isinstance(arch.encoder[-1], Conv)


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding studies/api.db: 4 trials of a two-objective study."""
    folder = tmp_path_factory.mktemp("refit")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        search.optimize(SPACE, trials=4)
    return folder


def test_refit_at_exact_sizes_records_lineage_and_resumes(parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(parent)
    assert main(["refit", "--study", "api", "--latent", "64", "128", "--epochs", "2", "--into", "api-sizes", *SUBSET]) == 0
    child = optuna.load_study(study_name="api-sizes", storage="sqlite:///studies/api-sizes.db")
    done = child.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["latent_size"] for t in done) == [64, 128]
    parent_study = optuna.load_study(study_name="api", storage="sqlite:///studies/api.db")
    front = {t.number: t for t in front_trials(parent_study)}
    for trial in done:
        lineage = trial.user_attrs["lineage"]
        assert lineage["study"] == "api" and lineage["trial"] in front
        assert lineage["params"] == front[lineage["trial"]].params
        assert lineage["latent_asked"] == trial.user_attrs["latent_size"]
        assert len(trial.user_attrs["val_mse"]) == 2  # the refit's epochs, not the parent's 1
        assert trial.user_attrs["pca_mse"] > 0
    before = _rows(parent / "studies" / "api-sizes.db")
    assert main(["refit", "--study", "api", "--latent", "64", "128", "--epochs", "2", "--into", "api-sizes", *SUBSET]) == 0
    assert len(child.get_trials()) == 2 and _rows(parent / "studies" / "api-sizes.db") == before


def test_refit_of_numbered_trials_and_the_front(parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(parent)
    study = optuna.load_study(study_name="api", storage="sqlite:///studies/api.db")
    complete = [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))]
    designs = choose_designs(study, trials=complete[:2])
    assert [d["lineage"]["trial"] for d in designs] == complete[:2]
    front = choose_designs(study, front=True)
    sizes = [d["lineage"]["latent"] for d in front]
    assert sizes == sorted(sizes) and {d["lineage"]["trial"] for d in front} == {t.number for t in front_trials(study)}
    child = search.refit("api", trials=complete[:1], epochs=1, into="api-one", overrides=SUBSET[1:])
    assert [t.user_attrs["lineage"]["trial"] for t in child.trials] == complete[:1]
    assert child.trials[0].user_attrs["architecture"] == study.trials[complete[0]].user_attrs["architecture"]


def test_refit_of_one_design_at_several_sizes(parent: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(parent)
    study = optuna.load_study(study_name="api", storage="sqlite:///studies/api.db")
    first = study.get_trials(states=(TrialState.COMPLETE,))[0]
    designs = choose_designs(study, trials=[first.number], latent=[64, 128])
    assert [(d["lineage"]["trial"], d["lineage"]["latent_asked"], d["lineage"]["latent"]) for d in designs] == [
        (first.number, 64, 64),
        (first.number, 128, 128),
    ]
    # the same design at each size: only the code's width differs
    shapes = [{k: v for k, v in d["architecture"].items() if k not in ("encoder", "decoder")} for d in designs]
    assert shapes[0] == shapes[1] and designs[0]["train"] == designs[1]["train"] == first.user_attrs["train"]
    before = {db.name: _rows(db) for db in (parent / "studies").glob("*.db")}
    assert _exit_code(["refit", "--study", "api", "--trial", str(first.number), "--latent", "100", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"latent 100: trial {first.number} of study api cannot be built at that size" in err and err.count("\n") == 1
    assert {db.name: _rows(db) for db in (parent / "studies").glob("*.db")} == before


def test_refit_best_builds_the_design_best_against_pca_at_each_size(parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(parent)
    study = optuna.load_study(study_name="api", storage="sqlite:///studies/api.db")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    ratios = {t.number: min(t.user_attrs["val_mse"]) / t.user_attrs["pca_mse"] for t in complete}
    chosen = best_against_pca(study)
    assert ratios[chosen.number] == min(ratios.values())
    designs = choose_designs(study, best=True, latent=[64, 128])
    assert [(d["lineage"]["trial"], d["lineage"]["latent"]) for d in designs] == [(chosen.number, 64), (chosen.number, 128)]
    assert [d["lineage"]["trial"] for d in choose_designs(study, best=True)] == [chosen.number]  # at its own size
    with pytest.raises(ValueError, match="best= alone or with latent="):
        choose_designs(study, best=True, front=True)


def test_best_within_a_margin_takes_the_cheapest_design_per_epoch() -> None:
    arch = search.architecture(search.space_from_dict(SPACE), seed=0).to_dict()
    study = optuna.create_study(directions=["minimize", "minimize"])
    # score (best validation MSE / PCA's) and seconds an epoch: 0.9000 at 100 s, 0.9004 at 60 s, 0.95 at 10 s
    for val_mse, seconds in (([0.0092, 0.0090], [100.0, 101.0]), ([0.0095, 0.009004], [59.0, 61.0]), ([0.0095], [10.0])):
        attrs = {"architecture": arch, "train": {}, "val_mse": val_mse, "pca_mse": 0.01, "epoch_seconds": seconds}
        study.add_trial(optuna.trial.create_trial(values=[min(val_mse), 16], user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={"val_mse": [0.001], "pca_mse": 0.01}))
    assert [best_against_pca(study, within).number for within in (0, 0.0001, 0.001, 0.1)] == [0, 0, 1, 2]
    assert [d["lineage"]["trial"] for d in choose_designs(study, best=True, within=0.001)] == [1]
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="within must be a finite fraction"):
            best_against_pca(study, bad)
    with pytest.raises(ValueError, match="within=: applies to best="):
        choose_designs(study, front=True, within=0.01)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--study", "api", "--epochs", "2"],
            "--front: expected one of --front, --trial N..., --latent D..., --best, or --trial or --best with --latent",
        ),
        (["--study", "api", "--best", "--front", "--epochs", "2"], "--best: expected --best alone or with --latent D..."),
        (["--study", "api", "--best", "--trial", "0", "--epochs", "2"], "--best: expected --best alone or with --latent D..."),
        (["--study", "api", "--front", "--latent", "64", "--epochs", "2"], "--front: expected one of --front"),
        (["--study", "api", "--front", "--trial", "0", "--epochs", "2"], "--front: expected one of --front"),
        (["--study", "api", "--front", "--epochs", "0"], "--epochs: expected an integer ≥ 1"),
        (["--study", "api", "--front", "--within", "0.01", "--epochs", "2"], "--within: applies to --best"),
        (["--study", "api", "--best", "--within", "-0.1", "--epochs", "2"], "--within: expected a fraction from 0 to 1"),
        (["--study", "api", "--best", "--within", "nan", "--epochs", "2"], "--within: expected a fraction from 0 to 1"),
        (["--study", "api", "--latent", "0", "--epochs", "2"], "--latent: expected an integer ≥ 1"),
        (["--study", "api", "--trial", "-1", "--epochs", "2"], "--trial: expected a trial number ≥ 0"),
        (["--study", "api", "--trial", "99", "--epochs", "2"], "trial 99 of study api is not a completed trial"),
        (["--study", "api", "--latent", "100", "--epochs", "2"], "latent 100: no design on the front"),
        (["--study", "api", "--front", "--epochs", "2", "--into", "api"], "--into: expected a study other than its parent"),
        (["--study", "api", "--front", "--epochs", "2", "--into", "../x"], "--into: expected a name"),
        (["--study", "nope", "--front", "--epochs", "2"], "nope"),
    ],
)
def test_refit_refuses_bad_flags_in_one_line_and_changes_nothing(
    parent: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    monkeypatch.chdir(parent)
    before = {db.name: _rows(db) for db in (parent / "studies").glob("*.db")}
    assert _exit_code(["refit", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error:")
    assert {db.name: _rows(db) for db in (parent / "studies").glob("*.db")} == before


def test_latent_vs_error_sets_a_refit_beside_its_search(parent: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    from analysis import latent_vs_error
    from search.trials.front import anytime_hypervolume, hypervolume

    monkeypatch.chdir(parent)
    if not Path("studies/api-sizes.db").exists():
        search.refit("api", latent=[64, 128], epochs=2, into="api-sizes", overrides=SUBSET[1:])
    result = latent_vs_error.compute("api", refit="api-sizes")
    refit = result.refit
    assert sorted(refit.table["latent_size"]) == [64, 128] and (refit.table["parent_trial"] >= 0).all()
    # the refit's curve goes on from the search's compute, over the joint front of both studies' complete trials
    assert refit.anytime[0][0] > result.anytime[-1][0] and refit.compute_hours > 0
    search_points = list(zip(result.complete["latent_size"], result.complete["val_mse"], strict=True))
    sizes = [size for size, _ in search_points] + list(refit.table["latent_size"])
    errors = [error for _, error in search_points] + list(refit.table["val_mse"])
    assert refit.hypervolume == pytest.approx(hypervolume(sizes, errors))
    assert refit.hypervolume >= result.hypervolume
    child = optuna.load_study(study_name="api-sizes", storage="sqlite:///studies/api-sizes.db")
    assert anytime_hypervolume(child, spent=10.0)[0][0] == pytest.approx(10.0 + child.trials[0].user_attrs["train_seconds"], rel=0.5)
    assert isinstance(latent_vs_error.plot(result), Figure) and isinstance(latent_vs_error.plot_compute(result), Figure)
    (parent / "lve").mkdir(exist_ok=True)
    files = latent_vs_error.render(result, parent / "lve")
    text = files["md"].read_text()
    assert "## Refit: `api-sizes`" in text and files["compute"].stat().st_size > 0
    for size in (64, 128):
        assert f"At {size} values the refit" in text


def test_latent_vs_error_sets_several_refits_beside_their_search(parent: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from analysis import latent_vs_error

    monkeypatch.chdir(parent)
    for name, sizes, epochs in (("api-sizes", [64, 128], 2), ("api-short", [64], 1)):
        if not Path(f"studies/{name}.db").exists():
            search.refit("api", latent=sizes, epochs=epochs, into=name, overrides=SUBSET[1:])
    result = latent_vs_error.compute("api", refit=["api-short", "api-sizes"])
    assert [r.study for r in result.refits] == ["api-short", "api-sizes"] and result.refit is result.refits[0]
    assert [sorted(r.table["latent_size"]) for r in result.refits] == [[64], [64, 128]]
    # every refit's curve goes on from the end of the search's, and each joins the search's front alone
    assert all(r.anytime[0][0] > result.anytime[-1][0] for r in result.refits)
    fig = latent_vs_error.plot_compute(result)
    assert [line.get_label() for line in fig.axes[0].get_lines()][:3] == [
        "search api",
        "then refit api-short (fronts joined)",
        "then refit api-sizes (fronts joined)",
    ]
    labels = [t.get_text() for t in latent_vs_error.plot(result).axes[0].get_legend().get_texts()]
    assert "refit api-short (1 epoch), test" in labels and "refit api-sizes (2 epochs), test" in labels
    assert latent_vs_error.main(["--study", "api", "--refit", "api-short", "api-sizes", "--out", str(parent / "lve-two")]) == 0
    text = (parent / "lve-two" / "latent_vs_error.md").read_text()
    assert text.index("## Refit: `api-short`") < text.index("## Refit: `api-sizes`")
    assert "refit api-short:" in capsys.readouterr().out


def test_refits_run_side_by_side_are_drawn_as_one(parent: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from analysis import latent_vs_error
    from search.trials.front import anytime_hypervolume, compute_hours, study_hypervolume

    monkeypatch.chdir(parent)
    for name, sizes, epochs in (("api-sizes", [64, 128], 2), ("api-short", [64], 1)):
        if not Path(f"studies/{name}.db").exists():
            search.refit("api", latent=sizes, epochs=epochs, into=name, overrides=SUBSET[1:])
    children = [optuna.load_study(study_name=n, storage=f"sqlite:///studies/{n}.db") for n in ("api-short", "api-sizes")]
    result = latent_vs_error.compute("api", refit="api-short+api-sizes")
    (group,) = result.refits
    assert group.study == "api-short+api-sizes" and sorted(group.table["latent_size"]) == [64, 64, 128]
    assert group.compute_hours == pytest.approx(sum(compute_hours(c) for c in children))
    # one curve over the three trials in the order they finished, after the search's compute
    spent = result.anytime[-1][0]
    assert len(group.anytime) == 3 and group.anytime[-1][0] == pytest.approx(spent + 3600 * group.compute_hours)
    assert study_hypervolume(*children) <= group.hypervolume
    assert anytime_hypervolume(*children)[-1][1] == pytest.approx(study_hypervolume(*children))
    labels = [t.get_text() for t in latent_vs_error.plot(result).axes[0].get_legend().get_texts()]
    assert "refit api-short+api-sizes (1–2 epochs), test" in labels
    assert sorted(latent_vs_error._refit_table(group)["refit study"]) == ["api-short", "api-sizes", "api-sizes"]
    assert latent_vs_error.main(["--study", "api", "--refit", "api-short+api-sizes", "--out", str(parent / "lve-side")]) == 0
    assert "## Refit: `api-short+api-sizes`" in (parent / "lve-side" / "latent_vs_error.md").read_text()
    capsys.readouterr()
    assert latent_vs_error.main(["--study", "api", "--refit", "api-short+", "--out", str(parent / "lve-bad")]) == 2
    assert "--refit: expected a name" in capsys.readouterr().err


def test_training_leaves_the_global_random_state_as_it_was(tiny_splits) -> None:
    import torch

    from cae.training import TrainConfig, train

    arch = search.architecture(search.space_from_dict(SPACE), seed=0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, _ = train(arch, tiny_splits, TrainConfig(epochs=1, batch_size=64))
    assert torch.equal(torch.get_rng_state(), before)
    second, _ = train(arch, tiny_splits, TrainConfig(epochs=1, batch_size=64))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True))
