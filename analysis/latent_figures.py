"""The figures of :mod:`analysis.latent_vs_error`: error against latent size, and hypervolume against compute.

:func:`plot` draws a :class:`~analysis.latent_vs_error.LatentAnalysis` (its trials, fit, front, PCA's curve,
refits and the published points of the study's dataset, where there are any); :func:`plot_compute` its
anytime hypervolume. Both are re-exported by :mod:`analysis.latent_vs_error`, where they are documented.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.latent_report import not_drawn, published_of
from analysis.power_law import left_out
from cae.figures import new_figure, themed
from cae.metrics import psnr
from search.trials.front import REFERENCE_MSE

if TYPE_CHECKING:  # the result types live with compute, which imports this module
    from analysis.latent_vs_error import LatentAnalysis, RefitFront


REFIT_STYLE = {"marker": "P", "s": 110, "edgecolor": "black", "zorder": 6}
REFIT_COLORS = ("tab:orange", "tab:red", "tab:brown", "tab:pink", "tab:olive")  # one per refit, in the order asked


GAIN_LABEL = "gain over PCA (dB)\ntest PSNR − PCA's, test split"
LATENT_LABEL = "latent size (values in the bottleneck, C × H × W)"
# The panels take the left of the figure and the legends the right: a legend inside the axes covers the trials it names.
PANELS_WIDTH = 0.64
CAPTION_CHARACTERS = 150  # a line of the compute figure's caption, at 8 points across its 9 inches
LEGEND_CHARACTERS = 62  # a legend line's length before it wraps, at 8 points: the legend's column of the figure
SPLIT_WORDS = {"val_mse": "best validation MSE", "test_mse": "test MSE"}
EXACT_MSE = 1e-6  # 60 dB: below the error of rounding pixels to 8 bits (1/255² / 12 ≈ 1.3e-6)


def _refit_color(index: int) -> str:
    return REFIT_COLORS[index % len(REFIT_COLORS)]


def _refit_style(index: int) -> dict[str, object]:
    return {**REFIT_STYLE, "color": _refit_color(index)}


def _refit_label(refit: RefitFront) -> str:
    epochs = refit.table["epochs"]
    ran = f"{int(epochs.min())}" if epochs.min() == epochs.max() else f"{int(epochs.min())}–{int(epochs.max())}"
    return f"refit {refit.study} ({ran} epoch{'' if ran == '1' else 's'}), test"


def _plot_gains(ax: Axes, gains: pd.DataFrame, front: pd.DataFrame, refits: Sequence[RefitFront] = ()) -> None:
    """Each complete trial's test PSNR over PCA's at its latent size; the front's trials marked, the refits' beside them."""
    ax.axhline(0, color="tab:purple", lw=1.5, label="PCA at the same latent size")
    ax.scatter(gains["latent_size"], gains["gain_db"], s=30, color="tab:blue", alpha=0.8, label=f"complete trials ({len(gains)})")
    on_front = front.dropna(subset=["gain_db"])
    ax.scatter(on_front["latent_size"], on_front["gain_db"], marker="D", s=40, color="tab:green", zorder=4, label="Pareto front's trials")
    for index, refit in enumerate(refits):
        if refit.table["gain_db"].notna().any():
            ax.scatter(refit.table["latent_size"], refit.table["gain_db"], **_refit_style(index), label=_refit_label(refit))
    ax.set(xscale="log", xlabel=LATENT_LABEL, ylabel=GAIN_LABEL)


def _mse_of_psnr(decibels: float | np.ndarray) -> float | np.ndarray:
    return 10 ** (-np.asarray(decibels) / 10)  # the inverse of cae.metrics.psnr, for the axis in dB


def _y_label(metric: str) -> str:
    """The error axis: which split each series' MSE is of, where they differ."""
    if metric == "test_mse":
        return "test MSE (pixels in [0, 1])"
    return "MSE (pixels in [0, 1])\ntrials, front: best validation · PCA, ◆, ★: test"


def _pca_end(result: LatentAnalysis, curve: pd.DataFrame) -> tuple[float | None, str]:
    """Where PCA's drawn curve ends short of the axis, and why, in words for its legend: ``(None, "")`` where it does not."""
    known = curve.dropna(subset=["pca_mse"])
    if known.empty:
        return None, ""
    end = int(known["latent_size"].max())
    exact = known[known["pca_mse"] < EXACT_MSE]
    images = f" of {result.train_images:,} training images" if result.train_images else " of the training split"
    if not exact.empty:
        first = int(exact["latent_size"].min())
        return first, f"ends at {first:,}: exact from there (over 60 dB, below 8-bit rounding)"
    if curve["pca_mse"].isna().any():
        return end, f"ends at {end:,}: the rank{images}, the axes PCA learns from them"
    values = result.image_values
    if values and end == values - 1:
        return end, f"ends at {end:,}: at the image's own {values:,} values any code can copy it"
    return None, ""


def _pca_rank(result: LatentAnalysis, curve: pd.DataFrame) -> str:
    """Where a full PCA passes the rank of fewer training images than values: its axes past that are not learned from them."""
    n, values = result.train_images, result.image_values
    if not n or not values or n - 1 >= values or curve.empty:
        return ""
    if not curve["latent_size"].min() <= n - 1 <= curve["latent_size"].max():
        return ""
    return f"; past {n - 1:,}, the rank of {n:,} training images, its axes are arbitrary"


def _front_line(ax: Axes, front: pd.DataFrame, metric: str, right: float) -> None:
    """The front as a staircase with its trials ringed, carried on to ``right`` (the largest trial's latent size): however
    few its trials (one, at the largest size), its points show, and its legend entry says how many."""
    xs, ys = front["latent_size"].tolist(), front[metric].tolist()
    if xs and right > xs[-1]:
        xs, ys = [*xs, right], [*ys, ys[-1]]  # no trial larger than the last front trial does better: the front stays level
    count = len(front)
    ax.plot(
        xs,
        ys,
        drawstyle="steps-post",
        color="tab:green",
        lw=1.5,
        marker="o",
        markersize=11,
        markerfacecolor="none",
        markeredgewidth=1.6,
        markevery=list(range(count)),
        zorder=3,
        label=f"Pareto front ({count} trial{'' if count == 1 else 's'}): the lowest error at each latent size or smaller "
        f"({SPLIT_WORDS[metric]})",
    )


def _annotate_published(ax: Axes, published: pd.DataFrame) -> None:
    """Each published point's PSNR beside it, on the side where the axes have room (never into the right-hand axis)."""
    low, high = (np.log10(v) for v in ax.get_xlim())
    for row in published.itertuples():
        right_side = (np.log10(row.latent_size) - low) / (high - low) < 0.75
        ax.annotate(
            f"{row.psnr:.1f} dB",
            (row.latent_size, row.mse),
            textcoords="offset points",
            xytext=(7, -11) if right_side else (-7, -11),
            ha="left" if right_side else "right",
            fontsize=8,
        )


def plot(result: LatentAnalysis) -> Figure:
    """Error against latent size on log–log axes: complete and pruned trials, the power-law fit, the Pareto front,
    PCA's curve on the same split and the published points; below, each trial's gain over PCA, where trials have one::

        fig = plot(compute("recon"))   # a notebook shows it; fig.savefig("latent_vs_error.png") writes it

    The legends stand beside the panels, where they cover no point. Each entry says which split its MSE is of (the
    trials' best validation MSE, or their test MSE with ``metric='test'``; PCA's, the front trials' ◆ and the
    published points' test MSE); PCA's says where and why its curve ends; the statistics left out for too few
    trials close the legend, each in its line.
    """
    metric = result.metric
    shown = result.table[result.table["state"].isin(["complete", "pruned"]) & result.table[metric].notna()]
    gains = result.complete.dropna(subset=["gain_db"])
    with themed("whitegrid"):
        if gains.empty:
            fig = new_figure(figsize=(13, 5.5))
            ax, gain_ax = fig.subplots(), None
        else:
            # the gain over PCA is a fraction of a dB where the errors span decades: it gets its own panel
            fig = new_figure(figsize=(13, 8))
            ax, gain_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
            _plot_gains(gain_ax, gains, result.front, result.refits)
        for state, style in (("complete", {"marker": "o", "color": "tab:blue"}), ("pruned", {"marker": "X", "color": "tab:gray"})):
            trials = shown[shown["state"] == state]
            if not trials.empty:
                fewer = ", fewer epochs" if state == "pruned" else ""
                label = f"{state} trials ({len(trials)}{fewer}): {SPLIT_WORDS[metric]}"
                ax.scatter(trials["latent_size"], trials[metric], s=55, alpha=0.85, edgecolor="white", linewidth=0.5, label=label, **style)
        if result.fit is not None:
            f = result.fit
            xs = np.geomspace(result.complete["latent_size"].min(), result.complete["latent_size"].max(), 100)
            label = f"fit: MSE = {f.a:.3g} · latent^{f.b:.2f}  (R² = {f.r2:.2f}, {f.n} complete trials)"
            ax.plot(xs, f(xs), "--", color="tab:red", label=label)
        front = result.front
        right = float(result.complete["latent_size"].max()) if not result.complete.empty else math.nan
        _front_line(ax, front, metric, right)
        if metric != "test_mse" and front["test_mse"].notna().any():
            # PCA's curve and the published points are test errors: the front's own test errors sit beside them
            ax.scatter(
                front["latent_size"], front["test_mse"], marker="D", s=30, color="tab:green", zorder=4, label="the front trials' test MSE"
            )
        if result.pca is not None and not shown.empty:
            _plot_pca(ax, result, shown)
        for index, refit in enumerate(result.refits):
            if not refit.table.empty:
                ax.scatter(refit.table["latent_size"], refit.table["test_mse"], **_refit_style(index), label=_refit_label(refit))
        published = published_of(result)  # none for another dataset, or other pixels
        if not published.empty:
            ax.scatter(
                published["latent_size"], published["mse"], marker="*", s=160, color="black", zorder=5, label="published CAEs: test MSE"
            )
        ax.set(xscale="log", yscale="log", ylabel=_y_label(metric), title=f"study {result.study}: error against latent size")
        if gain_ax is None:
            ax.set_xlabel(LATENT_LABEL)
        ax.margins(x=0.08)
        ax.autoscale_view()
        _annotate_published(ax, published)
        decibels = ax.secondary_yaxis("right", functions=(lambda m: psnr(np.maximum(m, 1e-12)), _mse_of_psnr))
        decibels.set_ylabel("PSNR dB (of the MSE at left)")
        decibels.yaxis.set_major_locator(ticker.MaxNLocator(nbins=12, steps=[1, 2, 5, 10], integer=True))  # whole dB, not powers of ten
        decibels.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        decibels.yaxis.set_minor_locator(ticker.NullLocator())
        for axis in (ax, gain_ax):
            if axis is not None:
                # latent sizes are counted in doublings: ticks at powers of two, written out (64, 128, ...), no crowded minor labels
                axis.xaxis.set_major_locator(ticker.LogLocator(base=2))
                axis.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
                axis.xaxis.set_minor_locator(ticker.NullLocator())
        fig.tight_layout(rect=(0, 0, PANELS_WIDTH, 1))
        notes = [left_out(problem) for problem in (result.fit_problem, result.correlation_problem) if problem]
        notes += [not_drawn(result)] if not_drawn(result) else []  # "ours: …; published: … — not drawn"
        _legend_beside(ax, notes)
        if gain_ax is not None:
            _legend_beside(gain_ax)
    return fig


def _plot_pca(ax: Axes, result: LatentAnalysis, shown: pd.DataFrame) -> None:
    """PCA's curve over the trials' latent sizes (half the smallest to twice the largest), its end marked and explained."""
    low, high = shown["latent_size"].min(), shown["latent_size"].max()
    window = result.pca[(result.pca["latent_size"] >= low / 2) & (result.pca["latent_size"] <= high * 2)]
    end, why = _pca_end(result, window)
    # Past 60 dB PCA is exact to the pixels' own 8-bit rounding: drawn there, its fall to 1e-20 (MNIST's
    # constant border pixels give it a rank below 784) would squeeze every trial into the top of the axis.
    pca = window[window["pca_mse"] >= EXACT_MSE].dropna(subset=["pca_mse"])
    label = f"PCA on the same split (optimal linear code): test MSE{_pca_rank(result, window)}"
    ax.plot(pca["latent_size"], pca["pca_mse"], color="tab:purple", lw=1.5, label=f"{label}; {why}" if why else label)
    if end is not None and not pca.empty:
        last = pca.iloc[-1]
        ax.plot([last["latent_size"]], [last["pca_mse"]], marker="|", markersize=14, mew=2, color="tab:purple")


def _legend_beside(ax: Axes, notes: Sequence[str] = ()) -> None:
    """``ax``'s legend right of the panels, from its top, its labels wrapped; ``notes`` close it as lines without a symbol."""
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], linestyle="none") for _ in notes]
    labels = [textwrap.fill(label, LEGEND_CHARACTERS) for label in [*labels, *notes]]
    top = ax.get_position().y1
    ax.legend(
        handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(PANELS_WIDTH + 0.01, top), bbox_transform=ax.figure.transFigure
    )


def _time_unit(seconds: float) -> tuple[str, float]:
    """The unit the compute axis reads best in, for a study that trained ``seconds``: seconds, minutes or hours."""
    if seconds < 120:
        return "seconds", 1.0
    if seconds < 2 * 3600:
        return "minutes", 60.0
    return "hours", 3600.0


def hypervolume_words(result: LatentAnalysis) -> str:
    """What the compute figure's "dB × octaves" is, in two lines under it."""
    words = (
        "Hypervolume: the area the front of (latent size, best validation MSE) dominates on axes of log2 latent size (octaves) "
        f"and 10·log10 MSE (dB), up to a code of the image's own {result.data.values:,} values at "
        f"{-10 * math.log10(REFERENCE_MSE):g} dB (MSE {REFERENCE_MSE:g}). "
        "One unit: the front 1 dB lower across one doubling of latent sizes. Higher is better (search.trials.front)."
    )
    return textwrap.fill(words, CAPTION_CHARACTERS)


def plot_compute(result: LatentAnalysis) -> Figure:
    """The front's hypervolume against the training time spent (the anytime curve), each refit's after the search's,
    with what the unit, dB × octaves, measures written under it::

    fig = plot_compute(compute("pareto", refit="pareto-refit"))
    """
    with themed("whitegrid"):
        fig = new_figure(figsize=(9, 5.2))
        ax = fig.subplots()
        curves = [(f"search {result.study}", result.anytime, "tab:green")]
        for index, refit in enumerate(result.refits):
            # each refit's curve goes on from where the search's ended
            joined = (*result.anytime[-1:], *refit.anytime)
            curves.append((f"then refit {refit.study} (fronts joined)", joined, _refit_color(index)))
        spent = max((seconds for _, curve, _ in curves for seconds, _ in curve), default=0.0)
        unit, per = _time_unit(spent)
        for label, curve, color in curves:
            if curve:
                times, volumes = zip(*((seconds / per, volume) for seconds, volume in curve), strict=True)
                ax.step(times, volumes, where="post", color=color, lw=1.8, label=label)
                ax.scatter(times, volumes, s=12, color=color)
        ax.set(
            xlabel=f"training {unit} spent (every finished trial, pruned and failed ones too)",
            ylabel="hypervolume (dB × octaves)",
            title=f"study {result.study}: what the search found per {unit[:-1]} of compute",
        )
        if ax.get_lines():  # a study with no finished trial has no curve to name
            ax.legend(fontsize=8, loc="lower right")
        fig.text(0.01, 0.015, hypervolume_words(result), fontsize=8, ha="left", va="bottom", color="0.25")
        fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig
