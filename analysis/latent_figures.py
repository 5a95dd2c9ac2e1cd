"""The figures of :mod:`analysis.latent_vs_error`: error against latent size, and hypervolume against compute.

:func:`plot` draws a :class:`~analysis.latent_vs_error.LatentAnalysis` (its trials, fit, front, PCA's curve,
refits and the published points of the study's dataset, where there are any); :func:`plot_compute` its
anytime hypervolume. Both are re-exported by :mod:`analysis.latent_vs_error`, where they are documented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.latent_report import METRIC_NAMES, published_of
from cae.figures import new_figure, themed
from cae.metrics import psnr

if TYPE_CHECKING:  # the result types live with compute, which imports this module
    from analysis.latent_vs_error import LatentAnalysis, RefitFront


REFIT_STYLE = {"marker": "P", "s": 110, "edgecolor": "black", "zorder": 6}
REFIT_COLORS = ("tab:orange", "tab:red", "tab:brown", "tab:pink", "tab:olive")  # one per refit, in the order asked


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
    ax.scatter(gains["latent_size"], gains["gain_db"], s=30, color="tab:blue", alpha=0.8, label="complete trials")
    on_front = front.dropna(subset=["gain_db"])
    ax.scatter(on_front["latent_size"], on_front["gain_db"], marker="D", s=40, color="tab:green", zorder=4, label="Pareto front")
    for index, refit in enumerate(refits):
        if refit.table["gain_db"].notna().any():
            ax.scatter(refit.table["latent_size"], refit.table["gain_db"], **_refit_style(index), label=_refit_label(refit))
    ax.set(xscale="log", xlabel="latent size (values in the bottleneck, C × H × W)", ylabel="gain over PCA (dB)")
    ax.legend(fontsize=8, loc="best")


def _mse_of_psnr(decibels: float | np.ndarray) -> float | np.ndarray:
    return 10 ** (-np.asarray(decibels) / 10)  # the inverse of cae.metrics.psnr, for the axis in dB


def plot(result: LatentAnalysis) -> Figure:
    """Error against latent size on log–log axes: complete and pruned trials, the power-law fit, the Pareto front,
    PCA's curve on the same split and the published points; below, each trial's gain over PCA, where trials have one::

        fig = plot(compute("recon"))   # a notebook shows it; fig.savefig("latent_vs_error.png") writes it
    """
    metric = result.metric
    shown = result.table[result.table["state"].isin(["complete", "pruned"]) & result.table[metric].notna()]
    states = [s for s in ("complete", "pruned") if (shown["state"] == s).any()]
    gains = result.complete.dropna(subset=["gain_db"])
    with themed("whitegrid"):
        if gains.empty:
            fig = new_figure(figsize=(8, 5.5))
            ax = fig.subplots()
        else:
            # the gain over PCA is a fraction of a dB where the errors span decades: it gets its own panel
            fig = new_figure(figsize=(8, 8))
            ax, gain_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
            _plot_gains(gain_ax, gains, result.front, result.refits)
        sns.scatterplot(
            shown,
            x="latent_size",
            y=metric,
            hue="state",
            style="state",
            hue_order=states,
            style_order=states,
            palette={"complete": "tab:blue", "pruned": "tab:gray"},
            markers={"complete": "o", "pruned": "X"},
            s=55,
            alpha=0.85,
            ax=ax,
        )
        if result.fit is not None:
            f = result.fit
            xs = np.geomspace(result.complete["latent_size"].min(), result.complete["latent_size"].max(), 100)
            ax.plot(xs, f(xs), "--", color="tab:red", label=f"fit: MSE = {f.a:.3g} · latent^{f.b:.2f}  (R² = {f.r2:.2f})")
        front = result.front
        ax.step(front["latent_size"], front[metric], where="post", color="tab:green", lw=1.5, label="Pareto front")
        if metric != "test_mse" and front["test_mse"].notna().any():
            # PCA's curve and the published points are test errors: the front's own test errors sit beside them
            ax.scatter(
                front["latent_size"], front["test_mse"], marker="D", s=30, color="tab:green", zorder=4, label="front trials' test MSE"
            )
        if result.pca is not None:
            low, high = shown["latent_size"].min(), shown["latent_size"].max()
            pca = result.pca[(result.pca["latent_size"] >= low / 2) & (result.pca["latent_size"] <= high * 2)]
            # Past 60 dB PCA is exact to the pixels' own 8-bit rounding: drawn there, its fall to 1e-20 (MNIST's
            # constant border pixels give it a rank below 784) would squeeze every trial into the top of the axis.
            exact = pca[pca["pca_mse"] < EXACT_MSE]
            words = f"; exact (over 60 dB) from {int(exact['latent_size'].min()):,} values" if not exact.empty else ""
            pca = pca[pca["pca_mse"] >= EXACT_MSE]
            ax.plot(
                pca["latent_size"],
                pca["pca_mse"],
                color="tab:purple",
                lw=1.5,
                label=f"PCA on the same split (optimal linear code), test MSE{words}",
            )
        for index, refit in enumerate(result.refits):
            if not refit.table.empty:
                ax.scatter(refit.table["latent_size"], refit.table["test_mse"], **_refit_style(index), label=_refit_label(refit))
        published = published_of(result)  # none for another dataset, or other pixels
        if not published.empty:
            ax.scatter(published["latent_size"], published["mse"], marker="*", s=160, color="black", zorder=5, label="published")
        for row in published.itertuples():
            ax.annotate(f"{row.psnr:.1f} dB", (row.latent_size, row.mse), textcoords="offset points", xytext=(6, -10), fontsize=8)
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="latent size (values in the bottleneck, C × H × W)",
            ylabel=f"{METRIC_NAMES[metric]} (pixels in [0, 1])",
            title=f"study {result.study}: error against latent size",
        )
        ax.legend(fontsize=8, loc="best")
        decibels = ax.secondary_yaxis("right", functions=(lambda m: psnr(np.maximum(m, 1e-12)), _mse_of_psnr))
        decibels.set_ylabel("PSNR dB")
        decibels.yaxis.set_major_locator(ticker.MaxNLocator(nbins=12, steps=[1, 2, 5, 10], integer=True))  # whole dB, not powers of ten
        decibels.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        decibels.yaxis.set_minor_locator(ticker.NullLocator())
        fig.tight_layout()
    return fig


def plot_compute(result: LatentAnalysis) -> Figure:
    """The front's hypervolume against the training hours spent (the anytime curve), each refit's after the search's::

    fig = plot_compute(compute("pareto", refit="pareto-refit"))
    """
    with themed("whitegrid"):
        fig = new_figure(figsize=(7, 4.5))
        ax = fig.subplots()
        curves = [(f"search {result.study}", result.anytime, "tab:green")]
        for index, refit in enumerate(result.refits):
            # each refit's curve goes on from where the search's ended
            joined = (*result.anytime[-1:], *refit.anytime)
            curves.append((f"then refit {refit.study} (fronts joined)", joined, _refit_color(index)))
        for label, curve, color in curves:
            if curve:
                hours, volumes = zip(*((seconds / 3600, volume) for seconds, volume in curve), strict=True)
                ax.step(hours, volumes, where="post", color=color, lw=1.8, label=label)
                ax.scatter(hours, volumes, s=12, color=color)
        ax.set(
            xlabel="training hours spent (every finished trial, pruned and failed ones too)",
            ylabel="hypervolume (dB × octaves; search.front)",
            title=f"study {result.study}: what the search found per hour of compute",
        )
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
    return fig
