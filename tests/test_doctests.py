"""Docstring examples are tests: every ``>>>`` in cae, search and analysis runs and prints what it shows.

An example that needs a study on disk or a variable it never defines is not an example a user can
run: write it as a ``::`` literal block instead, and keep ``>>>`` for the ones that run.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("cae", "search", "analysis")


def _modules_with_examples() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name != "__main__.py" and ">>>" in path.read_text():  # importing a __main__ would run its command
                parts = path.relative_to(ROOT).with_suffix("").parts
                found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


# Examples that did not run when this test was written, each with its owner's file: remove a line when its
# example runs (strict: a fixed example fails here until its line goes).
NOT_YET = {}


def _params() -> list:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[name])) if name in NOT_YET else name
        for name in _modules_with_examples()
    ]


def run_examples(module_name: str) -> tuple[doctest.TestResults, str]:
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, module_name):
        runner.run(test, out=report.write)
    return doctest.TestResults(runner.failures, runner.tries), report.getvalue()


@pytest.mark.parametrize("module_name", _params())
def test_docstring_examples_run(module_name: str, in_tmp: Path) -> None:
    results, report = run_examples(module_name)
    assert results.attempted > 0
    assert results.failed == 0, report


def test_the_entry_points_have_examples() -> None:
    # The package root is where a notebook starts: its docstring shows the API, and that example runs.
    assert "search" in _modules_with_examples()
    assert "search.space.load" in _modules_with_examples()  # space_from_dict's own


def test_not_yet_lists_only_modules_with_examples() -> None:
    # An entry whose module lost its examples (rewritten as literal blocks) goes too.
    assert set(NOT_YET) <= set(_modules_with_examples())
