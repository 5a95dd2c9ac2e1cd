"""The figures: accuracy against labels per method (``transfer.png``), and the front's accuracy against size and PSNR."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.transfer.estimates import estimate, label_counts
from analysis.transfer.front import FRONT_AXES, FrontResult, rho_words
from analysis.transfer.pretraining import TransferResult
from analysis.transfer.runs import METHODS, TrialInfo
from cae.figures import new_figure, themed


def plot(result: TransferResult) -> Figure:
    """Test accuracy against labelled images (log axis), one line per method, error bars the seeds' spread (``transfer.png``)."""
    with themed("whitegrid"):
        fig = new_figure(figsize=(6.2 * len(result.trials), 4.6))
        axes = fig.subplots(1, len(result.trials), squeeze=False)[0]
        for ax, info in zip(axes, result.trials, strict=True):
            for method, label in METHODS.items():
                _method_line(ax, result, info, method, label)
            _chance_line(ax, result)
            _labels_axis(ax, result)
            ax.set(xlabel="labelled train images", ylabel="test accuracy %", title=f"{info.name} (latent {info.latent_size:,})")
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig


def _method_line(ax: Axes, result: TransferResult, info: TrialInfo, method: str, label: str) -> None:
    """One method's mean accuracy at each budget, its seeds' spread as error bars; dashed for the codes that cost no training."""
    points = [estimate(result, info.number, method, f) for f in result.fractions]
    means = [100 * e.mean for e in points]
    spreads = [100 * e.std if e.seeds > 1 else 0.0 for e in points]
    dashed = method in ("pca", "pixels")
    ax.errorbar(label_counts(result), means, yerr=spreads, marker="o", capsize=3, ls="--" if dashed else "-", label=label)


def _chance_line(ax: Axes, result: TransferResult) -> None:
    ax.axhline(100 * result.chance, color="gray", ls=":", lw=1, label=f"chance ({100 * result.chance:.0f}%)")


def _labels_axis(ax: Axes, result: TransferResult) -> None:
    """A log axis of labelled images, ticked at each budget with its count and fraction."""
    ax.set_xscale("log")
    counts = label_counts(result)
    ax.set_xticks(counts, [f"{n:,}\n({100 * f:g}%)" for n, f in zip(counts, result.fractions, strict=True)])
    ax.minorticks_off()


def plot_front(result: FrontResult) -> Figure:
    """The frozen linear probe's test accuracy against latent size and against PSNR, a series per fraction (``transfer-front.png``)."""
    table = result.table()
    with themed("whitegrid"):
        fig = new_figure(figsize=(12, 4.6))
        axes = fig.subplots(1, 2)
        for ax, (axis, label) in zip(axes, FRONT_AXES.items(), strict=True):
            for fraction in result.fractions:
                _fraction_series(ax, result, table, fraction, axis)
            if axis == "latent_size":
                _latent_axis(ax, table)
            unit = " (dB)" if axis == "test_psnr" else ""
            ax.set(
                xlabel=f"{label}{unit}",
                ylabel="frozen linear probe: test accuracy %",
                title=f"study {result.study}: accuracy against {label}",
            )
            ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def _fraction_series(ax: Axes, result: FrontResult, table: pd.DataFrame, fraction: float, axis: str) -> None:
    """The trials' mean accuracy at one label fraction against ``axis``, named with its rank correlation where there is one."""
    at = table[table["fraction"] == fraction].dropna(subset=[axis]).sort_values(axis)
    correlation = result.correlations.get((fraction, axis))
    name = f"{100 * fraction:g}% ({int(at['labels'].iloc[0]):,} labels)" + (f": {rho_words(correlation)}" if correlation else "")
    ax.errorbar(at[axis], 100 * at["test_accuracy"], yerr=100 * at["std"].fillna(0), marker="o", capsize=3, label=name)


def _latent_axis(ax: Axes, table: pd.DataFrame) -> None:
    """Latent sizes on a log₂ axis, ticked at the trials' own sizes."""
    ax.set_xscale("log", base=2)
    sizes = sorted(set(table["latent_size"]))
    ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
    ax.minorticks_off()
