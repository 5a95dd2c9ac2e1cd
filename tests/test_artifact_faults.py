"""Artifacts checked when read (issue 32, item 7): a damaged ``model.pt`` and an unusable ``--out`` get one line.

A ``model.pt`` cut short, zeroed in place, replaced by something that is no checkpoint, by another
network's checkpoint or by NaN weights used to raise ``RuntimeError`` or ``KeyError`` from deep inside
torch under every analysis that reads weights (a traceback, exit 1), and ``search.load_trial`` raised
them too. Now each is refused with one line naming the file and what to do, exit 2, and the study is
left as it was. An ``--out`` that is a file, or under one, or cannot be written, is refused before any
computing; ``load_trial`` checks that its ``trial`` is a trial number and its study name a name.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import torch
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

import search
from cae.builder import build
from cae.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cae.spec import Architecture, widen
from search.runtime.storage import StorageError
from search.space import SpaceError
from search.trials.trial_model import load_trial
from tests.test_bad_input import stored

# every analysis that reads a trial's weights
READERS = ("evaluate", "activations", "probe", "latent_space", "transfer")


def _saved(content: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(content, buffer)
    return buffer.getvalue()


def zeroed(good: bytes) -> bytes:
    return bytes(len(good))  # the same size: a disk block gone, a copy that failed


def truncated(good: bytes) -> bytes:
    return good[: len(good) // 2]


def not_a_checkpoint(good: bytes) -> bytes:
    return _saved({"weights": torch.zeros(3)})  # a real torch file, without the checkpoint's keys (KeyError before)


def damaged_inside(good: bytes) -> bytes:
    damaged = bytearray(good)
    middle = len(damaged) // 2
    damaged[middle : middle + 32] = bytes(32)  # a zip whose directory is whole: torch's reader checks no CRC
    return bytes(damaged)


def nan_weights(good: bytes) -> bytes:
    stored_ = torch.load(io.BytesIO(good), weights_only=True)
    stored_["state_dict"] = {k: v * float("nan") if v.is_floating_point() else v for k, v in stored_["state_dict"].items()}
    return _saved(stored_)


def other_network(good: bytes) -> bytes:
    arch = Architecture.from_dict(torch.load(io.BytesIO(good), weights_only=True)["architecture"])
    buffer = io.BytesIO()
    save_checkpoint(build(widen(arch, 2)), buffer)  # a sound checkpoint of the wrong model
    return buffer.getvalue()


FAULTS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "zeroed": (zeroed, "is not a whole checkpoint: not the zip archive torch.save writes"),
    "truncated": (truncated, "is not a whole checkpoint: not the zip archive torch.save writes"),
    "not-a-checkpoint": (not_a_checkpoint, "is not a checkpoint of this project: expected a dict of an 'architecture' and a 'state_dict'"),
    "damaged-inside": (damaged_inside, "is damaged: its entry "),
    "nan-weights": (nan_weights, "holds non-finite weights (NaN or infinite: "),
    "other-network": (other_network, "holds another network than expected"),
}


@pytest.fixture
def copied_study(tiny_study: Path, tmp_path: Path) -> Path:
    """A private copy of the session's tiny study (its database and artifacts), its record pointed at the copied artifacts."""
    folder = tmp_path / "copy"
    shutil.copytree(tiny_study / "studies", folder / "studies", ignore=shutil.ignore_patterns("analysis"))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder}/studies/tiny.db")
    study.set_user_attr("artifact_dir", str((folder / "studies" / "tiny" / "artifacts").resolve()))
    return folder


def weights_file(folder: Path, number: int | None = None) -> tuple[int, Path]:
    """The number of the study's best trial (or ``number``) and the file of its ``model.pt``."""
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder}/studies/tiny.db")
    trial = study.best_trial if number is None else study.trials[number]
    meta = next(m for m in get_all_artifact_meta(trial, storage=study._storage) if m.filename == "model.pt")
    return trial.number, Path(study.user_attrs["artifact_dir"]) / meta.artifact_id


def spoil(folder: Path, fault: str, number: int | None = None) -> tuple[int, Path]:
    number, path = weights_file(folder, number)
    path.write_bytes(FAULTS[fault][0](path.read_bytes()))
    return number, path


@pytest.mark.parametrize("fault", ["zeroed", "truncated", "not-a-checkpoint"])
@pytest.mark.parametrize("module", READERS)
def test_a_damaged_model_file_under_each_analysis_is_one_line_and_exit_2(
    module: str, fault: str, copied_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    number, path = spoil(copied_study, fault)
    monkeypatch.chdir(copied_study)
    before = stored(copied_study)
    out = tmp_path / "out"
    code = importlib.import_module(f"analysis.{module}").main(["--study", "tiny", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "Traceback" not in captured.out + captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: trial {number} of study tiny: its model.pt ({path}) ")
    assert FAULTS[fault][1] in captured.err
    assert f"restore the file, or train trial {number}'s design again by a refit (search.refit, or python -m search refit, 2 epochs)" in (
        captured.err
    )  # what to do about it
    assert not out.exists() or not any(out.iterdir())
    assert stored(copied_study) == before


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_load_trial_raises_storage_error_naming_the_file(fault: str, copied_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    number, path = spoil(copied_study, fault)
    monkeypatch.chdir(copied_study)
    with pytest.raises(StorageError) as raised:
        load_trial("tiny", trial=number)
    assert str(raised.value).startswith(f"trial {number} of study tiny: its model.pt ({path}) {FAULTS[fault][1]}"), raised.value
    assert "\n" not in str(raised.value)


def test_load_checkpoint_refuses_what_it_cannot_trust(copied_study: Path, tmp_path: Path) -> None:
    _, path = weights_file(copied_study)
    good = load_checkpoint(path)
    assert load_checkpoint(path, expected=good.arch).arch == good.arch
    for fault, (make, says) in FAULTS.items():
        spoiled = tmp_path / f"{fault}.pt"
        spoiled.write_bytes(make(path.read_bytes()))
        with pytest.raises(CheckpointError, match=r"^" + str(spoiled).replace(".", r"\.") + ": ") as raised:
            load_checkpoint(spoiled, expected=good.arch)
        assert says in raised.value.problem, fault
    with pytest.raises(CheckpointError, match="is not a whole checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_load_trial_checks_its_arguments(tiny_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_study)
    with pytest.raises(TypeError, match=r"^trial='0': expected a trial number \(an int ≥ 0\) or None, got a str$"):
        search.load_trial("tiny", trial="0")
    with pytest.raises(TypeError, match=r"^trial=1\.0: "):
        search.load_trial("tiny", trial=1.0)
    with pytest.raises(TypeError, match=r"^trial=True: "):
        search.load_trial("tiny", trial=True)
    with pytest.raises(ValueError, match=r"^trial=-1: expected a trial number ≥ 0$"):
        search.load_trial("tiny", trial=-1)
    for name in ("../../etc/passwd", "a/b", ""):
        with pytest.raises(SpaceError, match=r"study_name=: expected a name of letters, digits"):
            search.load_trial(name)
    assert not (tiny_study / "etc").exists() and not (tiny_study / "studies" / "a").exists()
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    complete = next(t.number for t in study.trials if t.state == TrialState.COMPLETE)
    import numpy as np

    assert search.load_trial("tiny", trial=np.int64(complete)).trial.number == complete  # numpy's integers are trial numbers


# ---------------------------------------------------------------- --out


def a_file(tmp: Path) -> Path:
    (tmp / "afile").write_text("x")
    return tmp / "afile"


def a_dangling_link(tmp: Path) -> Path:
    (tmp / "link").symlink_to(tmp / "nothing")
    return tmp / "link"


OUTS = {
    "a-file": (a_file, "is a file, expected a folder", 2),
    "under-a-file": (lambda tmp: a_file(tmp) / "sub", "cannot be made: TMP/afile is a file, expected a folder", 2),
    "dangling-link": (a_dangling_link, "is a link to nothing, expected a folder", 2),
    "unwritable": (lambda tmp: Path("/proc/cae-out"), "/proc, where it would be made, cannot be written (", 3),  # even as root
}


@pytest.mark.parametrize("case", sorted(OUTS))
def test_an_unusable_out_is_refused_before_any_computing(
    case: str, copied_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import analysis.evaluate

    make, says, code = OUTS[case]
    out = make(tmp_path)
    monkeypatch.chdir(copied_study)

    def no_computing(*args, **kwargs):
        raise AssertionError("computed before --out was checked")

    monkeypatch.setattr(analysis.evaluate, "compute", no_computing)
    assert analysis.evaluate.main(["--study", "tiny", "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: {says.replace('TMP', str(tmp_path))}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "nothing").exists()


def test_a_full_disk_while_writing_is_one_line_and_exit_3(
    copied_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import analysis.latent_vs_error

    def full(result, out):
        (out / "latent_vs_error.csv").write_text("partial")
        raise OSError(errno.ENOSPC, "No space left on device")  # as PIL's and matplotlib's writes raise it: no file named

    monkeypatch.chdir(copied_study)
    monkeypatch.setattr(analysis.latent_vs_error, "render", full)
    out = tmp_path / "out"
    assert analysis.latent_vs_error.main(["--study", "tiny", "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert err == f"error: --out {out}: writing its files failed (No space left on device)\n"


@pytest.mark.parametrize("kind", ["a device", "a FIFO", "a folder"])
def test_a_model_file_that_is_no_file_is_refused_not_copied_forever(kind: str, copied_study: Path, monkeypatch, capsys) -> None:
    import signal

    import analysis.evaluate

    number, path = weights_file(copied_study)
    path.unlink()
    if kind == "a device":
        path.symlink_to("/dev/zero")  # copied to a temporary file, endless zeros would fill its disk
    elif kind == "a FIFO":
        os.mkfifo(path)  # opened for reading, it waits for a writer forever
    else:
        path.mkdir()
    monkeypatch.chdir(copied_study)

    def hung(*_args):
        raise KeyboardInterrupt  # exit 130 instead of the refusal: the test fails, and does not hang

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(3)  # the refusal takes milliseconds; the old copy of /dev/zero wrote about 1 GB a second
    try:
        code = analysis.evaluate.main(["--study", "tiny", "--out", str(copied_study / "out")])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: trial {number} of study tiny: its model.pt ({path}) is {kind}, not a file; restore the file, or ")
    assert err.count("\n") == 1
