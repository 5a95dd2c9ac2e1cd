"""Artifacts keep their file names and extensions where a person can see them (issue 34): a trial's pictures and
weights under ``studies/<study>/trials/0007/``, the same files Optuna's store (and the dashboard) keeps by id."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import ArtifactMeta, get_all_artifact_meta
from PIL import Image
from rich.console import Console

from search.trials import artifact_names
from search.trials.artifact_names import name_artifact, named_path, names_folder, readable_path
from search.trials.best import show_best


def test_the_default_layout_names_beside_the_store_and_a_chosen_folder_per_study(tmp_path: Path) -> None:
    assert names_folder(tmp_path / "studies" / "recon" / "artifacts", "recon") == tmp_path / "studies" / "recon" / "trials"
    # a folder given with --artifacts may hold several studies' files: each names its own
    shared = tmp_path / "nfs" / "cae-artifacts"
    assert names_folder(shared, "recon") == tmp_path / "nfs" / "cae-artifacts-by-trial" / "recon"
    assert named_path(shared, "recon", 7, "reconstructions.png") == names_folder(shared, "recon") / "0007" / "reconstructions.png"
    with pytest.raises(ValueError, match="filename"):
        named_path(shared, "recon", 7, "..")


def _stored(tmp_path: Path, content: bytes = b"\x89PNG picture") -> tuple[Path, str]:
    folder = tmp_path / "studies" / "recon" / "artifacts"
    folder.mkdir(parents=True)
    (folder / "6a2b56c5-id").write_bytes(content)
    return folder, "6a2b56c5-id"


def test_a_name_is_a_hard_link_to_the_stored_file(tmp_path: Path) -> None:
    folder, artifact_id = _stored(tmp_path)
    named = name_artifact(folder, "recon", 7, artifact_id, "reconstructions.png")
    assert named == tmp_path / "studies" / "recon" / "trials" / "0007" / "reconstructions.png"
    assert not named.is_symlink() and named.stat().st_ino == (folder / artifact_id).stat().st_ino  # no second copy
    assert named.read_bytes() == b"\x89PNG picture"
    assert sorted(p.name for p in named.parent.iterdir()) == ["reconstructions.png"]  # no temporary left


def test_a_name_already_there_is_replaced(tmp_path: Path) -> None:
    # a study of the same name deleted and run again: its trial 7 is another trial
    folder, artifact_id = _stored(tmp_path)
    old = tmp_path / "studies" / "recon" / "trials" / "0007" / "reconstructions.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an older study's picture")
    assert name_artifact(folder, "recon", 7, artifact_id, "reconstructions.png") == old
    assert old.read_bytes() == b"\x89PNG picture"


def test_where_hard_links_fail_the_name_is_a_relative_symbolic_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device(*_: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(artifact_names.os, "link", cross_device)
    folder, artifact_id = _stored(tmp_path)
    named = name_artifact(folder, "recon", 7, artifact_id, "reconstructions.png")
    assert named is not None and named.is_symlink()
    assert os.readlink(named) == os.path.join("..", "..", "artifacts", artifact_id)
    assert named.read_bytes() == b"\x89PNG picture"


def test_where_no_name_can_be_made_the_artifact_stays_stored_and_is_shown_by_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*_: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(artifact_names.os, "link", refused)
    monkeypatch.setattr(artifact_names.os, "symlink", refused)
    folder, artifact_id = _stored(tmp_path)
    assert name_artifact(folder, "recon", 7, artifact_id, "reconstructions.png") is None
    assert (folder / artifact_id).read_bytes() == b"\x89PNG picture"
    assert list((folder.parent / "trials" / "0007").iterdir()) == []
    meta = ArtifactMeta(artifact_id=artifact_id, filename="reconstructions.png", mimetype="image/png", encoding=None)
    assert readable_path(folder, "recon", 7, meta) == folder / artifact_id


def test_a_name_that_is_another_file_is_not_shown(tmp_path: Path) -> None:
    folder, artifact_id = _stored(tmp_path)
    other = tmp_path / "studies" / "recon" / "trials" / "0007" / "reconstructions.png"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"a copy, or another study's")
    meta = ArtifactMeta(artifact_id=artifact_id, filename="reconstructions.png", mimetype="image/png", encoding=None)
    assert readable_path(folder, "recon", 7, meta) == folder / artifact_id
    name_artifact(folder, "recon", 7, artifact_id, "reconstructions.png")
    assert readable_path(folder, "recon", 7, meta) == other


def test_a_run_names_every_trials_artifacts_and_search_best_lists_the_names(tiny_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_study)  # the study the analysis tests share, run by `search run` (read here, never written)
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    store = tiny_study / "studies" / "tiny" / "artifacts"
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert complete
    for trial in complete:
        metas = get_all_artifact_meta(trial, storage=study._storage)
        assert sorted(m.filename for m in metas) == ["model.pt", "reconstructions.png"]
        for meta in metas:
            named = tiny_study / "studies" / "tiny" / "trials" / f"{trial.number:04d}" / meta.filename
            assert named.samefile(store / meta.artifact_id)
        with Image.open(tiny_study / "studies" / "tiny" / "trials" / f"{trial.number:04d}" / "reconstructions.png") as picture:
            assert picture.format == "PNG"
    # Optuna's folder holds its ids alone, as the dashboard and every reader expect
    assert {p.name for p in store.iterdir()} == {m.artifact_id for t in complete for m in get_all_artifact_meta(t, storage=study._storage)}
    console = Console(width=80, record=True, file=io.StringIO())
    assert show_best("tiny", console=console) == 0
    text = console.export_text()
    best = min(complete, key=lambda t: min(t.user_attrs["val_mse"]))
    assert f"studies/tiny/trials/{best.number:04d}/reconstructions.png" in text
    assert f"studies/tiny/trials/{best.number:04d}/model.pt" in text
    assert "stored by Optuna in" in text and "studies/tiny/artifacts" in text
