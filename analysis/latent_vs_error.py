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

- ``latent_vs_error.csv``: every trial (:func:`search.trials.table.trials_table`);
- ``latent_vs_error.png``: error against latent size on log–log axes, complete and pruned trials,
  the power-law fit, the Pareto front, PCA's curve on the same split (the optimal linear code) and
  the points published on the study's dataset measured as the study was (:mod:`analysis.published`: the same
  pixels, split and PSNR convention; CIFAR-10's today, on its original pixels and official test split). A study of
  other data, or of CIFAR-10 made gray or resized, draws none; one of CIFAR-10 measured otherwise (its JPEG export,
  a random split) draws none and says in the legend and the report how each side was measured;
- ``latent_vs_error.md``: the answer in numbers (exponent b with its 95% interval, R², Spearman's
  ρ and p), the Pareto front with each trial's gain over PCA (``gain_db``), the published points
  beside this study's (where its data has any), and what else matters (Optuna's parameter importances, the error by value
  of each parameter). Every conclusion in it is worded from this study's numbers;
- ``latent_vs_error-compute.png``: the front's hypervolume (:mod:`search.trials.front`) against the training
  hours spent, the anytime curve, with each refit's after the search's.

With ``refit=`` (``--refit NAME ...``, child studies of ``search refit``; several compare budgets; ``A+B+C``, refits
that ran side by side, one per size say, is drawn as one) their designs, trained longer, are drawn beside the
search's front and reported at their sizes against PCA and the published points.

Only complete trials enter the statistics: a pruned trial's error is that of fewer epochs. Each statistic needs a
minimum of them (:mod:`analysis.power_law`: 3 distinct latent sizes for the power law, 5 complete trials for
Spearman's ρ, 10 for parameter importances); below it the statistic is left out (``None``, or no importances) and
its ``*_problem`` says so in one line, which the report and the command print in its place. The figures are
drawn by :mod:`analysis.latent_figures` and the report written by :mod:`analysis.latent_report`; both are
re-exported here (``plot``, ``plot_compute``, ``report``, ``front_table``).
"""

from __future__ import annotations

import argparse
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
from rich.console import Console

from analysis.cli import output_dir, print_written, run, study_parser
from analysis.latent_figures import plot, plot_compute
from analysis.latent_report import METRIC_NAMES, compute_words, front_table, p_value, published_psnr, refit_table, report
from analysis.linear_baseline import pca_curve
from analysis.power_law import (
    MIN_TRIALS_CORRELATION,
    MIN_TRIALS_IMPORTANCES,
    PowerLaw,
    RankCorrelation,
    fit_power_law,
    left_out,
    pareto_front,
    small_rank_correlation,
    strength,
    too_few,
)
from cae.data import split_sizes
from cae.figures import DPI
from cae.settings import DataDescription
from search.display import state_counts
from search.runtime.storage import default_storage, load_study
from search.space import check_study_name
from search.trials.front import anytime_hypervolume, compute_hours, study_hypervolume
from search.trials.objectives import best_val_mse, is_multi_objective
from search.trials.record import read_trial, study_data
from search.trials.start import recorded_data
from search.trials.table import finished_table

# plot, plot_compute, report, front_table and refit_table live beside this module; they are part of its API
__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "LatentAnalysis",
    "RefitFront",
    "compute",
    "front_table",
    "main",
    "plot",
    "plot_compute",
    "refit_table",
    "render",
    "report",
    "side_by_side",
]
_refit_table = refit_table  # its name before the report had a module of its own

METRICS = {"val": "val_mse", "test": "test_mse"}


@dataclass(frozen=True)
class RefitFront:
    """A refit (``search refit``) beside the study it trained again: its complete trials and what they cost."""

    study: str
    table: pd.DataFrame  # its complete trials (search.trials.table.trials_table columns, parent_trial among them)
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
    fit: PowerLaw | None  # None below MIN_SIZES_POWER_LAW latent sizes; fit_problem says why
    fit_problem: str
    correlation: RankCorrelation | None  # None below MIN_TRIALS_CORRELATION complete trials; correlation_problem says so
    front: pd.DataFrame
    importances: dict[str, float]  # empty below MIN_TRIALS_IMPORTANCES complete trials; importance_problem says why
    importance_problem: str
    pca: pd.DataFrame | None = None  # PCA's curve on the study's split (latent_size, pca_mse, pca_psnr)
    pca_problem: str = ""
    halves: tuple[float, PowerLaw, PowerLaw] | None = None  # (split latent, fit up to it, fit above): how the curve bends
    train_images: int | None = None  # training images per trial, where the study's data settings say (data.subset)
    image_values: int | None = None  # values of one input image (C × H × W): a latent this large can copy its input
    compute_hours: float = 0.0  # training time of every finished trial (search.trials.front.compute_hours)
    hypervolume: float = math.nan  # of the complete trials' (latent size, validation MSE) front (search.trials.front.hypervolume)
    anytime: tuple[tuple[float, float], ...] = ()  # (training seconds so far, hypervolume) after each finished trial
    refits: tuple[RefitFront, ...] = ()  # the refits drawn beside the front, in the order asked
    data: DataDescription = field(default_factory=DataDescription)  # what the study's images were: whose published points
    correlation_problem: str = ""

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


def _correlation(complete: pd.DataFrame, metric: str) -> tuple[RankCorrelation | None, str]:
    """Spearman's ρ of ``metric`` against latent size (its p exact over a few trials), or ``None`` and why it is left out."""
    if len(complete) < MIN_TRIALS_CORRELATION:
        return None, too_few("Spearman's ρ", MIN_TRIALS_CORRELATION, len(complete))
    return small_rank_correlation(complete["latent_size"].tolist(), complete[metric].tolist()), ""


def _importances(study: optuna.Study, complete: int) -> tuple[dict[str, float], str]:
    if complete < MIN_TRIALS_IMPORTANCES:
        return {}, too_few("a table of parameter importances (fANOVA)", MIN_TRIALS_IMPORTANCES, complete)
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
    # without a subset (or with the official split, whose shares follow the parts' sizes) the count depends on the
    # source, which is not opened here
    return split_sizes(data.subset, data.split)[0] if data.subset and not data.official else None


def _image_values(study: optuna.Study) -> int | None:
    """The values of one input image, as the trials' recorded architectures say (all trials of a study share their data)."""
    for trial in study.get_trials(deepcopy=False):
        arch = read_trial(trial).architecture
        if arch is not None:
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
    correlation, correlation_problem = _correlation(complete, column)
    importances, importance_problem = _importances(study, int((table["state"] == "complete").sum()))
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
        correlation_problem=correlation_problem,
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
        data=study_data(study),
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
    else:
        console.print(left_out(result.fit_problem), highlight=False)
    if c is not None:
        console.print(f"Spearman: ρ = {c.rho:.3f}, {p_value(c.p)} ({strength(c)} correlation, n = {c.n})")
    else:
        console.print(left_out(result.correlation_problem), highlight=False)
    if result.importances:
        ranked = " · ".join(f"{name} {value:.2f}" for name, value in result.importances.items())
        console.print(f"parameter importances (fANOVA): {ranked}", highlight=False)
    elif result.importance_problem:
        console.print(left_out(result.importance_problem), highlight=False)
    if result.pca is None:
        console.print(f"no PCA curve: {result.pca_problem}", highlight=False)
    console.print(front_table(result).to_string(index=False, float_format=lambda v: f"{v:.5g}"), highlight=False)
    console.print(compute_words(result), highlight=False, soft_wrap=True)
    for refit in result.refits:
        console.print(f"refit {refit.study}:", highlight=False)
        console.print(refit_table(refit, published_psnr(result)).to_string(index=False), highlight=False)
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
