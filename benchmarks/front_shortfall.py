"""The front's shortfall in dB at the sizes people compare: a replay measure that resolves 0.1 dB (issue 31).

The hypervolume of a front is an area over every size at once: a rule that trains every configuration a third of
its epochs lost nothing visible there (100% of the full budget's hypervolume) while it stood tenths of a dB behind
at the sizes a refit is asked for. The shortfall at a size ``s`` is how far the best error of any trial of at most
``s`` values lies above the full budget's, in dB::

    shortfall(s) = 10 · log10(front(s) / front_full(s)),    front(s) = min { error of a trial with latent ≤ s }

0 dB is the full budget's front; +0.3 dB is a front whose model at that size reconstructs 0.3 dB worse. A size
that no trial of at most ``s`` values reached has no front there (``inf``: not reached).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from benchmarks.replay import Replay

SIZES = (64, 128, 256)  # the sizes of the published comparisons (values in the code)
Points = Sequence[tuple[int, float, float]]  # (latent size, error recorded, error of the design trained its full budget)
MEASURES = {
    "front": "the front's own errors",
    "design": "the front's designs, trained their full budget (what a refit finds)",
}


def chosen(points: Points, size: int) -> tuple[float, float]:
    """The (recorded, full-budget) errors of the trial of at most ``size`` values with the lowest recorded error;
    ``inf`` where there is none."""
    return min(((error, full) for latent, error, full in points if latent <= size and math.isfinite(error)), default=(math.inf, math.inf))


def shortfall_db(points: Points, reference: Points, measure: str = "front", sizes: Sequence[int] = SIZES) -> dict[int, float]:
    """The shortfall in dB at each of ``sizes`` of the front of ``points`` (``measure="front"``: its own errors;
    ``"design"``: its designs' full-budget errors) against the front of ``reference``."""
    found = {}
    for size in sizes:
        recorded, full = chosen(points, size)
        mine, best = (recorded if measure == "front" else full), chosen(reference, size)[0]
        found[size] = 10 * math.log10(mine / best) if math.isfinite(mine) and math.isfinite(best) else math.inf
    return found


def mean_shortfall(shortfalls: dict[int, float]) -> float:
    """The mean over sizes (``inf`` when a size was not reached: a front that misses a size is not better for it)."""
    return sum(shortfalls.values()) / len(shortfalls)


def _mean_reached(values: Sequence[float]) -> tuple[float | None, float]:
    """The mean of the finite ``values`` (``None`` if none is) and the share of them that are finite."""
    finite = [v for v in values if math.isfinite(v)]
    return (sum(finite) / len(finite) if finite else None), len(finite) / len(values)


def summarise(runs: Sequence[Replay], reference: Points, budgets: Sequence[int], grid: Sequence[int], *, stopped: bool) -> dict:
    """A rule's shortfall over its orderings, for each measure: at its end per size, at each of ``budgets`` epochs
    (every rule read at equal epochs), and against epochs spent on ``grid`` (the figure's curve); each a mean over the
    orderings that reached every size, with the share that did."""
    summary: dict = {}
    for measure in MEASURES:
        final = [shortfall_db(run.points(stopped=stopped), reference, measure) for run in runs]
        m: dict = {"final_db": {}, "final_reached": {}, "at_epochs_db": {}, "at_epochs_reached": {}}
        for size in SIZES:
            m["final_db"][str(size)], m["final_reached"][str(size)] = _mean_reached([f[size] for f in final])
        m["final_mean_db"], m["final_mean_reached"] = _mean_reached([mean_shortfall(f) for f in final])
        for epochs in budgets:
            at = [mean_shortfall(shortfall_db(run.points(epochs, stopped=stopped), reference, measure)) for run in runs]
            m["at_epochs_db"][str(epochs)], m["at_epochs_reached"][str(epochs)] = _mean_reached(at)
        anytime = [
            _mean_reached([mean_shortfall(shortfall_db(run.points(e, stopped=stopped), reference, measure)) for run in runs])[0]
            for e in grid
        ]
        m["anytime_mean_db"] = [None if v is None else round(v, 4) for v in anytime]
        summary[measure] = m
    return summary


def figure(result: dict) -> Figure:
    """Mean shortfall over 64 / 128 / 256 values (dB, lower is better) against epochs spent, every rule: a row per
    measure, a column per worker count; solid: the trials that finished their budget, dashed: every trial at its best
    epoch (where that differs); dotted lines at the fixed budgets' epochs."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    summary = result["summary"]
    workers = sorted({s["workers"] for s in summary.values()})
    fig = Figure(figsize=(6.5 * len(workers), 8), layout="constrained")
    axes = fig.subplots(len(MEASURES), len(workers), squeeze=False)
    colours = dict(zip(dict.fromkeys(s["rule"] for s in summary.values()), plt.get_cmap("tab10").colors, strict=False))
    grid = list(range(result["reference"]["epochs"] + 1))
    budgets = sorted({int(e) for s in summary.values() for e in s["complete"]["shortfall"]["front"]["at_epochs_db"]})
    for row, (measure, meaning) in zip(axes, MEASURES.items(), strict=True):
        for ax, w in zip(row, workers, strict=True):
            for entry in (s for s in summary.values() if s["workers"] == w):
                for count, style in (("complete", "-"), ("all", "--")):
                    shortfall = entry[count]["shortfall"][measure]
                    curve = [math.nan if v is None else v for v in shortfall["anytime_mean_db"]]
                    if count == "all" and shortfall["anytime_mean_db"] == entry["complete"]["shortfall"][measure]["anytime_mean_db"]:
                        continue  # a rule that stops nothing: one line
                    final = shortfall["final_mean_db"]
                    ends = "—" if final is None or shortfall["final_mean_reached"] < 1 else f"{final:+.2f} dB"
                    label = f"{entry['rule']}{' (every trial)' if count == 'all' else ''}: {entry['epochs_mean']:.0f} epochs, {ends}"
                    ax.plot(grid, curve, style, color=colours[entry["rule"]], label=label)
            for epochs in budgets:
                ax.axvline(epochs, color="grey", linestyle=":", linewidth=1)
            ax.axhline(0.1, color="grey", linestyle="--", linewidth=1)
            ax.set_ylim(-0.05, 1.5)
            ax.set_xlabel("epochs spent")
            ax.set_ylabel("shortfall at 64/128/256 values (dB, mean)")
            ax.set_title(f"{w} worker{'s' if w > 1 else ''}: {meaning}", fontsize=9)
            ax.legend(fontsize=6, loc="upper right")
    fig.suptitle(
        f"{result['configs']} recorded configurations × {result['epochs_per_config']} epochs, {result['orderings']} orderings: "
        "how far each rule stands above the full budget's front (0 dB; dashed line at 0.1 dB)"
    )
    return fig
