"""The Python API checks its arguments as the command line does (issue 32, items 7 and 8): one ``ValueError`` naming
the parameter, before anything is read or created; a storage is opened (reached, repaired) and a study there checked
before the images are read; ``sqlite://`` and ``:memory:`` are refused; ``train.epochs`` has an upper bound."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest

import search
from cae.settings import DataError, TrainConfig
from search.cli import main
from search.run import WORKERS_PER_CORE, usable_cores
from search.runtime.storage import StorageError, open_storage
from tests.conftest import SPACES

SPACE = {
    "study": {"name": "args", "objectives": ["val_mse"], "sampler": {"type": "random", "seed": 1}},
    "data": {"subset": 300},
    "train": {"epochs": 1, "batch_size": 64, "lr": 1.0e-3},
    "model": {"depth": 1, "channels": 4, "latent_channels": 2},
}
MOST_WORKERS = WORKERS_PER_CORE * usable_cores()
PER_CORE = f" ({WORKERS_PER_CORE} for each of the {usable_cores()} cores this process may use)"
TOO_MANY = MOST_WORKERS + 1  # a typo's thousands of worker processes would each load the images

OPTIMIZE = [
    ({"trials": -1}, "trials=: expected an integer ≥ 1, got -1"),
    ({"trials": 0}, "trials=: expected an integer ≥ 1, got 0"),
    ({"trials": math.nan}, "trials=: expected an integer ≥ 1, got nan"),
    ({"trials": 2.5}, "trials=: expected an integer ≥ 1, got 2.5"),
    ({"trials": True}, "trials=: expected an integer ≥ 1, got True"),
    ({"trials": "3"}, "trials=: expected an integer ≥ 1, got '3'"),
    ({"trials": 1, "timeout": -5}, "timeout=: expected a number of seconds > 0, or None for no limit, got -5"),
    ({"trials": 1, "timeout": 0}, "timeout=: expected a number of seconds > 0, or None for no limit, got 0"),
    ({"trials": 1, "timeout": math.nan}, "timeout=: expected a number of seconds > 0, or None for no limit, got nan"),
    ({"trials": 1, "deadline": 0}, "deadline=: expected a number of seconds > 0, or None for no limit, got 0"),
    ({"trials": 1, "workers": 0}, f"workers=: expected an integer from 1 to {MOST_WORKERS}{PER_CORE}, got 0"),
    (
        {"trials": 1, "workers": TOO_MANY},
        f"workers=: expected an integer from 1 to {MOST_WORKERS}{PER_CORE}, got {TOO_MANY}",
    ),
    ({"trials": 1, "grace": 1}, "grace=: expected an integer ≥ 2 (seconds), got 1"),
    ({"trials": 1, "grace": 0.5}, "grace=: expected an integer ≥ 2 (seconds), got 0.5"),
]


@pytest.mark.parametrize(("arguments", "said"), OPTIMIZE, ids=[str(a) for a, _ in OPTIMIZE])
def test_optimize_refuses_bad_arguments_before_creating_anything(in_tmp: Path, arguments: dict, said: str) -> None:
    with pytest.raises(ValueError) as caught:
        search.optimize(SPACE, storage="studies/args.journal", **arguments)
    assert str(caught.value) == f"optimize: {said}"
    assert not Path("studies").exists(), "a study was made for arguments that are refused"


REFIT = [
    ({"epochs": 10**20}, "epochs=: expected an integer from 1 to 100000, got 100000000000000000000"),
    ({"epochs": 0}, "epochs=: expected an integer from 1 to 100000, got 0"),
    ({"epochs": math.nan}, "epochs=: expected an integer from 1 to 100000, got nan"),
    ({"epochs": 2, "latent": [64, 0]}, "latent=: expected an integer ≥ 1, got 0"),
    ({"epochs": 2, "trials": ["0"]}, "trials=: expected an integer ≥ 0, got '0'"),
    ({"epochs": 2, "trials": [-1]}, "trials=: expected an integer ≥ 0, got -1"),
    ({"epochs": 2, "front": True, "workers": 0}, f"workers=: expected an integer from 1 to {MOST_WORKERS}{PER_CORE}, got 0"),
    ({"epochs": 2, "front": True, "timeout": -1}, "timeout=: expected a number of seconds > 0, or None for no limit, got -1"),
    ({"epochs": 2, "front": True, "deadline": True}, "deadline=: expected a number of seconds > 0, or None for no limit, got True"),
    ({"epochs": 2, "best": True, "within": math.nan}, "within=: expected a fraction from 0 to 1, got nan"),
]


@pytest.mark.parametrize(("arguments", "said"), REFIT, ids=[str(a) for a, _ in REFIT])
def test_refit_refuses_bad_arguments_before_reading_the_parent(in_tmp: Path, arguments: dict, said: str) -> None:
    """The parent's storage does not exist: an argument refused first says so, not "no such database"."""
    with pytest.raises(ValueError) as caught:
        search.refit("parent", storage="sqlite:///studies/parent.db", **arguments)
    assert str(caught.value) == f"refit: {said}"
    assert not Path("studies").exists()


def test_the_command_line_words_them_as_its_flags(in_tmp: Path, capsys) -> None:
    """Where the library is stricter than argparse (the cores a machine has), the command says so in its one line."""
    code = main(["run", str(Path(search.__file__).parents[1] / "spaces" / "tiny.yaml"), "--workers", str(TOO_MANY)])
    assert code == 2
    assert (
        capsys.readouterr().err == f"error: optimize: --workers: expected an integer from 1 to {MOST_WORKERS}{PER_CORE}, got {TOO_MANY}\n"
    )
    assert not Path("studies").exists()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://localhost/x.db"])
def test_a_sqlite_url_without_a_file_is_refused_in_one_line(in_tmp: Path, url: str, capsys) -> None:
    """``sqlite://`` used to say "(AssertionError)"; ``sqlite:///:memory:`` ran a whole study in memory and lost it."""
    said = (
        f"storage={url!r}: expected a database file, as in sqlite:///studies/NAME.db (three slashes, then its path); "
        "a database in memory is lost when the command ends"
    )
    with pytest.raises(StorageError) as caught:
        open_storage(url)
    assert str(caught.value) == said
    with pytest.raises(StorageError) as caught:
        search.optimize(SPACE, trials=1, storage=url)
    assert str(caught.value) == said
    assert main(["best", "--study", "x", "--storage", url]) == 2
    assert capsys.readouterr().err == f"error: {said.replace(f'storage={url!r}', f'--storage {url}')}\n"
    assert list(Path().iterdir()) == []


@pytest.fixture
def unreadable_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CIFAR-10 folder of empty files: reading the images fails (DataError), with no download tried."""
    root = tmp_path / "cifar10" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "batches.meta", "test_batch"):
        (root / name).touch()
    monkeypatch.setenv("CAE_DATA_DIR", str(root.parent))
    monkeypatch.setenv("CAE_CACHE_DIR", str(tmp_path / "cache"))
    return root.parent


def test_an_unreachable_storage_is_refused_before_the_images_are_read(in_tmp: Path, unreadable_images: Path) -> None:
    with pytest.raises(StorageError, match=r"^storage='postgresql://u:\*\*\*@127.0.0.1:1/x': cannot open this storage"):
        search.optimize(SPACE, trials=1, storage="postgresql://u:secret@127.0.0.1:1/x")


def test_a_study_of_other_objectives_is_refused_before_the_images_are_read(in_tmp: Path, unreadable_images: Path) -> None:
    Path("studies").mkdir()
    url = "sqlite:///studies/args.db"
    optuna.create_study(study_name="args", storage=url, directions=["minimize", "minimize"])
    with pytest.raises(StorageError, match=r"^study args in sqlite:///studies/args.db "):
        search.optimize(SPACE, trials=1, storage=url)


def test_a_new_study_is_made_only_once_its_images_are_read(in_tmp: Path, unreadable_images: Path) -> None:
    with pytest.raises(DataError, match="cannot be read"):
        search.optimize(SPACE, trials=1, storage="sqlite:///studies/args.db")
    assert not Path("studies/args.db").exists(), "refused data left an empty database behind"


def test_train_epochs_has_an_upper_bound() -> None:
    assert TrainConfig(epochs=100_000).epochs == 100_000
    with pytest.raises(ValueError, match=r"^TrainConfig.epochs must be an integer from 1 to 100000, got 100001$"):
        TrainConfig(epochs=100_001)


@pytest.mark.parametrize("value", ["100000000000000000000", "100001", "{int: [1, 200000]}"])
def test_a_space_asking_for_too_many_epochs_is_refused_in_one_line(in_tmp: Path, value: str, capsys) -> None:
    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "1", "--set", f"train.epochs={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.epochs: expected an integer from 1 to 100000" in err[0], err
    assert not (in_tmp / "studies").exists()


@pytest.mark.parametrize("target", ["file", "dangling"])
def test_an_artifact_folder_that_is_not_a_folder_is_refused_before_a_study_is_made(in_tmp: Path, target: str, capsys) -> None:
    (in_tmp / "studies" / "tiny").mkdir(parents=True)
    if target == "file":
        (in_tmp / "afile").write_text("not a folder")
    (in_tmp / "studies" / "tiny" / "artifacts").symlink_to(in_tmp / "afile")
    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "1", "--set", "train.epochs=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    what = "a file" if target == "file" else "a link to nothing"
    assert len(err) == 1 and err[0].startswith("error: --artifacts ") and f"is {what}; expected a folder" in err[0], err
    assert not (in_tmp / "studies" / "tiny.db").exists()  # no empty study left behind
