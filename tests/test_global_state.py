"""Importing the project, and calling an analysis, leaves the process's global settings as they were.

A notebook that imports :mod:`analysis` must keep its inline plots (no ``matplotlib.use``), its
own Optuna log level and its own warning filters; only the command-line entry points may set them.
Each check runs in a fresh interpreter, where nothing has been imported or resolved yet.

The third-party libraries the project imports are imported first, before the settings are read:
several of them (torch, scipy, matplotlib) add warning filters of their own at import, which is
theirs to do and would hide whether the project's modules add any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import optuna
import pytest

from analysis import latent_vs_error

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    r'''
    import ast, importlib, json, pkgutil, sys, warnings
    from pathlib import Path

    ROOT, OURS = Path(sys.argv[1]), ("cae", "search", "analysis")

    def third_party():
        """Every module the project's sources name in an import that is neither the project's nor the standard library's."""
        names = set()
        for package in OURS:
            for path in (ROOT / package).rglob("*.py"):
                for node in ast.walk(ast.parse(path.read_text(), str(path))):
                    if isinstance(node, ast.Import):
                        names.update(alias.name for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names.add(node.module)
                        names.update(f"{node.module}.{alias.name}" for alias in node.names)  # the name may be a module
        top = lambda name: name.split(".")[0]
        return sorted(n for n in names if top(n) not in (*OURS, "__future__") and top(n) not in sys.stdlib_module_names)

    for name in third_party():
        try:
            importlib.import_module(name)
        except ImportError:  # a name imported from a module, not a module; or an optional package (umap)
            pass

    import matplotlib, optuna

    def state():
        rc = matplotlib.rcParams
        return {
            "backend": repr(rc._get_backend_or_none()),  # None until something resolves it: a notebook's inline one, later
            "rcParams": {k: repr(rc._get(k)) for k in rc if k != "backend"},
            "optuna verbosity": optuna.logging.get_verbosity(),
            "warning filters": [repr(f) for f in warnings.filters],
        }

    before = state()
    imported = []
    for package in OURS:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":
                importlib.import_module(info.name)
                imported.append(info.name)
    after_import = state()

    called = None
    if len(sys.argv) > 2:  # a study folder: one analysis computed, drawn and written there
        import matplotlib.figure
        import matplotlib.pyplot as plt
        from analysis import latent_vs_error

        result = latent_vs_error.compute("tiny")
        figure = latent_vs_error.plot(result)
        files = latent_vs_error.render(result, Path(sys.argv[3]))
        called = {
            "figure": isinstance(figure, matplotlib.figure.Figure),
            "pyplot figures": plt.get_fignums(),
            "files": sorted(p.name for p in files.values()),
        }
    after_call = state()
    print(json.dumps({"imported": imported, "before": before, "after import": after_import, "after call": after_call, "called": called}))
    '''
)


def fresh_process(*args: str, cwd: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def _changed(before: dict, after: dict) -> dict:
    """The settings that differ, with both values, so that a failure says which and how."""
    changed = {}
    for key in before:
        if key == "rcParams":
            changed |= {f"rcParams[{k!r}]": (v, after[key].get(k)) for k, v in before[key].items() if after[key].get(k) != v}
        elif before[key] != after[key]:
            changed[key] = (before[key], after[key])
    return changed


def test_importing_every_module_changes_no_global_setting(tmp_path: Path) -> None:
    seen = fresh_process(cwd=tmp_path)
    names = ("latent_vs_error", "evaluate", "latent_space", "activations", "probe", "colorize", "transfer")
    questions = {f"analysis.{name}" for name in names}
    assert {"cae.figures", "search.run", "search.cli", "search.space.load", "analysis.cli", *questions} <= set(seen["imported"])
    assert seen["before"]["backend"] == "None"  # the fresh process had resolved no backend: what a notebook needs kept
    assert _changed(seen["before"], seen["after import"]) == {}


def test_an_analysis_computed_drawn_and_written_changes_no_global_setting(tiny_study: Path, tmp_path: Path) -> None:
    seen = fresh_process("--call", str(tmp_path), cwd=tiny_study)
    assert seen["called"] == {
        "figure": True,
        "pyplot figures": [],  # drawn without pyplot: nothing left open in its registry
        "files": ["latent_vs_error-compute.png", "latent_vs_error.csv", "latent_vs_error.md", "latent_vs_error.png"],
    }
    assert (tmp_path / "latent_vs_error.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _changed(seen["before"], seen["after call"]) == {}


def test_the_command_puts_optuna_s_settings_back(tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``main(argv)`` quiets Optuna while it runs (its own lines replace Optuna's log), then restores the caller's level."""
    monkeypatch.chdir(tiny_study)
    verbosity = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.DEBUG)
        backend = matplotlib.rcParams._get_backend_or_none()
        assert latent_vs_error.main(["--study", "tiny", "--out", str(tmp_path)]) == 0
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
        assert matplotlib.rcParams._get_backend_or_none() == backend
    finally:
        optuna.logging.set_verbosity(verbosity)
