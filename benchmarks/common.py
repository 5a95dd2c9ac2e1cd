"""What every benchmark shares: the machine it ran on, the result file, the reference network, a timer."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from cae.data import Splits
    from search.trials.trial_model import LoadedTrial

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SPACES = Path(__file__).resolve().parent / "spaces"
REFERENCE_SPACE = ROOT / "spaces" / "reference.yaml"


def git_commit() -> str:
    """``git rev-parse --short HEAD``, with ``+dirty`` when the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty.strip() else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where and when a figure was measured."""
    device = torch.device(device)
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "device": str(device),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_result(name: str, payload: dict[str, Any], *, folder: Path | None = None) -> Path:
    """``folder/<name>.json`` (default ``benchmarks/results/``) holding ``payload``, which should carry a ``machine`` entry."""
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, **payload}, indent=2, default=str) + "\n")
    return path


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read after it measures the work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(totals: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        totals[key] = totals.get(key, 0.0) + time.perf_counter() - start


def reference_architecture():
    """The assignment's network, as ``spaces/reference.yaml`` fixes it."""
    from search.space import load_space
    from search.space_check import check_space

    config = check_space(load_space(REFERENCE_SPACE))
    assert config is not None, "spaces/reference.yaml is expected to be a fixed space"
    return config.architecture


def best_architecture(study: str, storage: str | None = None):
    """The architecture of a study's best trial (the one it recorded: :func:`search.trials.record.read_trial`)."""
    import optuna

    from search.runtime.storage import default_storage, open_storage
    from search.trials.best import best_trial
    from search.trials.record import read_trial

    loaded = optuna.load_study(study_name=study, storage=open_storage(storage or default_storage(study)))
    best = best_trial(loaded)
    if best is None:
        raise ValueError(f"study {study} has no completed trial")
    return read_trial(best).architecture


def complete_trials(study: str, storage: str | None = None) -> Iterator[tuple[LoadedTrial, Splits]]:
    """``(LoadedTrial, Splits)`` for each complete trial of ``study``, its data read once for all trials that share it
    (a refit's do): what a benchmark of a refit's networks measures them on (:mod:`search.trials.trial_model`)."""
    import optuna
    from optuna.trial import TrialState

    from search.runtime.storage import default_storage
    from search.trials.trial_model import load_trial

    loaded_study = optuna.load_study(study_name=study, storage=storage or default_storage(study))
    splits: dict[str, Splits] = {}
    for trial in loaded_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        loaded = load_trial(study, storage, trial.number)
        key = repr(loaded.data_config)
        if key not in splits:
            splits[key] = loaded.data()
        yield loaded, splits[key]
