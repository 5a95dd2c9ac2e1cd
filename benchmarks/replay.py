"""Pruning rules replayed on recorded learning curves: epochs spent against the hypervolume reached.

    python -m benchmarks.replay [--curves benchmarks/results/curves] [--orderings 20] [--workers 1 4] [--out benchmarks/results]

The curves (:mod:`benchmarks.record_curves`: seeded draws of ``spaces/pareto.yaml``'s space, each
trained for the full ``train.epochs`` with its schedule over all of them, PCA at its size) are
replayed as studies: the configurations arrive in a random order, ``workers`` at a time, each
epoch taking the seconds it took when recorded, and at the end of every epoch the rule sees what a
study's storage would hold then (finished trials, and running ones as far as they got). A trial
that the rule stops keeps the epochs it spent and is off the front, as in a study (pruned trials
have no objective values): the hypervolume is :func:`search.trials.front.hypervolume` of the trials that
finished their budget, on their best validation MSE. It is also counted MOASHA's way, over every
trial at the best epoch it recorded, stopped ones too: what the search learned of the front, the
designs a refit would train longer. The rules:

- ``full``: no pruning, every configuration for all its epochs: the reference front;
- ``fixed-B``: no pruning at a short budget of B epochs (today's study: every trial the same few
  epochs). Where the recording holds runs with their schedule over B epochs (``short-B/``) those
  are used; else the first B epochs of the full runs (mid-schedule, so it understates the rule);
- ``latent_percentile``: :func:`search.pruning.latent_pruner.verdict` with ``spaces/pareto.yaml``'s settings;
- ``pareto_median``: OptunaHub's ``multi_metric_pruner`` design, re-implemented from its
  description: every epoch, each trial's Pareto rank (non-dominated front index of error and latent
  size among every trial's value at that epoch) is reported to Optuna's median rule (prune when the
  trial's best rank so far is worse than the median rank of complete trials at that epoch, after 6
  complete trials and 1 warm-up epoch); it stops trials, it never promotes;
- ``pareto_halving``: :func:`search.pruning.rungs.verdict` (``min_epochs`` 1, ``eta`` 3, ``n_min_trials`` 3).

Errors are taken relative to PCA at each trial's size by every rule that ranks sizes together.
Each rule also gives its anytime curve (hypervolume against epochs spent so far), so that rules are
compared at equal epochs too. Results: ``replay.json`` and ``replay.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, machine, write_result
from benchmarks.front_shortfall import MEASURES, SIZES, summarise
from benchmarks.front_shortfall import figure as shortfall_figure
from search.pruning.latent_pruner import Curve
from search.pruning.latent_pruner import verdict as latent_verdict
from search.pruning.rungs import RungRecord, non_dominated_fronts
from search.pruning.rungs import verdict as halving_verdict
from search.trials.front import hypervolume

CURVES = RESULTS / "curves"


@dataclass(frozen=True)
class Config:
    """One recorded configuration: its latent size, PCA's MSE at that size, its validation MSE and seconds per epoch,
    and, where recorded, the curves of runs whose schedule ends at a shorter budget (``short[B]``)."""

    seed: int
    latent_size: int
    pca_mse: float | None
    val_mse: tuple[float, ...]
    epoch_seconds: tuple[float, ...]
    short: dict[int, tuple[float, ...]] = field(default_factory=dict)


def load_curves(folder: Path) -> list[Config]:
    """The configurations recorded in ``folder`` (``seed-NN.json``, and ``short-B/seed-NN.json`` where present)."""
    configs = []
    for path in sorted(folder.glob("seed-*.json")):
        a = json.loads(path.read_text())
        short = {}
        for sub in sorted(folder.glob("short-*")):
            other = sub / path.name
            if other.exists():
                short[int(sub.name.split("-")[1])] = tuple(json.loads(other.read_text())["val_mse"])
        configs.append(Config(a["seed"], a["latent_size"], a.get("pca_mse"), tuple(a["val_mse"]), tuple(a["epoch_seconds"]), short))
    return configs


@dataclass
class Trial:
    """A replayed trial as the storage holds it: its configuration, its epochs so far and its state."""

    number: int
    config: Config
    curve: tuple[float, ...] = ()
    state: str = "running"  # running, complete, pruned

    @property
    def epochs(self) -> int:
        return len(self.curve)


# A rule sees the trial that just finished an epoch and every other trial started so far, and says
# whether it stops there; ``budget`` is how many epochs a trial may run, ``curve`` what it records.
@dataclass(frozen=True)
class Rule:
    name: str
    decide: Callable[[Trial, Sequence[Trial]], bool]
    budget: int
    curve: Callable[[Config], tuple[float, ...]] = lambda c: c.val_mse


def never(trial: Trial, others: Sequence[Trial]) -> bool:
    return False


def fixed(budget: int, full: int) -> Rule:
    def curve(config: Config) -> tuple[float, ...]:
        return config.short.get(budget, config.val_mse[:budget]) if budget < full else config.val_mse

    return Rule("full" if budget >= full else f"fixed-{budget}", never, min(budget, full), curve)


def latent_percentile(full: int, **settings: Any) -> Rule:
    settings = {"percentile": 50.0, "latent_factor": 2.0, "n_startup_trials": 6, "n_warmup_steps": 1, "n_min_trials": 2} | settings

    def decide(trial: Trial, others: Sequence[Trial]) -> bool:
        if trial.epochs >= full:
            return False
        peers = [Curve(o.config.latent_size, o.curve, o.config.pca_mse) for o in others if o.state != "running"]
        return latent_verdict(Curve(trial.config.latent_size, trial.curve, trial.config.pca_mse), peers, **settings) is not None

    return Rule("latent_percentile", decide, full)


def relative(trial: Trial, epoch: int, others: Sequence[Trial]) -> float:
    value = trial.curve[epoch - 1]
    base = trial.config.pca_mse
    return value / base if base and all(o.config.pca_mse for o in others) else value


def pareto_median(full: int, n_startup_trials: int = 6, n_warmup_steps: int = 1) -> Rule:
    """Ranks are stored per trial as they are reported (a median rule keeps intermediate values, not their recomputation)."""
    ranks: dict[int, list[int]] = {}

    def decide(trial: Trial, others: Sequence[Trial]) -> bool:
        k = trial.epochs
        at_k = [trial, *(o for o in others if o.epochs >= k)]
        points = np.array([[relative(t, k, at_k), math.log2(t.config.latent_size)] for t in at_k])
        ranks.setdefault(trial.number, []).append(int(non_dominated_fronts(points)[0]))
        if trial.epochs >= full or k <= n_warmup_steps:
            return False
        complete = [ranks[o.number][k - 1] for o in others if o.state == "complete" and len(ranks.get(o.number, [])) >= k]
        if len(complete) < n_startup_trials:
            return False
        return min(ranks[trial.number]) > float(np.median(complete))

    return Rule("pareto_median", decide, full)


def pareto_halving(full: int, min_epochs: int = 1, eta: int = 3, n_min_trials: int = 3) -> Rule:
    def record(t: Trial) -> RungRecord:
        return RungRecord(t.number, t.curve, (t.config.latent_size,), t.config.pca_mse)

    def decide(trial: Trial, others: Sequence[Trial]) -> bool:
        if trial.epochs >= full:
            return False
        verdict = halving_verdict(record(trial), [record(o) for o in others], min_epochs=min_epochs, eta=eta, n_min_trials=n_min_trials)
        return verdict is not None

    return Rule("pareto_halving", decide, full)


@dataclass(frozen=True)
class Replay:
    """One rule on one ordering: epochs spent, the hypervolume of the finished trials, and the anytime curve
    (epochs spent so far, hypervolume so far) after every trial that ended."""

    epochs: int
    hypervolume: float
    anytime: tuple[tuple[int, float], ...]
    complete: int
    # every trial at the best it recorded, stopped ones too: what the search learned of the front
    # (the configurations a refit would train longer), MOASHA's way of counting
    hypervolume_all: float = math.nan
    anytime_all: tuple[tuple[int, float], ...] = ()
    # every trial as it ended: (epochs spent by then, latent size, best error, whether it finished its budget, and
    # the best error its configuration reached in the full recording: what a refit of that design would find)
    ended: tuple[tuple[int, int, float, bool, float], ...] = ()

    def points(self, epochs: float = math.inf, *, stopped: bool = False) -> list[tuple[int, float, float]]:
        """(latent size, best error, full-budget error) of the trials ended once ``epochs`` were spent: those that
        finished their budget, or every one (``stopped``, MOASHA's way of counting)."""
        return [(latent, error, full) for spent, latent, error, finished, full in self.ended if spent <= epochs and (finished or stopped)]


def replay(configs: Sequence[Config], rule: Rule, order: Sequence[int], workers: int = 1) -> Replay:
    """Run ``rule`` over ``configs`` in ``order``, ``workers`` trials at a time, each epoch lasting its recorded seconds."""
    pending = list(order)
    trials: list[Trial] = []
    events: list[tuple[float, int, int]] = []  # (time the epoch ends, trial number, epoch)
    clock, spent = 0.0, 0
    sizes: list[int] = []
    errors: list[float] = []
    anytime: list[tuple[int, float]] = []
    all_sizes: list[int] = []
    all_errors: list[float] = []
    anytime_all: list[tuple[int, float]] = []
    ended: list[tuple[int, int, float, bool, float]] = []

    def start(now: float) -> None:
        config = configs[pending.pop(0)]
        trial = Trial(len(trials), config)
        trials.append(trial)
        heapq.heappush(events, (now + config.epoch_seconds[0], trial.number, 1))

    for _ in range(min(workers, len(pending))):
        start(0.0)
    while events:
        clock, number, epoch = heapq.heappop(events)
        trial = trials[number]
        full_curve = rule.curve(trial.config)
        trial.curve = full_curve[:epoch]
        spent += 1
        others = [t for t in trials if t.number != number]
        stop = rule.decide(trial, others)
        if not stop and epoch < min(rule.budget, len(full_curve)):
            seconds = trial.config.epoch_seconds[min(epoch, len(trial.config.epoch_seconds) - 1)]
            heapq.heappush(events, (clock + seconds, number, epoch + 1))
            continue
        trial.state = "pruned" if stop else "complete"
        best = min((v for v in trial.curve if math.isfinite(v)), default=math.inf)
        if not stop:
            sizes.append(trial.config.latent_size)
            errors.append(best)
        all_sizes.append(trial.config.latent_size)
        all_errors.append(best)
        ended.append((spent, trial.config.latent_size, best, not stop, min(trial.config.val_mse)))
        anytime.append((spent, hypervolume(sizes, errors)))
        anytime_all.append((spent, hypervolume(all_sizes, all_errors)))
        if pending:
            start(clock)
    return Replay(
        spent,
        hypervolume(sizes, errors),
        tuple(anytime),
        len(sizes),
        hypervolume(all_sizes, all_errors),
        tuple(anytime_all),
        tuple(ended),
    )


def at_epochs(anytime: Sequence[tuple[int, float]], epochs: float) -> float:
    """The hypervolume a replay had reached once it had spent ``epochs`` epochs (0 before its first trial ended)."""
    reached = [hv for spent, hv in anytime if spent <= epochs]
    return reached[-1] if reached else 0.0


def rules(full: int, short: Sequence[int]) -> list[Rule]:
    return [
        fixed(full, full),
        *(fixed(b, full) for b in short),
        latent_percentile(full),
        pareto_median(full),
        pareto_halving(full),
    ]


def benchmark(configs: Sequence[Config], *, orderings: int, workers: Sequence[int], short: Sequence[int], seed: int = 0) -> dict[str, Any]:
    """Every rule over ``orderings`` random orderings for each worker count: means and spreads, and the anytime curves."""
    full = min(len(c.val_mse) for c in configs)
    # a short schedule stands for every configuration or for none: a mixed fixed-B rule would compare two kinds of run
    recorded = {b: [c for c in configs if b in c.short] for b in short}
    schedules = {
        b: f"recorded with its schedule over {b} epochs" if len(recorded[b]) == len(configs) else "first epochs of the full run"
        for b in short
    }
    # where only some were recorded: how far the prefix is from the short schedule's run, per configuration
    prefix_gap = {b: [min(c.short[b]) / min(c.val_mse[:b]) - 1 for c in recorded[b]] for b in short if 0 < len(recorded[b]) < len(configs)}
    configs = [replace(c, short={b: v for b, v in c.short.items() if len(recorded.get(b, ())) == len(configs)}) for c in configs]
    reference = replay(configs, fixed(full, full), range(len(configs)))
    rng = random.Random(seed)
    orders = [rng.sample(range(len(configs)), len(configs)) for _ in range(orderings)]
    runs: dict[str, dict[str, Any]] = {}
    for w in workers:
        for rule_maker in rules(full, short):
            name = rule_maker.name
            results = []
            for order in orders:
                rule = next(r for r in rules(full, short) if r.name == name)  # a fresh rule: pareto_median keeps state
                results.append(replay(configs, rule, order, w))
            runs[f"{name}/w{w}"] = {"rule": name, "workers": w, "runs": results}
    summary = {}
    budgets = sorted({len(configs) * b for b in short if b < full})  # what each fixed-B spends: every rule is read there too
    halving_epochs = {w: float(np.mean([r.epochs for r in runs[f"pareto_halving/w{w}"]["runs"]])) for w in workers}
    for key, entry in runs.items():
        results = entry["runs"]
        epochs = np.array([r.epochs for r in results], dtype=float)
        summary[key] = {
            "rule": entry["rule"],
            "workers": entry["workers"],
            "epochs_mean": float(epochs.mean()),
            "epochs_std": float(epochs.std()),
            "epochs_share": float(epochs.mean() / reference.epochs),
            "complete_mean": float(np.mean([r.complete for r in results])),
        }
        for count, volume, anytime in (("complete", "hypervolume", "anytime"), ("all", "hypervolume_all", "anytime_all")):
            shares = np.array([getattr(r, volume) for r in results]) / reference.hypervolume
            equal = np.array([at_epochs(getattr(r, anytime), halving_epochs[entry["workers"]]) for r in results]) / reference.hypervolume
            summary[key][count] = {
                "share_mean": float(shares.mean()),
                "share_std": float(shares.std()),
                "share_min": float(shares.min()),
                "share_at_halving_epochs_mean": float(equal.mean()),
                "share_at_halving_epochs_std": float(equal.std()),
                "anytime": [list(map(list, getattr(r, anytime))) for r in results],
                "shortfall": summarise(results, reference.points(), budgets, range(reference.epochs + 1), stopped=count == "all"),
            }
    return {
        "configs": len(configs),
        "epochs_per_config": full,
        "reference": {"epochs": reference.epochs, "hypervolume": reference.hypervolume, "front": _front(configs, full)},
        "orderings": orderings,
        "fixed_budget_runs": schedules,
        "short_schedule_minus_prefix": prefix_gap,
        "summary": summary,
    }


def _front(configs: Sequence[Config], full: int) -> list[dict[str, float]]:
    from search.trials.front import size_error_front

    sizes = [c.latent_size for c in configs]
    errors = [min(c.val_mse[:full]) for c in configs]
    return [{"seed": configs[i].seed, "latent_size": sizes[i], "val_mse": errors[i]} for i in size_error_front(sizes, errors)]


COUNTS = {
    "complete": "front of the trials that finished (pruned ones have no values)",
    "all": "every trial at its best recorded epoch (stopped ones too)",
}


def figure(result: dict[str, Any]):
    """Hypervolume (share of the full budget's) against epochs spent, every rule, mean over orderings and its 10-90% band;
    a row per way of counting the front, a column per worker count."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    summary = result["summary"]
    workers = sorted({s["workers"] for s in summary.values()})
    fig = Figure(figsize=(6.5 * len(workers), 9), layout="constrained")
    axes = fig.subplots(len(COUNTS), len(workers), squeeze=False)
    reference = result["reference"]
    colours = dict(zip(dict.fromkeys(s["rule"] for s in summary.values()), plt.get_cmap("tab10").colors, strict=False))
    grid = np.arange(0, reference["epochs"] + 1)
    for row, (count, meaning) in zip(axes, COUNTS.items(), strict=True):
        for ax, w in zip(row, workers, strict=True):
            for entry in (s for s in summary.values() if s["workers"] == w):
                c = entry[count]
                curves = np.array([[at_epochs(run, e) / reference["hypervolume"] for e in grid] for run in c["anytime"]])
                mean, low, high = curves.mean(0), np.percentile(curves, 10, axis=0), np.percentile(curves, 90, axis=0)
                colour = colours[entry["rule"]]
                label = f"{entry['rule']} ({entry['epochs_mean']:.0f} epochs, {c['share_mean']:.1%})"
                ax.plot(grid, mean, color=colour, label=label)
                ax.fill_between(grid, low, high, color=colour, alpha=0.15, linewidth=0)
                spread = {"xerr": entry["epochs_std"], "yerr": c["share_std"]}
                ax.errorbar(entry["epochs_mean"], c["share_mean"], **spread, color=colour, marker="o", capsize=3)
            ax.axhline(0.99, color="grey", linestyle="--", linewidth=1)
            ax.axvline(reference["epochs"] / 3, color="grey", linestyle=":", linewidth=1)
            finals = [s[count]["share_mean"] - s[count]["share_std"] for s in summary.values()]
            ax.set_ylim(min(0.8, math.floor(20 * min(finals)) / 20), 1.005)
            ax.set_xlabel("epochs spent")
            ax.set_ylabel("hypervolume / full budget's")
            ax.set_title(f"{w} worker{'s' if w > 1 else ''}: {meaning}", fontsize=9)
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{result['configs']} recorded configurations × {result['epochs_per_config']} epochs, {result['orderings']} orderings")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=Path, default=CURVES)
    parser.add_argument("--orderings", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--short", type=int, nargs="*", default=[1, 2, 3, 4], help="budgets of the fixed-budget rule")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    configs = load_curves(args.curves)
    if len(configs) < 2:
        print(f"error: {args.curves}: fewer than 2 recorded configurations", file=sys.stderr)
        return 2
    result = benchmark(configs, orderings=args.orderings, workers=args.workers, short=args.short)
    args.out.mkdir(parents=True, exist_ok=True)
    figure(result).savefig(args.out / "replay.png", dpi=120)
    shortfall_figure(result).savefig(args.out / "replay-shortfall.png", dpi=120)
    # every run's anytime curve is drawn, but kept as data only as its mean over orderings, every epoch: small enough to commit
    grid = range(result["reference"]["epochs"] + 1)
    for s in result["summary"].values():
        for count in COUNTS:
            runs = s[count].pop("anytime")
            s[count]["anytime_mean"] = [round(float(np.mean([at_epochs(r, e) for r in runs])), 4) for e in grid]
            for measure in s[count]["shortfall"].values():
                measure.pop("anytime_mean_db")  # drawn in replay-shortfall.png; its readings at the fixed budgets are kept
    path = write_result("replay", {"machine": machine(), "curves": str(args.curves), **result}, folder=args.out)
    for key, s in result["summary"].items():
        c, a = s["complete"], s["all"]
        print(
            f"{key:24} epochs {s['epochs_mean']:6.1f} ± {s['epochs_std']:4.1f} ({s['epochs_share']:5.1%})  "
            f"complete {s['complete_mean']:4.1f}  "
            f"HV {c['share_mean']:6.2%} ± {c['share_std']:5.2%} (min {c['share_min']:6.2%}), at halving's epochs "
            f"{c['share_at_halving_epochs_mean']:6.2%}  |  all trials: {a['share_mean']:6.2%} ± {a['share_std']:5.2%}, "
            f"at halving's epochs {a['share_at_halving_epochs_mean']:6.2%}"
        )
    _print_shortfalls(result)
    print(f"wrote {path}, {args.out / 'replay.png'} and {args.out / 'replay-shortfall.png'}")
    return 0


def _print_shortfalls(result: dict[str, Any]) -> None:
    """The shortfall (dB over the full budget's front; — where a size was not reached in every ordering) per rule and
    measure: at its end per size, and its mean over the sizes at each fixed budget's epochs."""

    def db(value: float | None, reached: float) -> str:
        return "    —" if value is None or reached < 1 else f"{value:+5.2f}"

    first = next(iter(result["summary"].values()))["complete"]["shortfall"]["front"]
    budgets = list(first["at_epochs_db"])
    for measure, meaning in MEASURES.items():
        sizes, at = " / ".join(map(str, SIZES)), ", ".join(budgets)
        print(f"shortfall of {meaning} (dB), at its end at {sizes} values, then its mean at epochs {at}:")
        for key, s in result["summary"].items():
            for count in COUNTS:
                f = s[count]["shortfall"][measure]
                ends = " ".join(db(f["final_db"][str(size)], f["final_reached"][str(size)]) for size in SIZES)
                at = " ".join(db(f["at_epochs_db"][b], f["at_epochs_reached"][b]) for b in budgets)
                print(f"  {key:24} {count:8} {s['epochs_mean']:6.1f} epochs  {ends}  |  {at}")


if __name__ == "__main__":
    sys.exit(main())
