"""The report of :mod:`analysis.latent_vs_error` (``latent_vs_error.md``): every sentence worded from the study's numbers.

:func:`report` writes the answer (the power law, Spearman's ρ, how the curve bends, what else was
searched), the front against PCA, the study beside the published points of its own dataset at its own
pixels (:mod:`analysis.published`; the section is left out where there are none), the compute, the
refits and the best trials. Re-exported by :mod:`analysis.latent_vs_error`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis.dataset import data_name
from analysis.power_law import EXACT_UP_TO, MIN_TRIALS_CORRELATION, left_out, small_rank_correlation, strength
from analysis.published import (
    LINEAR_BOTTLENECK,
    LINEAR_BOTTLENECK_EPOCHS,
    LINEAR_BOTTLENECK_TRAIN_IMAGES,
    comparable,
    linear_bottleneck_psnr,
)
from cae.metrics import psnr
from search.runtime.storage import mask
from search.trials.front import REFERENCE_MSE
from search.trials.table import BASE_COLUMNS

if TYPE_CHECKING:  # the result types live with compute, which imports this module
    from analysis.latent_vs_error import LatentAnalysis, RefitFront

METRIC_NAMES = {"val_mse": "best validation MSE", "test_mse": "test MSE"}
FEW_VALUES = 6  # parameters with at most this many values get a per-value table
LATENT_PARAMETERS = ("latent_channels", "latent_dim")  # the parameters that set the bottleneck's size directly


def published_of(result: LatentAnalysis) -> pd.DataFrame:
    """The published points of the study's dataset measured as the study was (:func:`analysis.published.comparable`:
    the same pixels, split and PSNR convention); often none."""
    return comparable(result.data).points


def published_psnr(result: LatentAnalysis) -> dict[int, float]:
    """The published long-trained CAE's PSNR by latent size, measured as the study was; often none."""
    return linear_bottleneck_psnr(published_of(result))


def not_drawn(result: LatentAnalysis) -> str:
    """How the study and the points published on its dataset were measured, where they differ: why none is drawn ("" if none differ)."""
    return comparable(result.data).not_drawn


def p_value(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def _bend(result: LatentAnalysis) -> str:
    """Why a near-perfect rank order fits one power law poorly: the slopes of the two halves, where they can be fitted."""
    c, f = result.correlation, result.fit
    assert c is not None and f is not None  # asked only where both were estimated
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
    """The correlation and the power law in words, each left out, with its reason, where the study has too few trials for it."""
    c, f = result.correlation, result.fit
    lines = []
    if c is None:
        lines.append(left_out(result.correlation_problem))
    else:
        direction = "larger latents reconstruct better" if c.rho < 0 else "larger latents reconstruct worse"
        exact = " exact over every ordering of the trials" if c.n <= EXACT_UP_TO else ""
        lines.append(
            f"**{strength(c).capitalize()} correlation** over {c.n} complete trials: Spearman's ρ = {c.rho:.2f} "
            f"({p_value(c.p)}{exact}){', ' + direction if strength(c) != 'no clear' else ''}."
        )
    if f is not None:
        change = (f.doubling - 1) * 100
        lines.append(
            f"The power law MSE = a · latent^b fitted on log–log axes gives **b = {f.b:.3f}** "
            f"(95% interval [{f.b_low:.3f}, {f.b_high:.3f}]), a = {f.a:.3g}, **R² = {f.r2:.2f}**: doubling the "
            f"latent size multiplies the error by 2^b = {f.doubling:.2f} ({change:+.0f}%), and latent size alone "
            f"explains {f.r2:.0%} of the variance of log error."
        )
        if c is not None and abs(c.rho) > 0.9 and f.r2 < 0.85:
            lines.append(_bend(result))
        if f.b_low <= 0 <= f.b_high:
            lines.append("The interval of b contains 0: the data do not rule out no effect of latent size at all.")
    else:
        lines.append(left_out(result.fit_problem))
    if confounds := _confounds(result):
        lines.append(confounds)
    return "\n\n".join(lines)


def _pruned(result: LatentAnalysis) -> str:
    pruned = result.table[result.table["state"] == "pruned"]
    if pruned.empty:
        return f"No trial was pruned: all {len(result.complete)} complete trials with an error enter the statistics."
    ran, full = float(pruned["epochs"].median()), float(result.complete["epochs"].median())
    epochs = f"median {ran:g} epoch(s) against the complete trials' {full:g}"
    why = f"their errors are from fewer epochs ({epochs})" if ran < full else f"the pruner stopped them ({epochs})"
    return f"{len(pruned)} pruned trial(s) are drawn in the figure (crosses) but kept out of the statistics: {why}."


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


def _published_table(result: LatentAnalysis, points: pd.DataFrame) -> pd.DataFrame:
    rows = []
    complete = result.complete.dropna(subset=["test_psnr"])
    for point in points.itertuples():
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


def _training_compared(result: LatentAnalysis, points: pd.DataFrame) -> str:
    """Whether the published points had more training than this study's trials: from the epochs (and images) they ran."""
    linear = points[points["source"] == LINEAR_BOTTLENECK]["latent_size"]
    if linear.empty:
        return ""
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


def _published_section(result: LatentAnalysis) -> list[str]:
    """The study beside the points published on its dataset at its pixels; nothing where there are none."""
    points = published_of(result)
    if points.empty and not_drawn(result):
        return [
            "## Beside published results",
            "",
            f"Published results on {data_name(result.data)} are not set beside this study: {not_drawn(result)} (a comparison "
            "needs the same pixels, split and convention: data.split: official, and python -m analysis.evaluate --on the "
            "original images).",
            "",
        ]
    if points.empty:
        return []
    (split, convention), *_ = points[["split", "psnr_convention"]].drop_duplicates().itertuples(index=False)
    where = (
        f"Published on {data_name(result.data)} at its original pixels ({result.data.shape_text}), on its {split} test split, "
        f"PSNR {'of the mean MSE over the split' if convention == 'mean-mse' else convention}; this study's errors are on its "
        "own test split, PCA's on the same."
    )
    if not_drawn(result):  # points of the dataset measured otherwise (COIN++'s per-image means): named, not tabled
        where += f" Others were measured otherwise ({not_drawn(result)})."
    compared = _training_compared(result, points)
    return [
        "## Beside published results",
        "",
        where,
        "",
        _markdown(_published_table(result, points)),
        "",
        *([compared, ""] if compared else []),
    ]


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
        lines += [left_out(result.importance_problem), ""]
    complete, metric = result.complete, result.metric
    searched = [c for c in result.table.columns if c not in BASE_COLUMNS and complete[c].nunique() > 1]
    rows = []
    for name in searched:
        values = complete[[name, metric]].dropna()
        if values[name].nunique() <= FEW_VALUES:
            groups = values.groupby(name)[metric].agg(["median", "size"])
            summary = " · ".join(f"{_value(v)}: {g['median']:.5f} (n={int(g['size'])})" for v, g in groups.iterrows())
        elif len(values) < MIN_TRIALS_CORRELATION:
            summary = f"{len(values)} trials: too few for Spearman's ρ (it needs {MIN_TRIALS_CORRELATION})"
        else:
            rho = small_rank_correlation(values[name].tolist(), values[metric].tolist())
            summary = f"Spearman ρ = {rho.rho:.2f} with the error (p = {rho.p:.2g}, n = {rho.n})"
        rows.append({"parameter": name, "median error by value, or rank correlation": summary})
    if rows:
        lines += [f"The {METRIC_NAMES[metric]} of complete trials, by parameter:", "", _markdown(pd.DataFrame(rows)), ""]
    return "\n".join(lines) if lines else "Nothing else was searched in this study."


def duration(hours: float) -> str:
    """Training time in the unit it reads best in.

    >>> duration(0.001), duration(0.5), duration(12.25)
    ('3.6 s', '30.0 min', '12.25 hours')
    """
    seconds = hours * 3600
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{hours:.2f} hours"


def compute_words(result: LatentAnalysis) -> str:
    finished = int(result.table["state"].isin(["complete", "pruned", "fail"]).sum())
    words = (
        f"The study trained for {duration(result.compute_hours)} ({finished} finished trials, their training seconds summed); "
        f"its front's hypervolume is {result.hypervolume:.1f} dB × octaves (log2 latent size and 10·log10 validation MSE, "
        f"reference point: {result.data.values:,} values, one image, at {-10 * math.log10(REFERENCE_MSE):g} dB; search.trials.front)."
    )
    for refit in result.refits:
        words += (
            f" The refit {refit.study} trained {len(refit.table)} designs for {duration(refit.compute_hours)} more; the search's and the "
            f"refit's trials together reach {refit.hypervolume:.1f}."
        )
    return words


def refit_table(refit: RefitFront, published: Mapping[int, float] | None = None) -> pd.DataFrame:
    """The refit's trials by latent size against PCA and, where ``published`` (PSNR by latent size: :func:`published_psnr`)
    has points for the study's data, against those (no such columns where it has none)."""
    linear = published or {}
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
                **(
                    {
                        "published dB": paper if not math.isnan(paper) else None,
                        "against published": "—" if math.isnan(paper) else f"{float(trial.test_psnr) - paper:+.2f} dB",
                    }
                    if linear
                    else {}
                ),
            }
        )
    return pd.DataFrame(rows)


def _refit_section(refit: RefitFront, published: Mapping[int, float]) -> list[str]:
    table = refit_table(refit, published)
    lines = [f"## Refit: `{refit.study}`, the chosen designs trained longer", "", _markdown(table), ""]
    for row in table.to_dict("records"):
        parts = []
        gain, paper, ours = row["gain dB"], row.get("published dB"), row["test PSNR dB"]
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
            *_published_section(result),
            "## Compute",
            "",
            compute_words(result),
            "",
            f"![hypervolume against compute]({files['compute'].name})" if "compute" in files else "",
            "",
            *(line for refit in result.refits for line in _refit_section(refit, published_psnr(result))),
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
