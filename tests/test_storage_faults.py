"""Storage faults (issue 20): a full or read-only disk under the database or the artifact folder, a database
that can only be read, a trial whose worker fell silent, a trial's weights read from another folder.

The disks are real: small tmpfs mounts (``mount -t tmpfs -o size=2m``), which needs root; where mounting
is impossible those tests are skipped, saying so. The runs are in-process through ``search.cli.main`` (the
failing one of the full database in a fresh process); the tests that run studies are in the slow tier.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.cli import main
from search.runtime.liveness import fail_stale_trials
from search.runtime.storage import EXIT_STORAGE, load_study, open_storage
from search.trials.trial_model import load_trial
from tests.conftest import SPACES, run_cli

TINY = str(SPACES / "tiny.yaml")
QUICK = ["--set", "data.subset=300", "--set", "train.epochs=1"]


def _mount(folder: Path, size: str = "2m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {result.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs at ``tmp_path/disk``, unmounted afterwards (the tests fill it to what they leave free).

    Room for a resumed study's six tiny trials with their artifacts once the filler is gone: at 2 MB, draws that
    completed more trials filled the disk again on resume."""
    folder = tmp_path / "disk"
    _mount(folder, "8m")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with one file."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    existing = filler.stat().st_size if filler.exists() else 0
    filler.write_bytes(b"\0" * max(0, existing + stat.f_bavail * stat.f_frsize - leave))
    return filler


def remount_read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def states(url: str, name: str = "tiny") -> list[tuple[int, str, str | None]]:
    study = optuna.load_study(study_name=name, storage=url)
    return [(t.number, t.state.name, t.user_attrs.get("reason")) for t in study.get_trials()]


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.serial  # a small disk filled while a run writes to it
@pytest.mark.slow  # three runs and a fresh process: a minute
def test_a_full_database_disk_stops_the_run_in_one_line_and_loses_nothing(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(small_disk.parent)
    os.symlink(small_disk, small_disk.parent / "studies")  # studies/ (the database and the artifacts) on the small disk
    assert main(["run", TINY, "--trials", "2", *QUICK]) == 0
    url = f"sqlite:///{small_disk}/tiny.db"
    kept = states(url)
    capsys.readouterr()
    filler = fill(small_disk, leave=48 * 1024)
    started = time.monotonic()
    # in a fresh process, as a user sees it: Optuna's heartbeat thread, which also meets the full disk, prints nothing
    result = run_cli("run", TINY, "--trials", "6", "--grace", "2", *QUICK, cwd=small_disk.parent)
    seconds, code = time.monotonic() - started, result.returncode
    line = one_line(result.stderr)
    assert code == EXIT_STORAGE, line
    assert "the database sqlite:///studies/tiny.db: cannot be written (database or disk is full)" in line
    assert "; trial " in line and "finished trials are kept; free space (or make it writable) and run the same command again" in line
    after = states(url)
    assert after[: len(kept)] == kept, "a trial stored before the disk filled changed"
    print(f"full database: exit {code} after {seconds:.1f} s; {line}; stored: {after}")
    filler.unlink()
    assert main(["run", TINY, "--trials", "6", "--grace", "2", *QUICK]) == 0
    finished = [s for s in states(url) if s[1] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6
    for number, state, reason in states(url):
        assert state != "FAIL" or reason, f"trial {number} failed without a reason"


@pytest.mark.serial  # a small disk filled or made read-only under a run
@pytest.mark.slow  # two runs each
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_an_artifact_folder_that_cannot_be_written_fails_the_trial_and_stops_the_run(
    fault: str, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The database elsewhere: the trial that met the artifact folder fails with its reason, and the run says where."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").mkdir()
    os.symlink(small_disk, tmp_path / "studies" / "tiny")  # studies/tiny/artifacts and curves.png on the small disk
    url = f"sqlite:///{tmp_path}/tiny.db"
    assert main(["run", TINY, "--trials", "2", "--storage", url, *QUICK]) == 0
    kept = states(url)
    if fault == "full":
        fill(small_disk, leave=0)
    else:
        remount_read_only(small_disk)
    capsys.readouterr()
    code = main(["run", TINY, "--trials", "4", "--storage", url, *QUICK])
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_STORAGE, line
    problem = "No space left on device" if fault == "full" else "Read-only file system"
    assert f"artifact folder {small_disk.resolve()}/artifacts: cannot be written ({problem}" in line, line
    assert "failed with this reason" in line
    after = states(url)
    assert after[: len(kept)] == kept
    failed = [s for s in after if s[1] == "FAIL"]
    assert len(failed) == 1 and failed[0][2].startswith(f"artifact upload failed ({problem}"), after
    print(f"artifacts {fault}: exit {code}; {line}; stored: {after}")


@pytest.fixture
def read_only_copy(tiny_study: Path, tmp_path: Path) -> Iterator[Path]:
    """A folder whose studies/tiny.db is the session's tiny study on a read-only mount."""
    disk = tmp_path / "ro" / "studies"
    _mount(disk, "8m")
    try:
        with closing(sqlite3.connect(tiny_study / "studies" / "tiny.db")) as source, closing(sqlite3.connect(disk / "tiny.db")) as copy:
            source.backup(copy)
        remount_read_only(disk)
        yield disk.parent
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_database_on_a_read_only_mount_is_read_by_the_commands_that_only_read(
    read_only_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from analysis.latent_vs_error import main as latent_vs_error

    monkeypatch.chdir(read_only_copy)
    assert main(["best", "--study", "tiny"]) == 0, capsys.readouterr().err
    assert "best trial" in capsys.readouterr().out
    assert latent_vs_error(["--study", "tiny", "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "latent_vs_error.md").exists()
    study, _ = load_study("tiny", "sqlite:///studies/tiny.db")
    assert len(study.trials) == 7


def test_load_trial_reads_the_weights_from_the_study_s_record_from_any_folder_and_creates_nothing(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_trial("tiny", storage=f"sqlite:///{tiny_study}/studies/tiny.db")
    assert loaded.trial.state == TrialState.COMPLETE and sum(p.numel() for p in loaded.model.parameters()) > 0
    assert list(elsewhere.iterdir()) == [], "load_trial created files in the current folder"
    recorded = loaded.study.user_attrs["artifact_dir"]
    assert Path(recorded).is_absolute() and Path(recorded) == (tiny_study / "studies" / "tiny" / "artifacts").resolve()


def test_load_trial_says_where_it_looked_when_the_artifact_folder_is_gone(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.runtime.storage import StorageError

    copy = tmp_path / "copy"
    shutil.copytree(tiny_study / "studies", copy / "studies", ignore=shutil.ignore_patterns("artifacts"))
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{copy}/studies/tiny.db")
    study.set_user_attr("artifact_dir", str(copy / "moved"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError, match=f"cannot read its model.pt from {copy / 'moved'}, its artifact folder"):
        load_trial("tiny", storage=f"sqlite:///{copy}/studies/tiny.db")
    assert not (tmp_path / "studies").exists() and not (copy / "moved").exists()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_trial_failed_for_its_worker_s_silence_says_so(kind: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db" if kind == "sqlite" else str(tmp_path / "s.journal")
    storage = open_storage(url, grace=1)
    study = optuna.create_study(storage=storage, study_name="s")
    silent = study.ask()
    silent.set_user_attr("worker", "host:4242")
    if kind == "sqlite":
        storage.record_heartbeat(silent._trial_id)  # what Optuna's heartbeat thread writes while a trial runs
    time.sleep(2.2)  # beyond the grace second even where the database keeps times in whole seconds (SQLite)
    fail_stale_trials(study, grace=1)
    trial = study.get_trials()[silent.number]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["reason"].startswith("its worker host:4242 stopped beating for over 1 s"), trial.user_attrs
    assert [t.system_attrs.get("failed_trial") for t in study.get_trials()][-1] == silent.number  # and it is retried


KILLED_WRITER = """
import os, sys
import optuna
from search.runtime.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.create_study(study_name="w", storage=open_storage(sys.argv[1]))
for value in range(5):
    study.tell(study.ask(), float(value))
os.kill(os.getpid(), 9)  # before SQLite merges its write-ahead log into the database, as a crash or a power cut leaves it
"""


@pytest.mark.serial  # a process killed on a disk then made read-only
@pytest.mark.slow  # a fresh process and a mount
def test_a_database_whose_writer_was_killed_is_read_whole_from_a_read_only_mount(tmp_path: Path) -> None:
    """The killed writer's commits are in ``w.db-wal``: the read-only reader used to open the database immutable,
    which ignores that log, and found no study at all (or, past a checkpoint, silently an older one)."""
    disk = tmp_path / "disk"
    _mount(disk)
    try:
        url = f"sqlite:///{disk}/w.db"
        killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, url], capture_output=True, text=True, cwd=Path(__file__).parents[1])
        assert killed.returncode == -9, killed.stderr
        assert (disk / "w.db-wal").stat().st_size > 0, "the test needs commits left in the log"
        remount_read_only(disk)
        study, _ = load_study("w", url)
        assert [t.value for t in study.trials] == [0.0, 1.0, 2.0, 3.0, 4.0]
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
