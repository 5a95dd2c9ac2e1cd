"""Commands in fresh processes, timed, with their peak memory: what the memory and scaling benchmarks run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import ROOT


@dataclass(frozen=True)
class Run:
    command: list[str]
    exit_code: int
    seconds: float
    peak_rss_mib: float
    output_tail: str


def run_measured(command: list[str], *, cwd: Path, timeout: float | None = None) -> Run:
    """``command`` run in ``cwd`` (the project importable, as from its root), its wall time and peak RSS."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._peak", *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - start
    found = re.findall(r"peak_rss_kib=(\d+) exit=(-?\d+)", done.stdout)
    if not found:
        raise RuntimeError(f"{' '.join(command)}: no peak memory reported ({done.stderr.strip()[-500:]})")
    kib, code = found[-1]
    return Run(command, int(code), seconds, int(kib) / 1024, (done.stdout + done.stderr)[-2000:])


def search_run(space: Path | str, *args: str) -> list[str]:
    """``python -m search run SPACE ARGS`` as an argument list."""
    return [sys.executable, "-m", "search", "run", str(space), *args]
