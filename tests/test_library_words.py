"""The library speaks Python (issue 30, item 5): called from Python, search's errors name the parameter to change
(``storage='x'``, ``study_name='x'``, ``overrides=``, ``workers=5``, ``artifacts='x'``), never a command-line flag;
``python -m search`` words the same message as its flags (:func:`search.command_line.flag_words`), as it always read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

import search
from search.cli import _command_flags, _parser
from search.command_line import flag_words
from search.runtime.storage import record_artifact_dir

SPACE = {
    "study": {"name": "words", "objectives": ["val_mse"], "sampler": {"type": "random", "seed": 1}},
    "data": {"subset": 300},
    "train": {"epochs": 1, "batch_size": 64, "lr": 1.0e-3},
    "model": {"depth": 1, "channels": 4, "latent_channels": 2},
}
SPACE_TEXT = """\
study: {name: words, objectives: [val_mse]}
data: {subset: 300}
train: {epochs: 1, batch_size: 64, lr: 1.0e-3}
model: {depth: 1, channels: 4, latent_channels: 2}
"""
RUN = _command_flags(_parser(), "run")


def refused(call: Callable[[], object], error: type[Exception] = ValueError) -> str:
    """The message ``call`` raises, checked to speak Python: no ``--`` anywhere in it."""
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert "--" not in message, message
    return message


@pytest.fixture
def studies(in_tmp: Path) -> str:
    """``studies/held.db`` holding one study, ``empty``, with no trial: its URL."""
    Path("studies").mkdir()
    url = "sqlite:///studies/held.db"
    optuna.create_study(study_name="empty", storage=url)
    return url


@pytest.mark.parametrize(
    ("overrides", "library", "command"),
    [
        (["bad"], "SPACE: overrides=: expected key.path=value, got 'bad'", "SPACE: --set: expected key.path=value, got 'bad'"),
        (
            ["trainn.epochs=2"],
            "SPACE: overrides= trainn.epochs: unknown section (did you mean train?)",
            "SPACE: --set trainn.epochs: unknown section",
        ),
        (
            ["train.epochs=[1"],
            "SPACE: train.epochs: overrides= value '[1' is not valid YAML",
            "SPACE: train.epochs: --set value '[1' is not valid YAML",
        ),
        (
            ["train.epochs=abc"],
            "SPACE: train.epochs: expected an integer from 1 to 100000, got 'abc' (from overrides='train.epochs=abc')",
            "SPACE: train.epochs: expected an integer from 1 to 100000, got 'abc' (from --set train.epochs=abc)",
        ),
    ],
    ids=["without-equals", "unknown-section", "not-yaml", "bad-value"],
)
def test_load_space_names_overrides(tmp_path: Path, overrides: list[str], library: str, command: str) -> None:
    path = tmp_path / "words.yaml"
    path.write_text(SPACE_TEXT)
    said = refused(lambda: search.load_space(path, overrides=overrides), search.SpaceError)
    assert library.replace("SPACE", str(path)) in said
    assert command.replace("SPACE", str(path)) in flag_words(said, RUN)
    # a mapping from a notebook is refused in the same words
    assert "overrides=" in refused(lambda: search.space_from_dict(SPACE, overrides=overrides), search.SpaceError)


def test_optimize_names_study_name_workers_and_storage(in_tmp: Path) -> None:
    said = refused(lambda: search.optimize(SPACE, trials=1, study_name="../evil"), search.SpaceError)
    assert said.startswith("optimize: study_name=: expected a name of letters, digits"), said
    said = refused(lambda: search.optimize(SPACE, trials=1, workers=5), search.StorageError)
    assert said.startswith("workers=5: SQLite serialises every write behind one file lock"), said
    assert said.endswith("use a journal file: storage='studies/words.journal'"), said
    assert flag_words(said, RUN).startswith("--workers 5: SQLite")
    assert flag_words(said, RUN).endswith("use a journal file: --storage studies/words.journal")
    assert not Path("studies").exists()  # refused before anything is written


def test_optimize_names_a_storage_it_cannot_open(in_tmp: Path) -> None:
    said = refused(lambda: search.optimize(SPACE, trials=1, storage="nope://x"), search.StorageError)
    assert said.startswith("storage='nope://x': cannot open this storage ("), said
    assert flag_words(said, RUN).startswith("--storage nope://x: cannot open this storage (")


def test_reading_a_study_names_study_name_and_storage(studies: str, tmp_path: Path) -> None:
    said = refused(lambda: search.load_trial("no-such-study", storage=studies), search.StorageError)
    assert said == "study_name='no-such-study': no such study in sqlite:///studies/held.db (it holds empty)"
    assert flag_words(said, RUN) == "--study no-such-study: no such study in sqlite:///studies/held.db (it holds empty)"
    said = refused(lambda: search.load_trial("empty", storage=studies), search.StorageError)
    assert said == "study_name='empty': no completed trial yet (0 complete · 0 pruned · 0 fail · 0 running)"
    folder = str(tmp_path)
    said = refused(lambda: search.load_trial("empty", storage=folder), search.StorageError)
    assert said == f"storage={folder!r}: is a folder, expected a database or journal file"
    assert flag_words(said, RUN) == f"--storage {folder}: is a folder, expected a database or journal file"


def test_another_artifact_folder_names_artifacts(tmp_path: Path) -> None:
    study = optuna.create_study()
    kept = record_artifact_dir(study, tmp_path / "kept")
    other = tmp_path / "other"
    said = refused(lambda: record_artifact_dir(study, other), search.StorageError)
    recorded = f"study {study.study_name} writes its artifacts to {kept} (its record)"
    assert said == f"artifacts={str(other)!r}: {recorded}; leave artifacts= out, or give that folder"
    assert flag_words(said, RUN) == f"--artifacts {other}: {recorded}; leave --artifacts out, or give that folder"
