"""How much of its data's classes can a linear classifier read from a trial's latent? A linear probe.

    python -m analysis.probe --study NAME [--trial N] [--max-train N] [--storage URL] [--out DIR]

Freezes the encoder of a complete trial (default: the best), encodes the study's train, validation
and test images (each latent flattened to one vector) and fits a linear classifier of their
classes (the study's dataset's: CIFAR-10's ten, MNIST's digits, a folder's class folders) on the
train split: standardised features, whitened by PCA, then multinomial
logistic regression (scikit-learn), its L2 strength chosen on the validation split. The same probe
runs on two references: an untrained encoder of the same architecture (``torch.manual_seed(0)``),
which separates what training taught from what the architecture alone gives; and the raw pixels
the encoder sees (the image's values; a colorizer's gray ones). Chance is the share
of the most frequent test class. ``--max-train N`` probes with a seeded random N of the train
images. Every seed is fixed: the same command gives the same numbers. Images without classes (a
folder with no class folders) are refused in one line (:class:`analysis.dataset.NoClassesError`).

Writes to ``studies/<study>/analysis/`` (or ``--out``): ``probe.json`` (everything), ``probe.csv``
(one row per representation: features, PCA components, C, train/val/test accuracy, seconds),
``probe.png`` (test accuracy per representation, chance as a line) and ``probe.md``, whose reading
calls a gap between two accuracies real only beyond :data:`NOISE` standard errors of their difference
on the test split. :func:`compute` encodes and fits (no files, silent unless given a console);
:func:`plot` draws the accuracies as a matplotlib Figure; :func:`render` writes. From Python, given
a study ``reference``::

    from analysis import probe
    result = probe.compute("reference", max_train=5000)
    result.accuracy("trained"), result.accuracy("pixels"), result.chance
    probe.plot(result)                               # shown inline by Jupyter
    probe.render(result, Path("out"))
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from rich.console import Console
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from analysis.cli import output_dir, print_written, run, trial_parser
from analysis.dataset import classes_words, require_classes
from analysis.encoding import encode_images, pixels_of, pixels_words
from cae.builder import build
from cae.figures import DPI, new_figure, themed
from cae.tasks import task_of
from cae.training import resolve_device
from search.command_line import positive_int
from search.trials.trial_model import load_trial

SEED = 0
# L2 strengths tried, scored on the validation split. Whitened features all have variance 1, so one
# grid fits every representation; small C matters when components are many and images few, and
# it reaches low enough for raw pixels, whose best C is the smallest.
CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MAX_ITER = 1000  # a cap only: on whitened features lbfgs converges in tens of iterations
# Up to this many features, PCA is a rotation that keeps every direction holding variance (see
# VARIANCE); above it, the covariance is too large to decompose in minutes on 2 cores, so a
# randomized PCA keeps the COMPONENTS leading ones, fitted on a seeded PCA_ROWS of the train images
# (the classifier still sees them all), since the fit's time grows with its rows.
MAX_FEATURES = 4096
COMPONENTS = 1024
PCA_ROWS = 10_000
# Whitening divides each direction by its spread; the directions beyond 99.99% of the variance are
# dead or duplicated units, whose rounding noise it would blow up.
VARIANCE = 0.9999
REPRESENTATIONS = {"trained": "trained encoder", "random": "random encoder", "pixels": "raw pixels"}
# On the few thousand test images of a study, two accuracies a point or two apart can swap with
# another sample: the report calls a gap real only beyond two standard errors of the difference.
NOISE = 2.0


@dataclass(frozen=True)
class Labelled:
    """Features (one row per image) and the images' class labels."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Probe:
    """What a linear classifier fitted on one representation's train features reads from it."""

    features: int  # the representation's size
    components: int  # after PCA: what the classifier sees
    c: float  # the inverse L2 strength chosen on the validation split
    iterations: int  # of lbfgs at that C (MAX_ITER: it did not converge)
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class Row:
    key: str  # trained, random or pixels
    label: str
    probe: Probe
    seconds: float  # encoding the three splits and fitting the probe


@dataclass(frozen=True)
class ProbeResult:
    """Everything :func:`render` writes; :func:`compute` makes it."""

    study: str
    trial: int
    name: str  # "study S, trial N"
    task: str
    latent_size: int
    source: str  # the data's description
    train_images: int  # used: all, or --max-train of them
    train_images_available: int
    val_images: int
    test_images: int
    chance: float  # the most frequent test class's share
    pixels: str  # what the pixel reference is, in words
    rows: dict[str, Row]  # trained, random, pixels
    classes: str = "the data's classes"  # which, in words: "the 10 classes of CIFAR-10"

    def accuracy(self, key: str) -> float:
        return self.rows[key].probe.test_accuracy


# ---------------------------------------------------------------- features and probe


@torch.inference_mode()
def chance(labels: np.ndarray) -> float:
    """Accuracy of always answering the most frequent class (0.1 for ten balanced classes)."""
    return float(np.bincount(labels).max() / len(labels))


def train_subset(n: int, max_train: int | None, seed: int = SEED) -> torch.Tensor:
    """Indices of the train images to probe with: all, or a seeded random ``max_train`` of them."""
    if max_train is None or max_train >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_train].sort().values


def features_pipeline(n_features: int, n_rows: int, *, seed: int = SEED) -> Pipeline:
    """Standardise, then whiten with PCA (to be fitted on ``n_rows`` images): nearly the same linear functions,
    but lbfgs converges in tens of iterations instead of hundreds."""
    if n_features > MAX_FEATURES:
        pca = PCA(min(COMPONENTS, n_rows, n_features), whiten=True, svd_solver="randomized", random_state=seed)
    else:
        pca = PCA(VARIANCE, whiten=True, svd_solver="covariance_eigh")  # exact, and fast when images outnumber features
    return make_pipeline(StandardScaler(), pca)


def linear_probe(
    train: Labelled,
    val: Labelled,
    test: Labelled,
    *,
    seed: int = SEED,
    whiten: bool = True,
    on_fit: Callable[[float, float], None] | None = None,
) -> Probe:
    """Fit a linear classifier of ``train`` for each C of :data:`CS`; keep the best on ``val``; score ``test``::

        probe = linear_probe(Labelled(x, y), Labelled(x_val, y_val), Labelled(x_test, y_test))
        probe.test_accuracy

    Args:
        whiten: standardise and whiten (:func:`features_pipeline`), or only standardise. Whitening makes lbfgs
            converge fast, but from few images it gives every direction of the noise the weight of the signal's:
            with few labelled images, standardise only (docs/results.md measures it: analysis.transfer's pixels).
            Unwhitened, each C's fit starts from the previous one's weights (C grows), which is what keeps it fast.
        on_fit: called with (C, validation accuracy) after each fit, for progress lines.
    """
    n_features = train.x.shape[1]
    if whiten:
        rows = train_subset(len(train.x), PCA_ROWS, seed).numpy() if n_features > MAX_FEATURES else slice(None)
        reduce = features_pipeline(n_features, min(len(train.x), PCA_ROWS), seed=seed).fit(train.x[rows])
    else:
        reduce = StandardScaler().fit(train.x)
    x_train, x_val, x_test = (reduce.transform(part.x) for part in (train, val, test))
    best: tuple[float, LogisticRegression] | None = None
    classifier = LogisticRegression(max_iter=MAX_ITER, warm_start=not whiten)
    for c in CS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # reported as Probe.iterations == MAX_ITER instead
            # lbfgs is deterministic: the randomized PCA's seed is the probe's only one
            classifier.set_params(C=c).fit(x_train, train.y)
        accuracy = classifier.score(x_val, val.y)
        if on_fit is not None:
            on_fit(c, accuracy)
        if best is None or accuracy > best[0]:  # ties keep the smaller C: the stronger regularisation
            best = (accuracy, copy.deepcopy(classifier))
    assert best is not None
    accuracy, classifier = best
    return Probe(
        features=n_features,
        components=x_train.shape[1],
        c=classifier.C,
        iterations=int(classifier.n_iter_.max()),
        train_accuracy=classifier.score(x_train, train.y),
        val_accuracy=accuracy,
        test_accuracy=classifier.score(x_test, test.y),
    )


# ---------------------------------------------------------------- compute


def compute(
    study_name: str,
    *,
    storage: str | None = None,
    trial: int | None = None,
    max_train: int | None = None,
    console: Console | None = None,
) -> ProbeResult:
    """Probe a trial's frozen encoder (default: the best), a random one of its architecture and the pixels::

        result = compute("reference", max_train=5000)
        result.accuracy("trained"), result.accuracy("pixels"), result.chance

    Args:
        max_train: fit with a seeded random sample of this many train images (default: all).
        console: where progress lines go; without one (the default) nothing is printed.
    """
    console = console or Console(quiet=True)
    loaded = load_trial(study_name, storage, trial)
    model, task = loaded.model, task_of(loaded.model)
    console.print(
        f"linear probe of {loaded.name} ({task.name}, latent {model.arch.latent_size:,} values); loading its data …", highlight=False
    )
    data = loaded.data()
    description = data.describe()
    require_classes(description, "a linear probe")
    chosen = train_subset(len(data.train), max_train)
    splits = {"train": (data.train.images[chosen], data.train.labels[chosen]), "val": (data.val.images, data.val.labels)}
    splits["test"] = (data.test.images, data.test.labels)
    console.print(f"train images used: {len(chosen):,} of {len(data.train):,}", highlight=False)
    with torch.random.fork_rng(devices=[]):  # the seed of the random encoder, without reseeding the caller's generator
        torch.manual_seed(SEED)
        random = build(model.arch)
    device = resolve_device("auto")
    pixels = pixels_words(task, description.shape)
    encoders = {"trained": model.encode, "random": random.encode, "pixels": pixels_of}
    for module in (model, random):
        module.eval().to(device, memory_format=torch.channels_last)
    rows: dict[str, Row] = {}
    for key, encoder in encoders.items():
        label = REPRESENTATIONS[key]
        start = time.perf_counter()
        console.print(f"{label}: encoding {sum(len(s[0]) for s in splits.values()):,} images …", highlight=False)
        parts = {name: Labelled(encode_images(encoder, images, task, device), labels.numpy()) for name, (images, labels) in splits.items()}
        console.print(f"{label}: fitting on {parts['train'].x.shape[1]:,} features …", highlight=False)

        def on_fit(c: float, accuracy: float, label: str = label) -> None:
            console.print(f"  {label}: C = {c:g}, validation accuracy {accuracy:.1%}", highlight=False)

        probe = linear_probe(parts["train"], parts["val"], parts["test"], on_fit=on_fit)
        rows[key] = Row(key, label, probe, time.perf_counter() - start)
        console.print(
            f"{label}: test accuracy {probe.test_accuracy:.1%} (train {probe.train_accuracy:.1%}, {probe.components:,} components, "
            f"C = {probe.c:g}) in {rows[key].seconds:.0f} s",
            highlight=False,
        )
    return ProbeResult(
        study=study_name,
        trial=loaded.trial.number,
        name=loaded.name,
        task=task.name,
        latent_size=model.arch.latent_size,
        source=data.source,
        classes=classes_words(description),
        train_images=len(chosen),
        train_images_available=len(data.train),
        val_images=len(data.val),
        test_images=len(data.test),
        chance=chance(data.test.labels.numpy()),
        pixels=pixels,
        rows=rows,
    )


# ---------------------------------------------------------------- report


def results_table(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "representation": r.label,
                "features": r.probe.features,
                "PCA components": r.probe.components,
                "C": r.probe.c,
                "train accuracy": round(r.probe.train_accuracy, 4),
                "val accuracy": round(r.probe.val_accuracy, 4),
                "test accuracy": round(r.probe.test_accuracy, 4),
                "seconds": round(r.seconds, 1),
            }
            for r in rows
        ]
    )


def plot(result: ProbeResult) -> Figure:
    """Test accuracy per representation (trained encoder, random encoder, pixels), chance as a line (``probe.png``)."""
    rows, chance_level = list(result.rows.values()), result.chance
    table = pd.DataFrame({"representation": [r.label for r in rows], "test accuracy %": [100 * r.probe.test_accuracy for r in rows]})
    with themed("whitegrid"):
        fig = new_figure(figsize=(6.5, 4.5))
        ax = fig.subplots()
        sns.barplot(table, x="representation", y="test accuracy %", hue="representation", palette="deep", legend=False, ax=ax)
        for container in ax.containers:
            ax.bar_label(container, fmt="%.1f%%", padding=3)
        ax.axhline(100 * chance_level, color="tab:red", ls="--", lw=1.5, label=f"chance ({100 * chance_level:.1f}%)")
        top = max(100 * max(r.probe.test_accuracy for r in rows) * 1.15, 100 * chance_level * 1.5)
        ax.set(xlabel="", ylim=(0, top), title=f"{result.name}: linear probe of {result.classes}")
        ax.legend(loc="upper right", fontsize=9)
        fig.tight_layout()
    return fig


def noise(n: int, *accuracies: float) -> float:
    """:data:`NOISE` standard errors of the difference of ``accuracies`` on ``n`` images (one: against a fixed level).

    Taken as independent, which overstates it for two probes scored on the same images: the cautious side.
    """
    return NOISE * math.sqrt(sum(a * (1 - a) for a in accuracies) / n)


def _points(a: float, b: float) -> str:
    """``a`` against ``b`` (accuracies) in percentage points, as words."""
    gap = 100 * (a - b)
    return f"{gap:.1f} points above" if gap >= 0.05 else f"{-gap:.1f} points below" if gap <= -0.05 else "level with"


def reading(result: ProbeResult) -> str:
    """A few sentences on the numbers, every claim computed from them."""
    trained, random, pixels = (result.accuracy(k) for k in ("trained", "random", "pixels"))
    chance_level, n, pixels_label = result.chance, result.test_images, result.rows["pixels"].label
    lines = [
        f"The trained encoder's latent gives **{trained:.1%}** test accuracy: {_points(trained, random)} a random encoder of "
        f"the same architecture ({random:.1%}) and {_points(trained, pixels)} the {pixels_label} ({pixels:.1%}); "
        f"chance is {chance_level:.1%}."
    ]
    margin = noise(n, trained, random)
    gap = 100 * (trained - random)
    beyond = f"more than the {100 * margin:.1f} points of sampling noise on {n:,} test images ({NOISE:g} standard errors)"
    if gap > 100 * margin:
        lines.append(f"Training made the classes easier to read linearly: {gap:.1f} points over random weights, {beyond}.")
    elif -gap > 100 * margin:
        lines.append(f"Training made the classes harder to read linearly: random weights score {-gap:.1f} points higher, {beyond}.")
    else:
        lines.append(
            f"Trained and random weights differ by {abs(gap):.1f} points, within the {100 * margin:.1f} points of sampling noise "
            f"on {n:,} test images ({NOISE:g} standard errors): this run cannot tell whether training helped."
        )
    if trained - chance_level <= noise(n, trained):
        lines.append(f"The trained latent reads no better than chance, within {100 * noise(n, trained):.1f} points of noise.")
    elif trained >= random:
        share = max(random - chance_level, 0) / (trained - chance_level)
        source = "the architecture, not training," if share >= 0.5 else "training, not the architecture,"
        lines.append(
            f"Of the trained encoder's lead over chance, {share:.0%} is there with random weights already: "
            f"{source} gives most of what a linear classifier reads here."
        )
    margin = noise(n, trained, pixels)
    if abs(trained - pixels) <= margin:
        lines.append(f"Against the {pixels_label}, the latent is level within {100 * margin:.1f} points of noise.")
    return " ".join(lines)


def summary(result: ProbeResult) -> dict[str, object]:
    """``probe.json``: the run's settings and every representation's probe."""
    return {
        "study": result.study,
        "trial": result.trial,
        "task": result.task,
        "latent_size": result.latent_size,
        "data": result.source,
        "classes": result.classes,
        "train_images": result.train_images,
        "train_images_available": result.train_images_available,
        "val_images": result.val_images,
        "test_images": result.test_images,
        "chance": result.chance,
        "pixels": result.pixels,
        "seed": SEED,
        "representations": {key: {"label": r.label, **dataclasses.asdict(r.probe), "seconds": r.seconds} for key, r in result.rows.items()},
    }


def setup(result: ProbeResult) -> str:
    """The report's paragraph on data and method."""
    used = f"{result.train_images:,} train images" + (
        f" (a seeded random sample of {result.train_images_available:,}, --max-train)"
        if result.train_images < result.train_images_available
        else ""
    )
    return (
        f"Data: {result.source}, read for {result.classes}; {used}, {result.val_images:,} validation and "
        f"{result.test_images:,} test images, the study's split. "
        f"Each representation is standardised and whitened by PCA (every direction holding {VARIANCE:.2%} of the variance; "
        f"the leading {COMPONENTS:,}, found on at most {PCA_ROWS:,} train images, for more than {MAX_FEATURES:,} features), "
        f"then classified by multinomial logistic regression (lbfgs) with the L2 strength C of {', '.join(f'{c:g}' for c in CS)} "
        f"that scores best on the validation split. The random encoder is the same architecture with PyTorch's default "
        f"initialisation under seed {SEED}; the pixels are {result.pixels}. Seconds: encoding the three splits and fitting."
    )


def report(result: ProbeResult, files: dict[str, Path]) -> str:
    capped = [r.label for r in result.rows.values() if r.probe.iterations >= MAX_ITER]
    return "\n".join(
        [
            f"# Linear probe: {result.name}",
            "",
            setup(result),
            "",
            results_table(list(result.rows.values())).to_markdown(index=False),
            "",
            reading(result),
            *(["", f"lbfgs stopped at its cap of {MAX_ITER} iterations for: {', '.join(capped)}."] if capped else []),
            "",
            f"![test accuracy per representation]({files['png'].name})",
            "",
        ]
    )


def render(result: ProbeResult, out: Path) -> dict[str, Path]:
    files = {"json": out / "probe.json", "csv": out / "probe.csv", "png": out / "probe.png", "md": out / "probe.md"}
    files["json"].write_text(json.dumps(summary(result), indent=2) + "\n")
    results_table(list(result.rows.values())).to_csv(files["csv"], index=False)
    plot(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    result = compute(args.study, storage=args.storage, trial=args.trial, max_train=args.max_train, console=console)
    files = render(result, output_dir(args))
    console.print(results_table(list(result.rows.values())).to_string(index=False), highlight=False)
    console.print(reading(result).replace("**", ""), highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = trial_parser(
        "python -m analysis.probe", "Linear probe of the data's classes on a trial's latent, a random encoder and pixels."
    )
    parser.add_argument("--max-train", type=positive_int, metavar="N", help="train images to fit with (default: all of the study's)")
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
