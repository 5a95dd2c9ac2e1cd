"""Optuna's journal file, repaired or refused when it is opened, and never appended to after a torn record.

Optuna writes each record as one JSON line and, reading, skips a last line that lacks its newline: the
mark of a write cut short (a full disk, a killed process, a power cut). Its next append, though, goes on
after the torn bytes, and the line the two make is no record: from then on every read of the file fails,
and the study is lost (issue 32). Here:

- on open (:func:`open_journal`), torn bytes after the last whole record (the start of a record, or the
  zeros a power cut leaves) are cut off under the journal's lock, and one :class:`JournalRepaired`
  message says so;
- torn bytes in front of a whole record (a journal appended to after a torn write, by an older version of
  this project or by another Optuna program) are removed: whoever wrote the records after them read the
  journal without them, since Optuna skips a torn last line;
- any other line that is not a record (a file that is no journal, a damaged one) is refused by
  :class:`JournalDamaged`, naming the line and its byte, and the file is left as it is;
- every append (:class:`GuardedJournalFile`) checks under the lock that the file ends with a whole record,
  and a write that fails part way (a full disk, Ctrl-C) is cut back to its last whole record.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage

# How Optuna writes every record (json.dumps of {"op_code": ..., ...} with separators (",", ":")).
RECORD_START = b'{"op_code":'
_CHUNK = 1 << 16


class JournalRepaired(UserWarning):
    """A journal file held the torn bytes of a write cut short, and they were cut off: its records are as they were before it."""


class JournalDamaged(ValueError):
    """A journal file holds a line that is neither a record nor the torn start of one; it is left as it is."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.problem = problem


Report = Callable[[str], None]


def warn(message: str) -> None:
    """The library's default report of a repair: a :class:`JournalRepaired` warning for the caller."""
    warnings.warn(JournalRepaired(message), stacklevel=2)


def is_torn(fragment: bytes) -> bool:
    """Whether ``fragment`` is what a write cut short leaves: the start of a record, zeros, or the one before the other."""
    head = fragment.rstrip(b"\0")
    return head.startswith(RECORD_START) or RECORD_START.startswith(head)


def _whole(line: bytes) -> bool:
    if not line.startswith(RECORD_START):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return False


def _mended(line: bytes) -> bytes | None:
    """``line`` without the torn bytes in front of its one whole record, or ``None`` where it is not that."""
    start = line.find(RECORD_START, 1)
    while start > 0:
        if is_torn(line[:start]) and _whole(line[start:]):
            return line[start:]
        start = line.find(RECORD_START, start + 1)
    return None


@dataclass
class _Scan:
    """What reading a journal found: its records' lines, the torn bytes to remove, and where the whole ones end."""

    records: int = 0
    end: int = 0  # the byte after the last whole record: where the next append starts
    tail: int = 0  # torn bytes after ``end``
    mends: list[tuple[int, int, int]] | None = None  # (line number, its byte, torn bytes removed in front of its record)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as file:
        offset = 0
        for line in file:
            yield offset, line
            offset += len(line)


def _scan(path: Path, parse: bool = False) -> _Scan:
    """Read the whole journal; :class:`JournalDamaged` at the first line that is neither a record nor a torn one.

    A line that starts as a record and holds no second record start is taken as whole unless ``parse``: Optuna
    parses every line as it reads, and a second parse here would double the time every command takes to open.
    """
    scan = _Scan(mends=[])
    for number, (offset, line) in enumerate(_lines(path), start=1):
        if not line.endswith(b"\n"):  # the last line: a write cut short, or bytes that are no journal's
            if not is_torn(line):
                raise _not_a_record(path, number, offset, line)
            scan.tail = len(line)
            break
        scan.end = offset + len(line)
        scan.records += 1
        if not parse and line.startswith(RECORD_START) and line.find(RECORD_START, 1) < 0:
            continue
        if _whole(line):
            continue
        mended = _mended(line)
        if mended is None:
            raise _not_a_record(path, number, offset, line)
        scan.mends.append((number, offset, len(line) - len(mended)))
    return scan


def _not_a_record(path: Path, number: int, offset: int, line: bytes) -> JournalDamaged:
    if number == 1 and line.startswith(b"SQLite format 3\0"):
        return JournalDamaged(path, f"is a SQLite database, not a journal file: give it as sqlite:///{path}")
    if number == 1:
        return JournalDamaged(path, f"is not an Optuna journal file ({_shown(line)}); it is left as it is")
    return JournalDamaged(
        path,
        f"line {number} (byte {offset:,}) is not an Optuna journal record ({_shown(line)}); the file is left as it is: "
        "restore it from a copy, or give the study another storage",
    )


def _shown(line: bytes) -> str:
    text = line[:40].decode("utf-8", "replace").rstrip("\n")
    return f"it starts {text!r}" if text.strip("\0") else f"{len(line):,} zero bytes"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The journal's lock as Optuna takes it for every append (so no write is cut by our repair)."""
    lock = JournalFileOpenLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _rewrite(path: Path, mends: list[tuple[int, int, int]]) -> None:
    """The journal without the torn bytes in front of the mended lines, replacing it in one rename."""
    numbers = {number for number, _, _ in mends}
    temporary = path.with_name(f".{path.name}.mending")
    try:
        with temporary.open("wb") as out:
            for number, (_, line) in enumerate(_lines(path), start=1):
                out.write(_mended(line) or line if number in numbers else line)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, path.stat().st_mode)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def repair(path: Path, report: Report = warn) -> None:
    """Cut a torn write out of the journal at ``path`` (under its lock), reporting what was cut; :class:`JournalDamaged`
    where a line is no record; nothing where the file is whole (reading it takes what Optuna's own reading does)."""
    if not path.exists() or _clean(scan := _scan(path)):
        return
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):  # a read-only mount: Optuna reads past a torn tail
        if scan.mends:
            raise JournalDamaged(
                path,
                f"line {scan.mends[0][0]} holds the torn start of a record in front of a whole one, and the file cannot be "
                "written here to remove it: make it writable and run the command again (it is repaired on opening)",
            )
        report(f"{path}: its last record was cut short ({scan.tail:,} bytes); the file cannot be written here, so it is read without them")
        return
    with _locked(path):  # again under the lock: a torn tail seen without it may be a write in progress
        scan = _scan(path)
        if _clean(scan):
            return
        if scan.mends:
            _rewrite(path, scan.mends)
            lines = ", ".join(f"{number} (byte {offset:,}, {torn:,} bytes)" for number, offset, torn in scan.mends)
            report(
                f"{path}: removed the torn start of a record (a write cut short by a full disk or a crash, then written after) "
                f"in front of the whole record of line {lines}; the records after it were written without it"
            )
            scan = _scan(path)
        if scan.tail:
            os.truncate(path, scan.end)
            report(
                f"{path}: its last record was cut short ({scan.tail:,} bytes, a write stopped by a full disk or a crash); "
                f"cut back to the {scan.records:,} whole records before it"
            )


def _clean(scan: _Scan) -> bool:
    return not scan.tail and not scan.mends


class GuardedJournalFile(JournalFileBackend):
    """Optuna's journal file backend whose appends never follow a torn record, and whose failed appends leave none.

    Optuna's append opens the file in append mode and writes; a write cut short leaves its bytes, and the next
    append is glued to them. Here the append, under the same lock, first cuts a torn tail off (another process was
    killed mid-write), then writes; a write that fails part way is cut back to its last whole record, so the file
    ends with a whole record whatever stopped it.
    """

    def __init__(self, file_path: str, report: Report = warn) -> None:
        # The open() lock works on every file system (the default symlink lock does not on some network mounts)
        # and is what Optuna documents for NFS.
        super().__init__(file_path, lock_obj=JournalFileOpenLock(file_path))
        self._report = report

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        self._lock.acquire()
        try:
            descriptor = os.open(self._file_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            with open(descriptor, "r+b", buffering=0) as file:
                end = self._whole_end(file)
                count = 0
                try:
                    while count < len(text):  # a write may take part of the bytes (a disk filling up): the rest follow or fail
                        count += file.write(memoryview(text)[count:])
                    os.fsync(descriptor)
                except BaseException:
                    # Only the torn part is cut: a whole record (a newline written) may have been read by another
                    # process already, which keeps its offset, so it stays even though its writer saw an error.
                    if count < len(text):
                        with contextlib.suppress(OSError):
                            file.truncate(end + text.rfind(b"\n", 0, count) + 1)
                    raise
        finally:
            self._lock.release()

    def _whole_end(self, file: Any) -> int:
        """The byte after the file's last whole record, the torn bytes after it cut off (and reported)."""
        size = file.seek(0, os.SEEK_END)
        position, end = size, 0
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            file.seek(position)
            newline = file.read(step).rfind(b"\n")
            if newline >= 0:
                end = position + newline + 1
                break
        if end == size:
            return end
        file.seek(end)
        torn = file.read(size - end)
        if not is_torn(torn):
            problem = f"ends with bytes that are not an Optuna journal record ({_shown(torn)}); not appended to"
            raise JournalDamaged(self._file_path, problem)
        file.truncate(end)
        self._report(f"{self._file_path}: its last record was cut short ({size - end:,} bytes, a write stopped by a crash): cut off first")
        return end


def open_journal(path: Path, report: Report = warn) -> JournalStorage:
    """Optuna's journal storage on the file at ``path``, repaired first (:func:`repair`); its appends guarded."""
    repair(path, report)
    try:
        return JournalStorage(GuardedJournalFile(str(path), report))
    except ValueError:  # a line that starts as a record but is none (JSONDecodeError): say which
        _scan(path, parse=True)
        raise
