"""The networks whose training speed ``python -m benchmarks.throughput --networks`` measures, built by the search's own code.

- ``flagship-64``, ``flagship-128``, ``flagship-256``: the flagship refit's networks (``benchmarks.flagship``'s last
  run, ``benchmarks/results/like-for-like/flagship/``): ``spaces/pareto.yaml`` with the parameters of each size's
  parent trial, built at exactly that size as ``search refit`` built it (:func:`cae.spec.at_latent_size`);
- ``uva-256``: ``spaces/latent.yaml``'s vocabulary (the UvA tutorial's linear-bottleneck CAE) at the grid point
  whose code is nearest 256 values.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import RESULTS, ROOT
from cae.spec import at_latent_size

if TYPE_CHECKING:
    from search.sample import TrialConfig

FLAGSHIP_RUN = RESULTS / "like-for-like" / "flagship"
PARETO_SPACE = ROOT / "spaces" / "pareto.yaml"
LATENT_SPACE = ROOT / "spaces" / "latent.yaml"
FLAGSHIP_SIZES = (64, 128, 256)
UVA_LATENT = 256
GROUPS = {"flagship": tuple(f"flagship-{size}" for size in FLAGSHIP_SIZES), "uva": (f"uva-{UVA_LATENT}",)}
NAMES = tuple(name for names in GROUPS.values() for name in names)


@dataclass(frozen=True)
class Network:
    name: str
    space: Path
    params: dict[str, Any]  # the space's parameters, as a trial holds them
    config: TrialConfig  # what the space builds from them: the architecture and its training settings


def space_config(space: Path, params: dict[str, Any], overrides: Sequence[str] = ()) -> TrialConfig:
    """The configuration ``space`` (with ``overrides``, as ``--set`` writes them) builds from a trial's ``params``, as a
    study's trial builds it (``ValueError`` for one missing)."""
    import optuna

    from search.sample import optuna_suggest, sample
    from search.space import load_space

    return sample(load_space(space, list(overrides)), optuna_suggest(optuna.trial.FixedTrial(params)))


def _rows(path: Path) -> dict[int, dict[str, str]]:
    with path.open(newline="") as file:
        return {int(row["number"]): row for row in csv.DictReader(file)}


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def flagship(size: int, run: Path = FLAGSHIP_RUN) -> Network:
    """The refit's network of ``size`` latent values: its parent trial's parameters in ``spaces/pareto.yaml``, at exactly ``size``."""
    refit = next((row for row in _rows(run / "refit_trials.csv").values() if int(row["latent_size"]) == size), None)
    if refit is None:
        raise ValueError(f"{run / 'refit_trials.csv'}: no refit of latent size {size}")
    parent = _rows(run / "search_trials.csv")[int(refit["parent_trial"])]
    params = {key: _number(parent[key]) for key in ("latent_dim", "lr", "refine_depth")}
    config = space_config(PARETO_SPACE, params)
    return Network(f"flagship-{size}", PARETO_SPACE, params, replace(config, architecture=at_latent_size(config.architecture, size)))


def uva(latent: int = UVA_LATENT) -> Network:
    """``spaces/latent.yaml`` at the grid point whose code is nearest ``latent`` values (in log size)."""
    from search.space import load_space

    ((key, grid),) = load_space(LATENT_SPACE).distributions().items()  # the grid is over the bottleneck's channels alone
    built = [(value, space_config(LATENT_SPACE, {key: value})) for value in grid.values]
    value, config = min(built, key=lambda pair: abs(math.log(pair[1].architecture.latent_size / latent)))
    return Network(f"uva-{config.architecture.latent_size}", LATENT_SPACE, {key: value}, config)


def networks(names: list[str]) -> list[Network]:
    """The networks of ``names`` (``flagship`` for its three sizes, ``uva``, or one of :data:`NAMES`), each once, in order."""
    wanted = dict.fromkeys(name for group in names for name in GROUPS.get(group, (group,)))
    unknown = [name for name in wanted if name not in NAMES]
    if unknown:
        raise ValueError(f"--networks: unknown {', '.join(unknown)}; expected some of {', '.join((*GROUPS, *NAMES))}")
    return [uva() if name.startswith("uva") else flagship(int(name.removeprefix("flagship-"))) for name in wanted]
