"""Journal files cut short (issue 32, item 1): a write stopped by a full disk, a killed process or a power cut leaves
the torn start of a record at the file's end. Optuna reads past it, but its next append is glued to it, and from
then on the file cannot be read: the study is lost. Opening cuts the torn bytes back to the last whole record and
says so in one line; every append checks the file's end first, and a write that fails is cut back.

The journals are real: a study of spaces/tiny.yaml run into one (module fixture), cut at chosen bytes. What the cut
file should hold is what Optuna itself reads from its whole records alone. The full disk is a real 16 KB tmpfs
(root only; the test says so and is skipped elsewhere), in the slow tier.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage

from search.cli import main
from search.runtime.journal import JournalRepaired
from search.runtime.storage import EXIT_STORAGE, StorageError, open_storage
from tests.conftest import SPACES, run_cli

TINY = str(SPACES / "tiny.yaml")
QUICK = ["--set", "data.subset=300", "--set", "train.epochs=1"]


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``studies/tiny.journal``: three finished trials of spaces/tiny.yaml on 300 images (its bytes are only read)."""
    folder = tmp_path_factory.mktemp("journal")
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert main(["run", TINY, "--trials", "3", "--storage", "studies/tiny.journal", *QUICK]) == 0
    finally:
        os.chdir(old)
    return folder / "studies" / "tiny.journal"


def plain_states(path: Path) -> list[tuple[int, str, tuple[float, ...] | None]]:
    """The trials Optuna's own journal reader finds in ``path`` (number, state, values)."""
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.load_study(study_name="tiny", storage=storage)
    return [(t.number, t.state.name, tuple(t.values) if t.values else None) for t in study.get_trials()]


def states(storage: optuna.storages.BaseStorage) -> list[tuple[int, str, tuple[float, ...] | None]]:
    study = optuna.load_study(study_name="tiny", storage=storage)
    return [(t.number, t.state.name, tuple(t.values) if t.values else None) for t in study.get_trials()]


def line_ends(data: bytes) -> list[int]:
    """The byte after each record's newline."""
    return [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]


def completions(data: bytes) -> dict[int, tuple[int, int, tuple[float, ...]]]:
    """Each completed trial's number: where its completing record (op_code 6, state 1) starts and ends, and its values."""
    found, start = {}, 0
    for end in line_ends(data):
        record = json.loads(data[start:end])
        if record["op_code"] == 6 and record["state"] == 1:
            found[record["trial_id"]] = (start, end, tuple(record["values"]))
        start = end
    return found


def cut_at(data: bytes, where: str) -> tuple[bytes, int]:
    """The journal's bytes cut as ``where`` says, and the offset its whole records end at."""
    ends = line_ends(data)
    start = completions(data)[1][0]
    cuts = {
        "inside-the-last-record": (ends[-2] + (ends[-1] - ends[-2]) // 2, ends[-2]),
        "one-byte-into-the-last-record": (ends[-2] + 1, ends[-2]),
        "all-but-the-newline": (ends[-1] - 1, ends[-2]),
        "inside-the-record-completing-trial-1": (start + 30, start),
    }
    if where == "zeros-after-the-last-record":  # what a power cut leaves: the size grew, the data never came
        return data + b"\0" * 4096, len(data)
    if where == "inside-a-record-then-zeros":
        return data[: ends[-2] + 17] + b"\0" * 300, ends[-2]
    cut, whole = cuts[where]
    return data[:cut], whole


# Each cut, and the completed trials it keeps of the three.
KEPT = {
    "inside-the-last-record": 2,
    "one-byte-into-the-last-record": 2,
    "all-but-the-newline": 2,
    "inside-the-record-completing-trial-1": 1,
    "zeros-after-the-last-record": 3,
    "inside-a-record-then-zeros": 2,
}
CUTS = list(KEPT)


@pytest.mark.parametrize("where", CUTS)
def test_a_journal_cut_short_is_cut_back_to_its_last_whole_record_and_says_so(journal: Path, tmp_path: Path, where: str) -> None:
    data = journal.read_bytes()
    torn, whole = cut_at(data, where)
    path = tmp_path / "tiny.journal"
    path.write_bytes(torn)
    expected = tmp_path / "expected.journal"
    expected.write_bytes(data[:whole])
    said: list[str] = []
    storage = open_storage(str(path), report=said.append)
    assert path.read_bytes() == data[:whole], "not cut back to the last whole record"
    records = len(line_ends(data[:whole]))
    assert said == [
        f"{path}: its last record was cut short ({len(torn) - whole:,} bytes, a write stopped by a full disk or a crash); "
        f"cut back to the {records:,} whole records before it"
    ]
    assert states(storage) == plain_states(expected)
    # every trial whose completing record lies before the cut is complete, with its values; none after it is
    completed = {number: values for number, (start, end, values) in completions(data).items() if end <= whole}
    assert {n: v for n, state, v in states(storage) if state == "COMPLETE"} == completed
    assert len(completed) == KEPT[where]  # the journal's last record completes its last trial (2)
    # what was cut is never appended to: a write through the storage lands after the last whole record
    optuna.load_study(study_name="tiny", storage=storage).set_user_attr("after", where)
    assert plain_states(path) == plain_states(expected)
    assert json.loads(path.read_bytes().splitlines()[-1])["user_attr"] == {"after": where}


def test_a_journal_appended_to_after_a_torn_write_is_mended(journal: Path, tmp_path: Path) -> None:
    """What an earlier version (or any other Optuna program) left: a torn record with the next record glued to it.
    Optuna itself cannot read such a file; opening removes the torn bytes and keeps the record after them."""
    data = journal.read_bytes()
    torn, whole = cut_at(data, "inside-the-record-completing-trial-1")
    path = tmp_path / "tiny.journal"
    path.write_bytes(torn)
    JournalFileBackend(str(path)).append_logs([{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"glued": 1}}])
    JournalFileBackend(str(path)).append_logs([{"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"next": 2}}])
    with pytest.raises(ValueError):
        plain_states(path)  # the damage this prevents: Optuna's reader fails on the glued line
    said: list[str] = []
    storage = open_storage(str(path), report=said.append)
    assert len(said) == 1 and said[0].startswith(f"{path}: removed the torn start of a record"), said
    assert f"({whole:,}" not in said[0] and f"byte {whole:,}, {len(torn) - whole:,} bytes" in said[0], said
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert study.user_attrs["glued"] == 1 and study.user_attrs["next"] == 2
    assert [s[:2] for s in states(storage)][:2] == [(0, "COMPLETE"), (1, "RUNNING")]
    assert path.read_bytes() == data[:whole] + b"".join(
        json.dumps(r, separators=(",", ":")).encode() + b"\n"
        for r in (
            {"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"glued": 1}},
            {"op_code": 2, "worker_id": "w", "study_id": 0, "user_attr": {"next": 2}},
        )
    )


def test_an_append_after_another_process_tore_the_end_cuts_it_off_first(journal: Path, tmp_path: Path) -> None:
    """A worker killed mid-write while another keeps running: the live one's next write does not glue onto the torn bytes."""
    path = tmp_path / "tiny.journal"
    shutil.copy(journal, path)
    said: list[str] = []
    storage = open_storage(str(path), report=said.append)
    whole = path.stat().st_size
    with path.open("ab") as file:
        file.write(b'{"op_code":5,"worker_id":"killed","trial_id":')
    optuna.load_study(study_name="tiny", storage=storage).set_user_attr("after", 1)
    assert said == [f"{path}: its last record was cut short (45 bytes, a write stopped by a crash): cut off first"]
    assert path.read_bytes()[:whole] == journal.read_bytes() and path.read_bytes().endswith(b'"user_attr":{"after":1}}\n')
    assert plain_states(path) == plain_states(journal)


def test_a_write_the_file_system_cuts_short_is_cut_back(journal: Path, tmp_path: Path) -> None:
    """A write refused part way (here the file-size limit, EFBIG, as a full disk refuses with ENOSPC) leaves the file
    as it was before it: the next command finds no torn record to cut."""
    path = tmp_path / "tiny.journal"
    shutil.copy(journal, path)
    storage = open_storage(str(path))
    study = optuna.load_study(study_name="tiny", storage=storage)
    size = path.stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))
    try:
        with pytest.raises(Exception) as caught:
            study.set_user_attr("big", "x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert "File too large" in str(caught.value) or "EFBIG" in repr(caught.value), caught.value
    assert path.stat().st_size == size, "the failed write left bytes behind"
    study.set_user_attr("small", 1)
    assert optuna.load_study(study_name="tiny", storage=JournalStorage(JournalFileBackend(str(path)))).user_attrs["small"] == 1


def test_a_whole_record_stays_when_its_writer_is_interrupted_after_writing_it(
    journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C between a record's write and its fsync: another process may have read the record already and keeps its
    offset, so the record stays (cutting it shifted every later record under that reader: seen as a JSONDecodeError)."""
    import search.runtime.journal

    path = tmp_path / "tiny.journal"
    shutil.copy(journal, path)
    writer = optuna.load_study(study_name="tiny", storage=open_storage(str(path)))
    reader = optuna.load_study(study_name="tiny", storage=open_storage(str(path)))

    def interrupted(descriptor: int) -> None:
        assert reader.user_attrs["a"] == 1  # another worker reads the record meanwhile
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(search.runtime.journal.os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            writer.set_user_attr("a", 1)
    writer.set_user_attr("b", "a longer value than the first record's")
    assert reader.user_attrs["a"] == 1 and reader.user_attrs["b"] == "a longer value than the first record's"
    assert plain_states(path) == plain_states(journal)


def test_a_file_that_is_no_journal_is_refused_and_left_as_it_is(journal: Path, tmp_path: Path) -> None:
    """A SQLite database or a space file given as a journal path: refused in one line, never cut (none ends with a newline)."""
    database = tmp_path / "tiny.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table t (x)")
    connection.close()
    space = tmp_path / "space.yaml"
    space.write_bytes(Path(TINY).read_bytes().rstrip(b"\n"))
    damaged = tmp_path / "damaged.journal"
    data = journal.read_bytes()
    ends = line_ends(data)
    damaged.write_bytes(data[: ends[3]] + b"not a record\n" + data[ends[3] :])
    for path, problem in [
        (database, f"is a SQLite database, not a journal file: give it as sqlite:///{database}"),
        (space, f"is not an Optuna journal file (it starts {space.read_text()[:40]!r}); it is left as it is"),
        (damaged, f"line 5 (byte {ends[3]:,}) is not an Optuna journal record (it starts 'not a record'); the file is left as it is"),
    ]:
        before = path.read_bytes()
        with pytest.raises(StorageError) as caught:
            open_storage(str(path))
        assert str(caught.value).startswith(f"storage={str(path)!r}: {problem}"), caught.value
        assert path.read_bytes() == before


def test_a_library_call_gets_a_warning_and_a_run_prints_one_line(journal: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    path = tmp_path / "studies" / "tiny.journal"
    path.parent.mkdir()
    torn, whole = cut_at(journal.read_bytes(), "inside-the-last-record")
    path.write_bytes(torn)
    with pytest.warns(JournalRepaired, match="its last record was cut short"):  # the library's default: a warning
        open_storage(str(path))
    path.write_bytes(torn)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["run", TINY, "--trials", "4", "--grace", "2", "--storage", "studies/tiny.journal", *QUICK]) == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if "cut short" in line]
    assert lines == [
        f"warning: studies/tiny.journal: its last record was cut short ({len(torn) - whole:,} bytes, "
        f"a write stopped by a full disk or a crash); cut back to the {len(line_ends(torn)):,} whole records before it"
    ], out
    assert "Traceback" not in err
    finished = [s for s in plain_states(path) if s[1] in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4  # and Optuna's own reader reads every line the resumed run appended


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """The issue's 16 KB tmpfs, unmounted afterwards."""
    folder = tmp_path / "small"
    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(folder)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.serial  # a disk filled by the run itself
@pytest.mark.slow  # three runs in fresh processes: a minute
def test_a_journal_on_a_full_disk_resumes_once_there_is_room(small_disk: Path, tmp_path: Path) -> None:
    """The issue's probe as a user types it: exit 3 on the full disk, then (room made) the same command completes the study."""
    url = str(small_disk / "j.journal")
    command = ["run", TINY, "--study", "j", "--storage", url, "--trials", "4", "--grace", "2", "--set", "train.epochs=1"]
    full = run_cli(*command, cwd=tmp_path)
    assert full.returncode == EXIT_STORAGE, full.stderr
    assert "cannot be written (No space left on device)" in full.stderr and "Traceback" not in full.stderr
    data = (small_disk / "j.journal").read_bytes()
    assert data.endswith(b"\n"), "the refused write left a torn record"
    kept = [s for s in JournalStorage(JournalFileBackend(url)).get_all_studies()]
    assert [s.study_name for s in kept] == ["j"]
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
    again = run_cli(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    study = optuna.load_study(study_name="j", storage=JournalStorage(JournalFileBackend(url)))
    assert len([t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]) == 4
    best = run_cli("best", "--study", "j", "--storage", url, cwd=tmp_path)
    assert best.returncode == 0 and "best trial" in best.stdout, best.stderr


def test_search_best_says_a_repair_in_one_line_of_its_own(journal: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "cut.journal"
    torn, _ = cut_at(journal.read_bytes(), "inside-the-last-record")
    path.write_bytes(torn)
    capsys.readouterr()
    main(["best", "--study", "tiny", "--storage", str(path)])
    err = capsys.readouterr().err
    repaired = [line for line in err.splitlines() if "cut short" in line]
    assert len(repaired) == 1 and repaired[0].startswith("warning: ") and "--storage" not in repaired[0], err
    assert "JournalRepaired" not in err and "warnings.warn" not in err  # not Python's two-line warning
