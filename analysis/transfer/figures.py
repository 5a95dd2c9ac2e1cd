"""The figures: accuracy against labels per method (``transfer.png``), and the front's accuracy against size and PSNR."""

from __future__ import annotations

from matplotlib.figure import Figure

from analysis.transfer.estimates import estimate
from analysis.transfer.front import FRONT_AXES, FrontResult, _rho
from analysis.transfer.pretraining import TransferResult
from analysis.transfer.runs import METHODS
from cae.figures import new_figure, themed


def plot(result: TransferResult) -> Figure:
    """Test accuracy against labelled images (log axis), one line per method, error bars the seeds' spread (``transfer.png``)."""
    with themed("whitegrid"):
        fig = new_figure(figsize=(6.2 * len(result.trials), 4.6))
        axes = fig.subplots(1, len(result.trials), squeeze=False)[0]
        for ax, info in zip(axes, result.trials, strict=True):
            for method, label in METHODS.items():
                points = [(f, estimate(result, info.number, method, f)) for f in result.fractions]
                labels = [next(r.labels for r in result.runs if r.fraction == f) for f, _ in points]
                means = [100 * e.mean for _, e in points]
                spreads = [100 * e.std if e.seeds > 1 else 0.0 for _, e in points]
                dashed = method in ("pca", "pixels")
                ax.errorbar(labels, means, yerr=spreads, marker="o", capsize=3, ls="--" if dashed else "-", label=label)
            ax.axhline(100 * result.chance, color="gray", ls=":", lw=1, label=f"chance ({100 * result.chance:.0f}%)")
            ax.set_xscale("log")
            counts = [next(r.labels for r in result.runs if r.fraction == f) for f in result.fractions]
            ax.set_xticks(counts, [f"{n:,}\n({100 * f:g}%)" for n, f in zip(counts, result.fractions, strict=True)])
            ax.minorticks_off()
            ax.set(xlabel="labelled train images", ylabel="test accuracy %", title=f"{info.name} (latent {info.latent_size:,})")
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig


def plot_front(result: FrontResult) -> Figure:
    """The frozen linear probe's test accuracy against latent size and against PSNR, a series per fraction (``transfer-front.png``)."""
    table = result.table()
    with themed("whitegrid"):
        fig = new_figure(figsize=(12, 4.6))
        axes = fig.subplots(1, 2)
        for ax, (axis, label) in zip(axes, FRONT_AXES.items(), strict=True):
            for fraction in result.fractions:
                at = table[table["fraction"] == fraction].dropna(subset=[axis]).sort_values(axis)
                correlation = result.correlations.get((fraction, axis))
                name = f"{100 * fraction:g}% ({int(at['labels'].iloc[0]):,} labels)" + (f": {_rho(correlation)}" if correlation else "")
                ax.errorbar(at[axis], 100 * at["test_accuracy"], yerr=100 * at["std"].fillna(0), marker="o", capsize=3, label=name)
            if axis == "latent_size":
                ax.set_xscale("log", base=2)
                sizes = sorted(set(table["latent_size"]))
                ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
                ax.minorticks_off()
            unit = " (dB)" if axis == "test_psnr" else ""
            ax.set(
                xlabel=f"{label}{unit}",
                ylabel="frozen linear probe: test accuracy %",
                title=f"study {result.study}: accuracy against {label}",
            )
            ax.legend(fontsize=8)
        fig.tight_layout()
    return fig
