"""``search run --artifacts DIR``: one artifact folder for every machine, recorded by the study and found by every reader (issue 22)."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest

from search import dashboard as search_dashboard
from search.cli import main as search
from search.runtime.storage import ARTIFACT_DIR
from search.trials.trial_model import load_trial
from tests.conftest import SPACES

QUICK = ["--set", "data.subset=300", "--set", "train.epochs=1"]


@pytest.fixture(scope="module")
def shared_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A study run with --artifacts pointing outside its folder (as a cluster's shared mount): (database, folder)."""
    work = tmp_path_factory.mktemp("node")
    shared = tmp_path_factory.mktemp("nfs") / "cae-artifacts"
    old = Path.cwd()
    os.chdir(work)
    try:
        assert search(["run", str(SPACES / "tiny.yaml"), "--trials", "2", "--artifacts", str(shared), *QUICK]) == 0
    finally:
        os.chdir(old)
    return work / "studies" / "tiny.db", shared


def test_every_trials_files_land_in_the_folder_the_study_records(shared_study: tuple[Path, Path]) -> None:
    database, shared = shared_study
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{database}")
    assert study.user_attrs[ARTIFACT_DIR] == str(shared.resolve())
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    uploaded = {meta.artifact_id for t in finished for meta in optuna.artifacts.get_all_artifact_meta(t, storage=study._storage)}
    assert len(uploaded) == 2 * len(finished) > 0  # a picture and the weights of each
    assert {p.name for p in shared.iterdir()} == uploaded
    assert not (database.parent / "tiny" / "artifacts").exists()


def test_best_dashboard_and_load_trial_read_the_recorded_folder_from_anywhere(
    shared_study: tuple[Path, Path], in_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, shared = shared_study
    url = f"sqlite:///{database}"
    assert search(["best", "--study", "tiny", "--storage", url]) == 0
    assert str(shared.resolve()) in capsys.readouterr().out.replace("\n", "")
    served = {}
    monkeypatch.setattr(search_dashboard, "serve", lambda storage, **kwargs: served.update(kwargs))
    assert search(["dashboard", "--study", "tiny", "--storage", url]) == 0
    assert Path(served["artifact_store"]._base_path) == shared.resolve()
    assert load_trial("tiny", storage=url).model is not None
    assert not (in_tmp / "studies").exists()  # nothing made in the reader's folder


def test_another_folder_for_a_recorded_study_is_refused_in_one_line(
    shared_study: tuple[Path, Path], in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database, shared = shared_study
    args = ["run", str(SPACES / "tiny.yaml"), "--trials", "3", "--storage", f"sqlite:///{database}", "--artifacts", "elsewhere", *QUICK]
    assert search(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"study tiny writes its artifacts to {shared.resolve()} (its record)" in err, err
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{database}")
    assert len(study.trials) == 2  # refused before any trial ran
