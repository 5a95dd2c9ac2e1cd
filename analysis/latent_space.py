"""Do the classes cluster in the latent space? Test images encoded, drawn by class, and scored.

    python -m analysis.latent_space --study NAME [--trial N ...] [--samples 1000] [--method tsne|umap] [--out DIR]

Encodes ``--samples`` random test images (seeded) with each trial's encoder. A 2-value latent is
drawn as it is; a larger one through t-SNE (scikit-learn) or UMAP (``--method umap``, where
``umap-learn`` is installed). The silhouette score of the CIFAR-10 classes, computed in the
latent space itself (not in the 2-D drawing), answers "do the classes cluster?" in one number
(−1 to 1; near 0: they overlap); the same score on raw pixels is the reference to beat.

Default trials: the study's best and, when another complete trial has a smaller latent, the one
with the smallest (in spaces/latent2.yaml: latent 2 against the best larger latent), side by side.
Writes ``latent_space.png``, ``latent_space.csv`` (the 2-D points with their class),
``latent_space.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from rich.console import Console
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score

from analysis.cli import nonnegative_int, output_dir, print_written, run, study_parser
from analysis.trial_model import encode_images, load_trial, pixels_of
from cae.data import ImageSet
from cae.tasks import task_of
from search.best import best_trial, load_best
from search.cli import positive_int
from search.display import best_val_mse
from search.storage import StorageError, default_storage, load_study

METHODS = ("tsne", "umap")


@dataclass(frozen=True)
class Embedded:
    label: str  # "trial 3 (latent 2)"
    latent_size: int
    method: str  # "as is" for 2-D latents
    points: np.ndarray  # N × 2
    silhouette: float  # of the classes, in the latent space


def to_2d(vectors: np.ndarray, method: str, seed: int = 0) -> tuple[np.ndarray, str]:
    """The 2-D drawing of ``vectors``: themselves when 2-D, else t-SNE or UMAP."""
    if vectors.shape[1] == 2:
        return vectors, "as is"
    if vectors.shape[1] == 1:
        return np.column_stack([vectors[:, 0], np.zeros(len(vectors))]), "as is (1-D)"
    if method == "umap":
        try:
            import umap  # optional: not a dependency
        except ImportError:
            raise StorageError("--method umap: umap-learn is not installed (pip install umap-learn), or use --method tsne") from None
        return umap.UMAP(random_state=seed).fit_transform(vectors), "UMAP"
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    return TSNE(perplexity=perplexity, init="pca", random_state=seed).fit_transform(vectors), "t-SNE"


def class_silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette of the classes (Euclidean, in the given space); 0 when fewer than two classes."""
    return float(silhouette_score(vectors, labels)) if len(set(labels.tolist())) > 1 else 0.0


def sample_test(images: ImageSet, samples: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:samples]
    return images.images[order], images.labels[order].numpy()


def default_trials(study_name: str, storage: str | None) -> list[int]:
    """The best trial and, if smaller, the complete trial with the smallest latent."""
    study, _ = load_study(study_name, storage or default_storage(study_name))
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and "latent_size" in t.user_attrs]
    if not complete:
        load_best(study_name, storage)  # raises, with the study's state counts
    best = best_trial(study)  # the lowest error, in a study of several objectives too
    smallest = min(complete, key=lambda t: (t.user_attrs["latent_size"], best_val_mse(t)))
    return [best.number] if smallest.number == best.number else [smallest.number, best.number]


def plot(embedded: list[Embedded], classes: tuple[str, ...], labels: np.ndarray, title: str, path: Path) -> Path:
    sns.set_theme(style="white")
    fig, axes = plt.subplots(1, len(embedded), figsize=(6.2 * len(embedded), 5.6), squeeze=False)
    names = np.array(classes)[labels]
    for i, (ax, e) in enumerate(zip(axes[0], embedded, strict=True)):
        sns.scatterplot(x=e.points[:, 0], y=e.points[:, 1], hue=names, hue_order=list(classes), palette="tab10", s=12, ax=ax, legend=i == 0)
        ax.set(title=f"{e.label}: {e.method}, silhouette {e.silhouette:.3f}", xticks=[], yticks=[])
    if axes[0][0].get_legend() is not None:
        sns.move_legend(axes[0][0], "upper left", bbox_to_anchor=(-0.02, -0.02), ncol=5, fontsize=8, title=None, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(study: str, rows: pd.DataFrame, pixels: float, samples: int, files: dict[str, Path]) -> str:
    best = rows.loc[rows["silhouette"].idxmax()]
    lines = [
        f"# Latent space by class: study `{study}`",
        "",
        f"{samples:,} random test images (seed 0) encoded by each trial; the silhouette score of the 10 classes is computed "
        "in the latent space itself (−1 to 1; near 0 the classes overlap, 1 would be separate clusters). "
        f"Raw pixels score {pixels:.3f}.",
        "",
        rows.to_markdown(index=False, floatfmt=".3f"),
        "",
        f"![latent space by class]({files['png'].name})",
        "",
        f"The classes cluster best in {best['trial']} (silhouette {best['silhouette']:.3f}, "
        f"{best['silhouette'] - pixels:+.3f} against raw pixels). "
        + (
            "No latent space here separates the classes much better than pixels do: an autoencoder trained to reconstruct "
            "keeps what pixels share (colour, brightness, layout), not what a class is."
            if rows["silhouette"].max() < pixels + 0.05
            else "The encoder has gathered images of a class closer together than their pixels were."
        ),
        "",
    ]
    return "\n".join(lines)


def command(args: argparse.Namespace, console: Console) -> int:
    trials = args.trial or default_trials(args.study, args.storage)
    loaded = [load_trial(args.study, args.storage, n) for n in dict.fromkeys(trials)]
    data = loaded[0].data()
    images, labels = sample_test(data.test, args.samples)
    numbers = ", ".join(str(t.trial.number) for t in loaded)
    console.print(f"{len(images):,} test images from {data.source}; trials {numbers}", highlight=False)
    embedded = []
    for trial in loaded:
        vectors = encode_images(trial.model.eval().encode, images, task_of(trial.model))
        console.print(f"trial {trial.trial.number}: latent {vectors.shape[1]:,} values; drawing it …", highlight=False)
        points, method = to_2d(vectors, args.method)
        label = f"trial {trial.trial.number} (latent {vectors.shape[1]:,})"
        embedded.append(Embedded(label, vectors.shape[1], method, points, class_silhouette(vectors, labels)))
    # the pixels the (first) trial's encoder sees: gray ones for a colorizer
    pixels = class_silhouette(encode_images(pixels_of, images, task_of(loaded[0].model)), labels)
    out = output_dir(args)
    files = {"png": out / "latent_space.png", "csv": out / "latent_space.csv", "md": out / "latent_space.md"}
    rows = pd.DataFrame(
        [{"trial": e.label, "latent size": e.latent_size, "drawn with": e.method, "silhouette": e.silhouette} for e in embedded]
    )
    names = np.array(data.classes)[labels]
    points = pd.concat([pd.DataFrame({"trial": e.label, "x": e.points[:, 0], "y": e.points[:, 1], "class": names}) for e in embedded])
    points.to_csv(files["csv"], index=False)
    plot(embedded, data.classes, labels, f"study {args.study}: {len(images):,} test images by class", files["png"])
    files["md"].write_text(report(args.study, rows, pixels, len(images), files))
    console.print(rows.to_string(index=False), highlight=False)
    console.print(f"raw pixels: silhouette {pixels:.3f}", highlight=False)
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
