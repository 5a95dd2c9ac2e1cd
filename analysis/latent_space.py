"""Do the classes cluster in the latent space? Test images encoded, drawn by class, and scored.

    python -m analysis.latent_space --study NAME [--trial N ...] [--samples 1000] [--method tsne|umap|pca] [--out DIR]

Encodes ``--samples`` random test images (seeded) with each trial's encoder. A 2-value latent is
drawn as it is; a larger one through t-SNE (scikit-learn), UMAP (``--method umap``, where
``umap-learn`` is installed) or its two leading principal components (``--method pca``: linear and
fast). The silhouette score of the data's classes (CIFAR-10's ten, MNIST's digits, a folder's class
folders), computed in the latent space itself (not in the 2-D drawing), answers "do the classes
cluster?" in one number (−1 to 1; near 0: they overlap); the same score on raw pixels is the
reference to beat. Images without classes (a folder with no class folders) are refused in one line
(:class:`analysis.dataset.NoClassesError`): the question and its one number are about classes, and
:mod:`analysis.evaluate` and :mod:`analysis.activations` look at such a study's trials without them.
The report reads each score with Kaufman and Rousseeuw's thresholds (:data:`CLUSTERING`) and calls a score within :data:`LEVEL` of the
pixels' level with them.

Default trials: the study's best and, when another complete trial has a smaller latent, the one
with the smallest (in spaces/latent2.yaml: latent 2 against the best larger latent), side by side.
:func:`compute` encodes and scores (no files, silent); :func:`plot` draws the classes in each trial's
latent as a matplotlib Figure; :func:`render` writes ``latent_space.png`` (that figure),
``latent_space.csv`` (the 2-D points with their class) and ``latent_space.md``. From Python, given a
study ``latent2``::

    from analysis import latent_space
    result = latent_space.compute("latent2", samples=200, method="pca")
    [e.silhouette for e in result.embedded], result.pixels
    latent_space.plot(result)                        # shown inline by Jupyter
    latent_space.render(result, Path("out"))
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from rich.console import Console
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from analysis.cli import nonnegative_int, output_dir, print_written, run, study_parser
from analysis.dataset import data_name, require_classes
from analysis.encoding import encode_images, pixels_of
from cae.data import ImageSet
from cae.figures import DPI, new_figure, themed
from cae.tasks import task_of
from search.command_line import positive_int
from search.runtime.storage import StorageError, default_storage, load_study
from search.trials.best import best_trial, load_best
from search.trials.objectives import best_val_mse
from search.trials.record import read_trial
from search.trials.trial_model import load_trial

METHODS = ("tsne", "umap", "pca")
SEED = 0
# Kaufman and Rousseeuw's reading of an average silhouette (Finding Groups in Data, 1990): at or
# below 0.25 there is no substantial structure. Highest threshold first.
CLUSTERING = ((0.70, "strong clusters"), (0.50, "reasonable clusters"), (0.25, "weak clusters"))
# A gap to the pixels' score below this is not worth a sentence of its own: the two are called level.
LEVEL = 0.05


@dataclass(frozen=True)
class Embedded:
    label: str  # "trial 3 (latent 2)"
    trial: int
    latent_size: int
    method: str  # "as is" for 2-D latents
    vectors: np.ndarray  # N × latent_size: the latent, where the silhouette is computed
    points: np.ndarray  # N × 2: the drawing only
    silhouette: float  # of the classes, in the latent space


@dataclass(frozen=True)
class LatentSpaceResult:
    """Everything :func:`render` draws and writes; :func:`compute` makes it."""

    study: str
    source: str  # the data's description
    classes: tuple[str, ...]  # of the data: every label is an index into them
    labels: np.ndarray  # the class of each sampled test image
    embedded: tuple[Embedded, ...]
    pixels: float  # the class silhouette of the pixels the first trial's encoder sees
    pixels_label: str  # "raw pixels", or "raw gray pixels" for a colorizer
    dataset: str = "the data"  # its name for sentences: "CIFAR-10"

    @property
    def samples(self) -> int:
        return len(self.labels)


# ---------------------------------------------------------------- compute


def to_2d(vectors: np.ndarray, method: str, seed: int = SEED) -> tuple[np.ndarray, str]:
    """The 2-D drawing of ``vectors``: themselves when 2-D, else t-SNE, UMAP or PCA."""
    if vectors.shape[1] == 2:
        return vectors, "as is"
    if vectors.shape[1] == 1:
        return np.column_stack([vectors[:, 0], np.zeros(len(vectors))]), "as is (1-D)"
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(vectors), "PCA"
    if method == "umap":
        try:
            import umap  # optional: not a dependency
        except ImportError:
            raise StorageError(
                "method='umap': umap-learn is not installed (pip install umap-learn); choose method='tsne' or method='pca'"
            ) from None
        return umap.UMAP(random_state=seed).fit_transform(vectors), "UMAP"
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    return TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors), "t-SNE"


def class_silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette of the classes (Euclidean, in the given space); 0 when fewer than two classes."""
    return float(silhouette_score(vectors, labels)) if len(set(labels.tolist())) > 1 else 0.0


def sample_test(images: ImageSet, samples: int, seed: int = SEED) -> tuple[torch.Tensor, np.ndarray]:
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:samples]
    return images.images[order], images.labels[order].numpy()


def default_trials(study_name: str, storage: str | None) -> list[int]:
    """The best trial and, if smaller, the complete trial with the smallest latent."""
    study, _ = load_study(study_name, storage or default_storage(study_name))
    sizes = {t.number: read_trial(t).latent_size for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"}
    complete = [t for t in study.get_trials(deepcopy=False) if sizes.get(t.number) is not None]
    if not complete:
        load_best(study_name, storage)  # raises, with the study's state counts
    best = best_trial(study)  # the lowest error, in a study of several objectives too
    smallest = min(complete, key=lambda t: (sizes[t.number], best_val_mse(t)))
    return [best.number] if smallest.number == best.number else [smallest.number, best.number]


def compute(
    study_name: str,
    *,
    storage: str | None = None,
    trials: Sequence[int] | None = None,
    samples: int = 1000,
    method: str = "tsne",
    console: Console | None = None,
) -> LatentSpaceResult:
    """Encode ``samples`` seeded test images with each trial (default: :func:`default_trials`) and score their classes::

        result = compute("latent2", samples=200, method="pca")
        [e.silhouette for e in result.embedded], result.pixels

    Args:
        console: where progress lines go; without one (the default) nothing is printed.
    """
    console = console or Console(quiet=True)
    numbers = trials or default_trials(study_name, storage)
    loaded = [load_trial(study_name, storage, n) for n in dict.fromkeys(numbers)]
    data = loaded[0].data()
    description = data.describe()
    require_classes(description, "the latent space's class silhouette")
    images, labels = sample_test(data.test, samples)
    console.print(
        f"{len(images):,} test images from {data.source}; trials {', '.join(str(t.trial.number) for t in loaded)}", highlight=False
    )
    embedded = []
    for trial in loaded:
        vectors = encode_images(trial.model.eval().encode, images, task_of(trial.model))
        console.print(f"trial {trial.trial.number}: latent {vectors.shape[1]:,} values; drawing it …", highlight=False)
        points, drawn = to_2d(vectors, method)
        label = f"trial {trial.trial.number} (latent {vectors.shape[1]:,})"
        embedded.append(Embedded(label, trial.trial.number, vectors.shape[1], drawn, vectors, points, class_silhouette(vectors, labels)))
    # the pixels the (first) trial's encoder sees: gray ones for a colorizer
    task = task_of(loaded[0].model)
    pixels = class_silhouette(encode_images(pixels_of, images, task), labels)
    pixels_label = "raw gray pixels" if task.in_channels < description.shape[0] else "raw pixels"
    name = data_name(description)
    return LatentSpaceResult(study_name, data.source, data.classes, labels, tuple(embedded), pixels, pixels_label, name)


# ---------------------------------------------------------------- render


def scores_table(result: LatentSpaceResult) -> pd.DataFrame:
    return pd.DataFrame(
        [{"trial": e.label, "latent size": e.latent_size, "drawn with": e.method, "silhouette": e.silhouette} for e in result.embedded]
    )


def points_table(result: LatentSpaceResult) -> pd.DataFrame:
    """``latent_space.csv``: each trial's 2-D points with their class."""
    names = np.array(result.classes)[result.labels]
    return pd.concat([pd.DataFrame({"trial": e.label, "x": e.points[:, 0], "y": e.points[:, 1], "class": names}) for e in result.embedded])


def clustering(silhouette: float) -> str:
    """What an average class silhouette says, with the threshold that says it."""
    for floor, words in CLUSTERING:
        if silhouette > floor:
            return f"the classes form {words} (silhouette {silhouette:.3f}, above {floor:g})"
    if silhouette >= 0:
        return f"the classes form no clusters (silhouette {silhouette:.3f}, at most 0.25)"
    return f"the classes form no clusters (silhouette {silhouette:.3f}: an image is nearer another class than its own, on average)"


def against_pixels(silhouette: float, pixels: float, pixels_label: str) -> str:
    gap = silhouette - pixels
    if gap >= LEVEL:
        return f"{gap:.3f} above {pixels_label}: the encoder has gathered each class closer together than its pixels were"
    if gap <= -LEVEL:
        return f"{-gap:.3f} below {pixels_label}: the encoder has mixed the classes more than their pixels were"
    return f"level with {pixels_label} ({gap:+.3f}, within {LEVEL:g})"


def findings(result: LatentSpaceResult) -> list[str]:
    """Conclusions, each computed from the numbers of this run."""
    lines = [
        f"- {e.label}: {clustering(e.silhouette)}; {against_pixels(e.silhouette, result.pixels, result.pixels_label)}."
        for e in result.embedded
    ]
    if len(result.embedded) > 1:
        best = max(result.embedded, key=lambda e: e.silhouette)
        lines.append(f"- The highest silhouette is {best.label}'s.")
    return lines


def plot(result: LatentSpaceResult) -> Figure:
    """Each trial's sampled test images in 2-D, coloured by class, side by side; titled with the silhouette."""
    embedded, classes = result.embedded, result.classes
    names = np.array(classes)[result.labels]
    # ten colours tell ten classes apart; a hundred (CIFAR-100) get a continuous palette and no legend
    palette = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "husl"
    with themed("white"):
        fig = new_figure(figsize=(6.2 * len(embedded), 5.6))
        axes = fig.subplots(1, len(embedded), squeeze=False)
        for i, (ax, e) in enumerate(zip(axes[0], embedded, strict=True)):
            legend = i == 0 and len(classes) <= 20
            sns.scatterplot(
                x=e.points[:, 0], y=e.points[:, 1], hue=names, hue_order=list(classes), palette=palette, s=12, ax=ax, legend=legend
            )
            ax.set(title=f"{e.label}: {e.method}, silhouette {e.silhouette:.3f}", xticks=[], yticks=[])
        if axes[0][0].get_legend() is not None:
            sns.move_legend(axes[0][0], "upper left", bbox_to_anchor=(-0.02, -0.02), ncol=5, fontsize=8, title=None, frameon=False)
        fig.suptitle(f"study {result.study}: {result.samples:,} test images by class")
        fig.tight_layout()
    return fig


def report(result: LatentSpaceResult, files: dict[str, Path]) -> str:
    n_classes = len(set(result.labels.tolist()))
    thresholds = ", ".join(f"above {floor:g} {words}" for floor, words in reversed(CLUSTERING))
    return "\n".join(
        [
            f"# Latent space by class: study `{result.study}`",
            "",
            f"{result.samples:,} random test images (seed {SEED}) of {result.source}, encoded by each trial; the silhouette "
            f"score of their {n_classes} classes (of {len(result.classes)} in {result.dataset}) is computed in the latent space "
            f"itself, not in the 2-D drawing (−1 to 1, read as Kaufman and Rousseeuw do: {thresholds}; near 0 the classes overlap). "
            f"{result.pixels_label.capitalize()} score {result.pixels:.3f}"
            + (" (a colorizer's encoder sees the gray image)." if result.pixels_label == "raw gray pixels" else "."),
            "",
            scores_table(result).to_markdown(index=False, floatfmt=".3f"),
            "",
            f"![latent space by class]({files['png'].name})",
            "",
            *findings(result),
            "",
        ]
    )


def render(result: LatentSpaceResult, out: Path) -> dict[str, Path]:
    files = {"png": out / "latent_space.png", "csv": out / "latent_space.csv", "md": out / "latent_space.md"}
    points_table(result).to_csv(files["csv"], index=False)
    plot(result).savefig(files["png"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    result = compute(args.study, storage=args.storage, trials=args.trial, samples=args.samples, method=args.method, console=console)
    files = render(result, output_dir(args))
    console.print(scores_table(result).to_string(index=False), highlight=False)
    console.print(f"{result.pixels_label}: silhouette {result.pixels:.3f}", highlight=False)
    for line in findings(result):
        console.print(line, highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m analysis.latent_space", "Test images in the latent space of a study's trials, by class.")
    parser.add_argument("--trial", type=nonnegative_int, action="append", metavar="N", help="a trial to draw (repeatable)")
    parser.add_argument("--samples", type=positive_int, default=1000, metavar="N", help="test images to encode (default 1000)")
    parser.add_argument("--method", choices=METHODS, default="tsne", help="how larger latents are drawn in 2-D (default tsne)")
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
