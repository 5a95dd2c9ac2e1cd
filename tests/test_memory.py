"""Memory does not grow across trials: a study's worker can run for days."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SPACES

pytestmark = pytest.mark.slow  # 50 trials in one process: minutes; the slow tier (pytest -m slow) and CI run it

# One process runs 5 tiny trials, notes its resident memory, runs 45 more and notes it again.
SCRIPT = """
import json, os, sys
from search.run import optimize

def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

args = dict(overrides=["data.subset=300", "train.epochs=1"])
rss_after = {}
for trials in (5, 50):
    optimize(sys.argv[1], trials=trials, **args)
    rss_after[trials] = rss()
print(json.dumps(rss_after))
"""


def test_rss_after_50_trials_is_within_10_percent_of_rss_after_5(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(SPACES / "tiny.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.returncode == 0, done.stderr
    rss = {int(k): v for k, v in json.loads(done.stdout.splitlines()[-1]).items()}
    print(f"RSS after 5 trials {rss[5] / 2**20:.0f} MiB, after 50 {rss[50] / 2**20:.0f} MiB ({rss[50] / rss[5] - 1:+.1%})")
    assert rss[50] <= 1.10 * rss[5]
