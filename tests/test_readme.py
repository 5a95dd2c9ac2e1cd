"""The README's Python quick start, run as written by a fresh ``python`` in an empty folder, prints what the README says."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
SECTION = re.search(r"^## Quick start: Python$(.*?)^## ", README, re.M | re.S)


def _blocks() -> tuple[str, str]:
    """The section's Python snippet and the output the README shows for it."""
    assert SECTION is not None, "README.md has no section 'Quick start: Python'"
    snippet, printed = re.findall(r"```(?:python)?\n(.*?)```", SECTION.group(1), re.S)[:2]
    return snippet, printed


def _same(token: str, shown: str) -> bool:
    """Words equal; numbers equal within what another machine's float rounding moves a 2-epoch trial by."""
    try:
        a, b = float(token), float(shown)
    except ValueError:
        return token == shown
    return math.isclose(a, b, rel_tol=0.05, abs_tol=0.002)


def test_the_readme_shows_a_snippet_and_its_output() -> None:
    snippet, printed = _blocks()
    assert "search.optimize(" in snippet and "search.trials_table(" in snippet
    assert len(printed.splitlines()) == 5  # the header, three trials, the loaded trial


@pytest.mark.slow
def test_the_python_quick_start_prints_what_the_readme_says(tmp_path: Path) -> None:
    snippet, printed = _blocks()
    (tmp_path / "quickstart.py").write_text(snippet)
    done = subprocess.run(
        [sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the library prints nothing of its own: no log line, no warning
    got, shown = done.stdout.split(), printed.split()
    assert len(got) == len(shown), f"README shows:\n{printed}\nthe snippet printed:\n{done.stdout}"
    assert all(_same(a, b) for a, b in zip(got, shown, strict=True)), f"README shows:\n{printed}\nthe snippet printed:\n{done.stdout}"
    assert (tmp_path / "studies" / "quickstart.db").is_file()
