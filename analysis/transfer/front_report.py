"""The front's reading in words, its report and the ``transfer-front.*`` files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from analysis.power_law import EXACT_UP_TO, strength
from analysis.transfer.figures import plot_front
from analysis.transfer.front import FRONT_AXES, FrontResult, rho_words
from cae.figures import DPI


def front_reading(result: FrontResult) -> str:
    """The answer in words: does the probe's accuracy follow latent size, and reconstruction quality?"""
    lines = []
    for fraction in result.fractions:
        said = []
        for axis, label in FRONT_AXES.items():
            c = result.correlations.get((fraction, axis))
            if c is None:
                said.append(f"against {label} too few trials to rank")
                continue
            direction = "rises" if c.rho > 0 else "falls"
            said.append(
                f"against {label} {rho_words(c)}: {strength(c)} monotone relation"
                + (f" (accuracy {direction} with it)" if strength(c) != "no clear" else "")
            )
        lines.append(f"At {100 * fraction:g}% of the labels, the frozen linear probe's accuracy: " + "; ".join(said) + ".")
    top = max(result.fractions)
    c = result.correlations.get((top, "test_psnr"))
    if c is not None:
        if strength(c) == "no clear":
            answer = "these trials cannot say whether a better reconstruction gives better linear features"
        elif c.rho > 0:
            answer = "a better reconstruction goes with better linear features"
        else:
            answer = "a better reconstruction goes with worse linear features"
        lines.append(f"So, at {100 * top:g}% of the labels and over these {c.n} trials, {answer}.")
    return " ".join(lines)


def front_report(result: FrontResult, files: dict[str, Path]) -> str:
    table = result.table().assign(test_accuracy=lambda t: 100 * t["test_accuracy"], std=lambda t: 100 * t["std"])
    table = table.round({"test_psnr": 2, "test_accuracy": 1, "std": 1, "seconds": 1}).rename(columns={"test_accuracy": "test accuracy %"})
    lines = [
        f"# Reconstruction against features: study {result.study}",
        "",
        f"Data: {result.source}; {result.train_images:,} train images (fractions of these, class-balanced, seeded), "
        f"{result.val_images:,} validation images for the probe's C, {result.test_images:,} test images. The frozen linear probe (the "
        f"standardised code, logistic regression, C on validation) of every complete trial's code; PSNR is the trial's own "
        f"test reconstruction's. Spearman's ρ over trials of the mean accuracy "
        f"(scipy.stats.spearmanr; its p-value exact over every ordering up to {EXACT_UP_TO} trials). Chance is {result.chance:.1%}.",
        "",
        table.to_markdown(index=False),
        "",
        front_reading(result),
        "",
        *([f"Left out: {'; '.join(result.skipped)}.", ""] if result.skipped else []),
        f"![accuracy against latent size and PSNR]({files['png'].name})",
        "",
    ]
    return "\n".join(lines)


def render_front(result: FrontResult, out: Path) -> dict[str, Path]:
    """Write ``transfer-front.csv`` (one row per run, with the trial's latent size and PSNR), ``.json``, ``.png`` and ``.md``."""
    files = {name: out / f"transfer-front.{name}" for name in ("csv", "json", "png", "md")}
    infos = {t.number: t for t in result.trials}
    runs = pd.DataFrame([dataclasses.asdict(r) for r in result.runs])
    runs.insert(1, "latent_size", [infos[t].latent_size for t in runs["trial"]])
    runs.insert(2, "test_psnr", [infos[t].test_psnr for t in runs["trial"]])
    runs.to_csv(files["csv"], index=False)
    correlations = {f"{f:g} {axis}": dataclasses.asdict(c) for (f, axis), c in result.correlations.items()}
    document = {
        "study": result.study,
        "data": result.source,
        "train_images": result.train_images,
        "val_images": result.val_images,
        "test_images": result.test_images,
        "chance": result.chance,
        "fractions": list(result.fractions),
        "seeds": result.seeds,
        "trials": [dataclasses.asdict(t) for t in result.trials],
        "skipped": list(result.skipped),
        "correlations": correlations,
        "runs": [dataclasses.asdict(r) for r in result.runs],
    }
    files["json"].write_text(json.dumps(document, indent=2) + "\n")
    plot_front(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(front_report(result, files))
    return files
