"""Is there an obvious correlation between the size of the latent representation and the error?

    python -m analysis.latent_vs_error --study recon [--storage URL] [--out DIR] [--metric val|test] [--refit NAME ...]

or from Python::

    from analysis import latent_vs_error
    result = latent_vs_error.compute("recon")          # the numbers, a LatentAnalysis
    result.fit.b, result.correlation.rho, result.front
    fig = latent_vs_error.plot(result)                 # a matplotlib Figure, shown inline by Jupyter
    latent_vs_error.render(result, Path("out"))        # the files below

:func:`compute` loads the study and returns the numbers (:class:`LatentAnalysis`, no files, no
output); :func:`plot` draws them; :func:`render` writes them to ``studies/<study>/analysis/`` (or ``--out``):

- ``latent_vs_error.csv``: every trial (:func:`search.table.trials_table`);
- ``latent_vs_error.png``: error against latent size on log–log axes, complete and pruned trials,
  the power-law fit, the Pareto front, PCA's curve on the same split (the optimal linear code) and
  published points;
- ``latent_vs_error.md``: the answer in numbers (exponent b with its 95% interval, R², Spearman's
  ρ and p), the Pareto front with each trial's gain over PCA (``gain_db``), the published points
  beside this study's, and what else matters (Optuna's parameter importances, the error by value
  of each parameter). Every conclusion in it is worded from this study's numbers;
- ``latent_vs_error-compute.png``: the front's hypervolume (:mod:`search.front`) against the training
  hours spent, the anytime curve, with each refit's after the search's.

With ``refit=`` (``--refit NAME ...``, child studies of ``search refit``; several compare budgets; ``A+B+C``, refits
that ran side by side, one per size say, is drawn as one) their designs, trained longer, are drawn beside the
search's front and reported at their sizes against PCA and the published points.

Only complete trials enter the statistics: a pruned trial's error is that of fewer epochs.
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.ticker as ticker
import numpy as np
import optuna
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from rich.console import Console

from analysis.cli import output_dir, print_written, run, study_parser
from analysis.linear_baseline import pca_curve
from analysis.power_law import PowerLaw, RankCorrelation, fit_power_law, pareto_front, rank_correlation, strength
from analysis.published import (
    LINEAR_BOTTLENECK,
    LINEAR_BOTTLENECK_EPOCHS,
    LINEAR_BOTTLENECK_TRAIN_IMAGES,
    long_trained_psnr,
    published_points,
)
from cae.data import split_sizes
from cae.figures import DPI, new_figure, themed
from cae.metrics import psnr
from cae.spec import Architecture
from search.display import state_counts
from search.front import anytime_hypervolume, compute_hours, study_hypervolume
from search.objectives import best_val_mse, is_multi_objective
from search.space import check_study_name
from search.start import recorded_data
from search.storage import default_storage, load_study, mask
from search.table import BASE_COLUMNS, finished_table

METRICS = {"val": "val_mse", "test": "test_mse"}
METRIC_NAMES = {"val_mse": "best validation MSE", "test_mse": "test MSE"}
FEW_VALUES = 6  # parameters with at most this many values get a per-value table
LATENT_PARAMETERS = ("latent_channels", "latent_dim")  # the parameters that set the bottleneck's size directly


@dataclass(frozen=True)
class RefitFront:
    """A refit (``search refit``) beside the study it trained again: its complete trials and what they cost."""

    study: str
    table: pd.DataFrame  # its complete trials (search.table.trials_table columns, parent_trial among them)
    compute_hours: float
    hypervolume: float  # of the search's complete trials and the refit's together
    anytime: tuple[tuple[float, float], ...]  # (training seconds since the search began, hypervolume of both so far)


@dataclass(frozen=True)
class LatentAnalysis:
    """Everything :func:`render` writes; :func:`compute` makes it from a study."""

    study: str
    storage: str  # the URL the study was read from (masked when shown)
    counts: str  # trials by state, as ``search.display.state_counts`` words them
    table: pd.DataFrame  # every trial
    complete: pd.DataFrame  # complete trials with an error: what the statistics use
    metric: str  # the column of the error: val_mse or test_mse
    fit: PowerLaw | None
    fit_problem: str
    correlation: RankCorrelation
    front: pd.DataFrame
    importances: dict[str, float]
    importance_problem: str
    pca: pd.DataFrame | None = None  # PCA's curve on the study's split (latent_size, pca_mse, pca_psnr)
    pca_problem: str = ""
    halves: tuple[float, PowerLaw, PowerLaw] | None = None  # (split latent, fit up to it, fit above): how the curve bends
    train_images: int | None = None  # training images per trial, where the study's data settings say (data.subset)
    image_values: int | None = None  # values of one input image (C × H × W): a latent this large can copy its input
    compute_hours: float = 0.0  # training time of every finished trial (search.front.compute_hours)
    hypervolume: float = math.nan  # of the complete trials' (latent size, validation MSE) front (search.front.hypervolume)
    anytime: tuple[tuple[float, float], ...] = ()  # (training seconds so far, hypervolume) after each finished trial
    refits: tuple[RefitFront, ...] = ()  # the refits drawn beside the front, in the order asked

    @property
    def refit(self) -> RefitFront | None:
        """The first refit, or ``None``: the one a single ``refit=`` names."""
        return self.refits[0] if self.refits else None


# ---------------------------------------------------------------- compute


def _fit(complete: pd.DataFrame, metric: str) -> tuple[PowerLaw | None, str]:
    """The power law of ``metric`` against latent size, or ``None`` and why it cannot be fitted."""
    try:
        return fit_power_law(complete["latent_size"], complete[metric]), ""
    except ValueError as error:
        return None, str(error)


def _halves(complete: pd.DataFrame, metric: str) -> tuple[float, PowerLaw, PowerLaw] | None:
    """Power laws fitted below and above the median latent size, where each half can have one."""
    middle = float(complete["latent_size"].median())
    below = complete["latent_size"] <= middle
    (low, _), (high, _) = _fit(complete[below], metric), _fit(complete[~below], metric)
    return (middle, low, high) if low is not None and high is not None else None


def _importances(study: optuna.Study) -> tuple[dict[str, float], str]:
    try:
        # In a study of several objectives the importances asked about are the error's
        target = best_val_mse if is_multi_objective(study) else None
        with warnings.catch_warnings():  # Optuna warns of parameter values seen once: a caveat of small studies, not news
            warnings.simplefilter("ignore", UserWarning)
            return dict(optuna.importance.get_param_importances(study, target=target)), ""
    except (ValueError, RuntimeError) as error:  # too few trials, or nothing searched
        return {}, str(error).splitlines()[0]


def _train_images(study: optuna.Study) -> int | None:
    data = recorded_data(study.user_attrs)
    # without a subset the count depends on the source, which is not opened here
    return split_sizes(data.subset, data.split)[0] if data.subset else None


def _image_values(study: optuna.Study) -> int | None:
    """The values of one input image, as the trials' recorded architectures say (all trials of a study share their data)."""
    for trial in study.get_trials(deepcopy=False):
        if "architecture" in trial.user_attrs:
            arch = Architecture.from_dict(trial.user_attrs["architecture"])
            return arch.in_channels * arch.image_size**2
    return None


def side_by_side(name: str) -> list[str]:
    """The studies ``A+B+C`` names: refits that ran side by side, read as one."""
    return name.split("+")


def _refit_front(name: str, storage: str | None, search: pd.DataFrame, search_anytime: list[tuple[float, float]]) -> RefitFront:
    """The refit study ``name``: its hypervolume joined with the search's complete trials, its compute after the search's.

    ``A+B+C`` names refits that ran side by side (one ``search refit`` per size, each with its own epochs): one refit
    of several studies, their trials together, their compute summed."""
    parts = side_by_side(name)
    children = [load_study(part, storage or default_storage(part))[0] for part in parts]
    tables = [finished_table(child, part).assign(study=part) for child, part in zip(children, parts, strict=True)]
    table = pd.concat(tables, ignore_index=True)
    points = list(zip(search["latent_size"], search["val_mse"], strict=True))
    spent = search_anytime[-1][0] if search_anytime else 0.0
    anytime = tuple(anytime_hypervolume(*children, spent=spent, points=points))
    hours = sum(compute_hours(child) for child in children)
    return RefitFront(name, table[table["state"] == "complete"], hours, anytime[-1][1] if anytime else math.nan, anytime)


def compute(
    study_name: str,
    *,
    storage: str | None = None,
    metric: str = "val",
    refit: str | Sequence[str] | None = None,
    refit_storage: str | None = None,
) -> LatentAnalysis:
    """Load ``study_name`` and relate the ``metric`` error (``val`` or ``test``) of its complete trials to their latent size.

    ``refit`` names a child study of :func:`search.refit`, or several (refits of different budgets, say), each in
    ``refit_storage``, else the study's own storage when given, else ``sqlite:///studies/REFIT.db``, to set beside the
    study's front.
    """
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {', '.join(METRICS)}, got {metric!r}")
    column = METRICS[metric]
    url = storage or default_storage(study_name)
    study, _ = load_study(study_name, url)
    table = finished_table(study, study_name)
    pca, pca_problem = pca_curve(study)
    complete = table[(table["state"] == "complete") & table[column].notna() & table["latent_size"].notna()]
    fit, fit_problem = _fit(complete, column)
    correlation = RankCorrelation(math.nan, math.nan, len(complete))
    if len(complete) >= 3:
        correlation = rank_correlation(complete["latent_size"], complete[column])
    importances, importance_problem = _importances(study)
    anytime = anytime_hypervolume(study)
    names = [refit] if isinstance(refit, str) else list(refit or ())
    scored = complete.dropna(subset=["val_mse"])
    refits = tuple(_refit_front(name, refit_storage or storage, scored, anytime) for name in names)
    return LatentAnalysis(
        study=study_name,
        storage=url,
        counts=state_counts(study),
        table=table,
        complete=complete,
        metric=column,
        fit=fit,
        fit_problem=fit_problem,
        correlation=correlation,
        front=pareto_front(complete, error=column),
        importances=importances,
        importance_problem=importance_problem,
        pca=pca,
        pca_problem=pca_problem,
        halves=_halves(complete, column),
        train_images=_train_images(study),
        image_values=_image_values(study),
        compute_hours=compute_hours(study),
        hypervolume=study_hypervolume(study),
        anytime=tuple(anytime),
        refits=refits,
    )


# ---------------------------------------------------------------- figure


REFIT_STYLE = {"marker": "P", "s": 110, "edgecolor": "black", "zorder": 6}
REFIT_COLORS = ("tab:orange", "tab:red", "tab:brown", "tab:pink", "tab:olive")  # one per refit, in the order asked


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
            ax.plot(
                pca["latent_size"],
                pca["pca_mse"],
                color="tab:purple",
                lw=1.5,
                label="PCA on the same split (optimal linear code), test MSE",
            )
        for index, refit in enumerate(result.refits):
            if not refit.table.empty:
                ax.scatter(refit.table["latent_size"], refit.table["test_mse"], **_refit_style(index), label=_refit_label(refit))
        published = published_points()
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
        decibels.yaxis.set_major_locator(ticker.MultipleLocator(2))  # whole dB, not the log axis's powers of ten
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


# ---------------------------------------------------------------- report


def _p_value(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def _bend(result: LatentAnalysis) -> str:
    """Why a near-perfect rank order fits one power law poorly: the slopes of the two halves, where they can be fitted."""
    c, f = result.correlation, result.fit
    said = (
        f"The ranks are almost perfectly ordered (|ρ| = {abs(c.rho):.2f}), yet one power law explains only {f.r2:.0%} "
        "of the variance of log error"
    )
    if result.halves is None:
        return f"{said}: the relation is monotone but not a straight line on log–log axes (see the figure)."
    middle, low, high = result.halves
    apart = low.b_high < high.b_low or high.b_high < low.b_low
    slopes = f"fitted apart, b = {low.b:.2f} up to latent {middle:,.0f} and b = {high.b:.2f} above"
    if apart:
        return f"{said}: {slopes}, 95% intervals apart, so the curve bends and the local slope depends on where one looks."
    return f"{said}: {slopes}, but their 95% intervals overlap, so these trials cannot tell a bend from noise."


def _confounds(result: LatentAnalysis) -> str:
    """How much of the error the importances give to the latent's own parameters and how much to the others."""
    others = {k: v for k, v in result.importances.items() if k not in LATENT_PARAMETERS}
    if not others:
        return ""
    top = max(others, key=others.get)
    own = {k: v for k, v in result.importances.items() if k in LATENT_PARAMETERS}
    rest = sum(others.values())
    searched = f"Other parameters were searched too (the most important: {top}, importance {others[top]:.2f})"
    if own and sum(own.values()) > rest:
        return (
            f"{searched}, but {', '.join(own)} carries {sum(own.values()):.2f} of the importance against {rest:.2f} for all "
            "others together: the error follows the latent size more than anything else searched."
        )
    if own:
        weighed = f"together they carry {rest:.2f} of the importance against {sum(own.values()):.2f} for {', '.join(own)}"
    else:
        weighed = f"neither {' nor '.join(LATENT_PARAMETERS)} was searched, so the latent size changed only with them"
    return (
        f"{searched}, and {weighed}: part of this relation may be theirs; a space that varies latent size alone "
        "(spaces/latent.yaml) separates the two."
    )


def _answer(result: LatentAnalysis) -> str:
    c, f = result.correlation, result.fit
    if c.n < 3:
        return f"Too few complete trials ({c.n}) to say: a correlation needs three or more."
    direction = "larger latents reconstruct better" if c.rho < 0 else "larger latents reconstruct worse"
    lines = [
        f"**{strength(c).capitalize()} correlation** over {c.n} complete trials: Spearman's ρ = {c.rho:.2f} "
        f"({_p_value(c.p)}){', ' + direction if strength(c) != 'no clear' else ''}."
    ]
    if f is not None:
        change = (f.doubling - 1) * 100
        lines.append(
            f"The power law MSE = a · latent^b fitted on log–log axes gives **b = {f.b:.3f}** "
            f"(95% interval [{f.b_low:.3f}, {f.b_high:.3f}]), a = {f.a:.3g}, **R² = {f.r2:.2f}**: doubling the "
            f"latent size multiplies the error by 2^b = {f.doubling:.2f} ({change:+.0f}%), and latent size alone "
            f"explains {f.r2:.0%} of the variance of log error."
        )
        if abs(c.rho) > 0.9 and f.r2 < 0.85:
            lines.append(_bend(result))
        if f.b_low <= 0 <= f.b_high:
            lines.append("The interval of b contains 0: the data do not rule out no effect of latent size at all.")
    else:
        lines.append(f"No power-law fit: {result.fit_problem}.")
    if confounds := _confounds(result):
        lines.append(confounds)
    return "\n\n".join(lines)


def _pruned(result: LatentAnalysis) -> str:
    pruned = result.table[result.table["state"] == "pruned"]
    if pruned.empty:
        return f"No trial was pruned: all {len(result.complete)} complete trials with an error enter the fit and the correlation."
    ran, full = float(pruned["epochs"].median()), float(result.complete["epochs"].median())
    epochs = f"median {ran:g} epoch(s) against the complete trials' {full:g}"
    why = f"their errors are from fewer epochs ({epochs})" if ran < full else f"the pruner stopped them ({epochs})"
    return f"{len(pruned)} pruned trial(s) are drawn in the figure (crosses) but kept out of the fit and the correlation: {why}."


def front_table(result: LatentAnalysis) -> pd.DataFrame:
    """The front with each trial's test PSNR beside PCA's at its latent size, and the gain (test PSNR − PCA's)."""
    front = result.front.copy()
    front["pca_psnr"] = psnr(front["pca_mse"])
    columns = ["number", "latent_size", "n_params", result.metric, "test_psnr", "pca_psnr", "gain_db"]
    front = front[columns].round({"test_psnr": 2, "pca_psnr": 2, "gain_db": 2, result.metric: 6})
    for count in ("number", "latent_size", "n_params"):
        front[count] = front[count].astype("Int64")  # counts, not floats (a failed trial's NaN made them float)
    return front.rename(columns={"latent_size": "latent", "test_psnr": "test PSNR dB", "pca_psnr": "PCA dB", "gain_db": "gain dB"})


def _against_pca(result: LatentAnalysis) -> str:
    """Which front trials beat the linear code, by how much, and which lose: derived from their gains."""
    front = result.front.dropna(subset=["gain_db"])
    if front.empty:
        reasons = result.front["pca_reason"].dropna().unique() if "pca_reason" in result.front else []
        why = "; ".join(reasons) if len(reasons) else "its trials recorded no baseline (a study from before baselines were recorded)"
        return f"No trial on the front has a PCA baseline: {why}."
    wins, losses = front[front["gain_db"] > 0], front[front["gain_db"] <= 0]
    lines = []
    if not wins.empty:
        listed = ", ".join(f"latent {int(r.latent_size):,} (+{r.gain_db:.2f} dB, trial {int(r.number)})" for r in wins.itertuples())
        lines.append(f"**{len(wins)} of {len(front)} front trials beat PCA** at their latent size on the same test split: {listed}.")
    if not losses.empty:
        listed = ", ".join(f"latent {int(r.latent_size):,} ({r.gain_db:+.2f} dB, trial {int(r.number)})" for r in losses.itertuples())
        lines.append(
            f"**{len(losses)} of {len(front)} lose to PCA**: {listed}. A CAE that loses to the optimal linear code has not learned "
            "what its nonlinearity could add: train longer, widen it, or start it from the linear code (model.linear_skip)."
        )
    values = result.image_values
    over = result.complete[result.complete["latent_size"] >= values] if values else result.complete.iloc[:0]
    if not over.empty:
        lines.append(
            f"{len(over)} complete trial(s) have an over-complete latent (≥ {values:,} values, the image's own size): they can "
            "copy their input, and no baseline applies."
        )
    return "\n\n".join(lines)


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False, floatfmt="g")


def _published_table(result: LatentAnalysis) -> pd.DataFrame:
    rows = []
    complete = result.complete.dropna(subset=["test_psnr"])
    for point in published_points().itertuples():
        # the best test PSNR of any trial at this latent size or smaller: what the front buys with that many values
        within = complete[complete["latent_size"] <= point.latent_size]
        ours = within.loc[within["test_psnr"].idxmax()] if not within.empty else None
        at = result.pca[result.pca["latent_size"] == point.latent_size] if result.pca is not None else None
        pca = f"{float(at['pca_psnr'].iloc[0]):.2f}" if at is not None and not at.empty else "—"  # none for an over-complete latent
        if ours is not None:
            verdict = "beats" if ours["test_psnr"] > point.psnr else "misses"
            here = (
                f"trial {int(ours['number'])} (latent {int(ours['latent_size']):,}): {ours['test_psnr']:.2f} dB test, "
                f"{verdict} it by {abs(ours['test_psnr'] - point.psnr):.2f} dB"
            )
        elif result.fit is not None:
            predicted = float(result.fit(point.latent_size))
            here = f"fit: {predicted:.5f} ({psnr(predicted):.1f} dB)"
        else:
            here = "—"
        rows.append(
            {
                "latent": f"{point.latent_size:,}",
                "published PSNR dB": round(point.psnr, 1),
                "published MSE": f"{point.mse:.5f}",
                "PCA dB (same split)": pca,
                "source": point.source,
                "this study's best at this latent or smaller": here,
            }
        )
    return pd.DataFrame(rows)


def _training_compared(result: LatentAnalysis) -> str:
    """Whether the published points had more training than this study's trials: from the epochs (and images) they ran."""
    points = published_points()
    linear = points[points["source"] == LINEAR_BOTTLENECK]["latent_size"]
    epochs = result.complete["epochs"]
    ran = f"{int(epochs.min())}" if epochs.min() == epochs.max() else f"{int(epochs.min())}–{int(epochs.max())}"
    images = f" on {result.train_images:,} training images" if result.train_images else ""
    said = (
        f"The published PSNRs at latent {int(linear.min())}–{int(linear.max())} come from a CAE with a linear bottleneck trained "
        f"for up to {LINEAR_BOTTLENECK_EPOCHS} epochs on all {LINEAR_BOTTLENECK_TRAIN_IMAGES:,} training images; this study's "
        f"complete trials ran {ran} epoch(s){images}"
    )
    shorter = epochs.max() < LINEAR_BOTTLENECK_EPOCHS
    fewer = result.train_images is not None and result.train_images < LINEAR_BOTTLENECK_TRAIN_IMAGES
    if shorter or fewer:
        more = " and ".join(words for words, flag in (("longer training", shorter), ("more images", fewer)) if flag)
        return f"{said}: the published points show what {more} can reach, not what these trials should."
    return f"{said}: as long a training, so the table compares networks trained alike."


def _what_else(result: LatentAnalysis) -> str:
    lines = []
    if result.importances:
        importance = pd.DataFrame({"parameter": list(result.importances), "importance": [round(v, 3) for v in result.importances.values()]})
        lines += [
            "Optuna's parameter importances (fANOVA, on the objective, over parameters every complete trial has):",
            "",
            _markdown(importance),
            "",
        ]
    elif result.importance_problem:
        lines += [f"No parameter importances: {result.importance_problem}.", ""]
    complete, metric = result.complete, result.metric
    searched = [c for c in result.table.columns if c not in BASE_COLUMNS and complete[c].nunique() > 1]
    rows = []
    for name in searched:
        values = complete[[name, metric]].dropna()
        if values[name].nunique() <= FEW_VALUES:
            groups = values.groupby(name)[metric].agg(["median", "size"])
            summary = " · ".join(f"{_value(v)}: {g['median']:.5f} (n={int(g['size'])})" for v, g in groups.iterrows())
        else:
            rho = rank_correlation(values[name], values[metric])
            summary = f"Spearman ρ = {rho.rho:.2f} with the error (p = {rho.p:.2g}, n = {rho.n})"
        rows.append({"parameter": name, "median error by value, or rank correlation": summary})
    if rows:
        lines += [f"The {METRIC_NAMES[metric]} of complete trials, by parameter:", "", _markdown(pd.DataFrame(rows)), ""]
    return "\n".join(lines) if lines else "Nothing else was searched in this study."


def _compute_words(result: LatentAnalysis) -> str:
    finished = int(result.table["state"].isin(["complete", "pruned", "fail"]).sum())
    words = (
        f"The study trained for {result.compute_hours:.2f} hours ({finished} finished trials, their training seconds summed); "
        f"its front's hypervolume is {result.hypervolume:.1f} dB × octaves (log2 latent size and 10·log10 validation MSE, "
        "reference point: 3,072 values at 10 dB; search.front)."
    )
    for refit in result.refits:
        words += (
            f" The refit {refit.study} trained {len(refit.table)} designs for {refit.compute_hours:.2f} more hours; the search's and the "
            f"refit's trials together reach {refit.hypervolume:.1f}."
        )
    return words


def _refit_table(refit: RefitFront) -> pd.DataFrame:
    linear = long_trained_psnr()
    several = refit.table["study"].nunique() > 1  # refits side by side: say which study each trial is in
    rows = []
    for trial in refit.table.sort_values("latent_size").itertuples():
        size = int(trial.latent_size)
        pca = float(trial.pca_psnr) if not math.isnan(trial.pca_psnr) else math.nan
        paper = linear.get(size, math.nan)
        rows.append(
            {
                "latent": size,
                **({"refit study": trial.study} if several else {}),
                "refit trial": int(trial.number),
                "from trial": int(trial.parent_trial) if not math.isnan(trial.parent_trial) else None,
                "epochs": int(trial.epochs),
                "test PSNR dB": round(float(trial.test_psnr), 2),
                "PCA dB": round(pca, 2),
                "gain dB": round(float(trial.gain_db), 2) if not math.isnan(trial.gain_db) else None,
                "published dB": paper if not math.isnan(paper) else None,
                "against published": "—" if math.isnan(paper) else f"{float(trial.test_psnr) - paper:+.2f} dB",
            }
        )
    return pd.DataFrame(rows)


def _refit_section(refit: RefitFront) -> list[str]:
    table = _refit_table(refit)
    lines = [f"## Refit: `{refit.study}`, the chosen designs trained longer", "", _markdown(table), ""]
    for row in table.to_dict("records"):
        parts = []
        gain, paper, ours = row["gain dB"], row["published dB"], row["test PSNR dB"]
        if gain is not None:
            parts.append(f"{'beats' if gain >= 0.5 else 'does not beat'} PCA by 0.5 dB ({gain:+.2f} dB)")
        if paper is not None:
            parts.append(f"{'beats' if ours > paper else 'misses'} the published {paper:.1f} dB by {abs(ours - paper):.2f} dB")
        if parts:
            lines.append(f"- At {row['latent']} values the refit {' and '.join(parts)}.")
    return [*lines, ""]


def _value(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def report(result: LatentAnalysis, files: dict[str, Path]) -> str:
    """``latent_vs_error.md``: ``files`` names the CSV and the figure it links to."""
    metric = result.metric
    best = result.complete.sort_values(metric).head(10)[
        ["number", "latent_size", "n_params", "val_mse", "test_mse", "test_psnr", "gain_db", "epochs"]
    ]
    best = best.astype({"number": "Int64", "latent_size": "Int64", "n_params": "Int64"})
    return "\n".join(
        [
            f"# Latent size against error: study `{result.study}`",
            "",
            f"Storage {mask(result.storage)} · {result.counts} · error: {METRIC_NAMES[metric]} on pixels in [0, 1] · "
            f"every trial in [{files['csv'].name}]({files['csv'].name}).",
            "",
            "## Is there an obvious correlation between the size of the latent representation and the error?",
            "",
            _answer(result),
            "",
            _pruned(result),
            "",
            f"![error against latent size]({files['png'].name})",
            "",
            "## Pareto front: the lowest error at each latent size or smaller",
            "",
            _markdown(front_table(result)),
            "",
            _against_pca(result),
            "",
            "## Beside published results",
            "",
            _markdown(_published_table(result)),
            "",
            _training_compared(result),
            "",
            "## Compute",
            "",
            _compute_words(result),
            "",
            f"![hypervolume against compute]({files['compute'].name})" if "compute" in files else "",
            "",
            *(line for refit in result.refits for line in _refit_section(refit)),
            "## What else matters",
            "",
            _what_else(result),
            "",
            "## Best complete trials",
            "",
            _markdown(best),
            "",
        ]
    )


def render(result: LatentAnalysis, out: Path) -> dict[str, Path]:
    """Write the trials table, the figure and the report into ``out``; the files written, by kind."""
    files = {
        "csv": out / "latent_vs_error.csv",
        "png": out / "latent_vs_error.png",
        "compute": out / "latent_vs_error-compute.png",
        "md": out / "latent_vs_error.md",
    }
    result.table.to_csv(files["csv"], index=False)
    plot(result).savefig(files["png"], dpi=DPI)
    plot_compute(result).savefig(files["compute"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    for name in args.refit or ():
        for part in side_by_side(name):
            check_study_name(part, "command line", "--refit")
    result = compute(args.study, storage=args.storage, metric=args.metric, refit=args.refit)
    files = render(result, output_dir(args))
    c, f = result.correlation, result.fit
    console.print(f"study [bold]{result.study}[/]: {result.counts}", highlight=False)
    if f is not None:
        console.print(f"power law: MSE = {f.a:.3g} · latent^{f.b:.3f}  (b in [{f.b_low:.3f}, {f.b_high:.3f}], R² = {f.r2:.3f}, n = {f.n})")
    console.print(f"Spearman: ρ = {c.rho:.3f}, {_p_value(c.p)} ({strength(c)} correlation)")
    if result.pca is None:
        console.print(f"no PCA curve: {result.pca_problem}", highlight=False)
    console.print(front_table(result).to_string(index=False, float_format=lambda v: f"{v:.5g}"), highlight=False)
    console.print(_compute_words(result), highlight=False, soft_wrap=True)
    for refit in result.refits:
        console.print(f"refit {refit.study}:", highlight=False)
        console.print(_refit_table(refit).to_string(index=False), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m analysis.latent_vs_error", "Error against latent size over a study's trials.")
    parser.add_argument("--metric", choices=list(METRICS), default="val", help="which error: best validation MSE (default) or test MSE")
    parser.add_argument(
        "--refit",
        nargs="+",
        metavar="NAME",
        help="child studies of search refit to draw beside the front (in --storage when given); A+B+C: refits that ran side by side, "
        "drawn as one",
    )
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
