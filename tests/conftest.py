"""Shared fixtures: real CIFAR-10 images (tiny subsets), a private cache, a study folder per test.

The data comes from where the project looks for it (``$CAE_DATA_DIR``, else ``./data``, where
torchvision downloads CIFAR-10 on a connected machine); CI points CAE_DATA_DIR at the offline copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cae.data import DataConfig, Splits, load_splits, resolve_root

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "spaces"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Several test processes share the cores (pytest -n): one torch thread each, for them and the commands
        # they start, or OpenMP oversubscribes them (an epoch took 10x longer beside another torch process).
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _hermetic_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests change directory into temporary study folders: a relative CAE_DATA_DIR
    # (CI sets ../shared/data/cifar10) must be fixed to the folder it meant at start.
    os.environ["CAE_DATA_DIR"] = str(resolve_root(None).resolve())
    os.environ["CAE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("COLUMNS", None)  # the commands' tables are 200 wide in a pipe unless COLUMNS says otherwise


@pytest.fixture(scope="session")
def tiny_splits() -> Splits:
    """400 real CIFAR-10 images: 320 train / 40 validation / 40 test."""
    return load_splits(DataConfig(subset=400))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so that ``studies/`` is created there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding studies/tiny.db: 7 finished trials of spaces/tiny.yaml (300 images), some pruned.

    Shared by the analysis tests, which only read it (each writes into its own ``--out``).
    """
    from search.cli import main as search

    folder = tmp_path_factory.mktemp("analysed")
    old = Path.cwd()
    os.chdir(folder)
    try:
        pruner = "study.pruner={type: median, n_startup_trials: 4, n_warmup_steps: 0}"
        code = search(["run", str(SPACES / "tiny.yaml"), "--trials", "7", "--set", "data.subset=300", "--set", pruner])
    finally:
        os.chdir(old)
    assert code == 0
    return folder


def analysis(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m analysis.MODULE ARGS`` in a fresh process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", f"analysis.{module}", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m search ARGS`` in a fresh process, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "search", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )


def train_key_space(key: str, value: str) -> str:
    """A space file's text: the smallest network, one epoch, and ``train.KEY: VALUE`` (as YAML writes it)."""
    return f"""
study: {{name: {key}}}
train: {{epochs: 1, {key}: {value}}}
model: {{depth: 1, channels: 4, latent_channels: 2}}
"""
