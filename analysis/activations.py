"""What each layer of a trained CAE makes of one test image: its feature maps, layer by layer.

    python -m analysis.activations --study recon [--trial N] [--image CLASS] [--index K] [--channels 16] [--storage URL] [--out DIR]

Takes a complete trial (default: the study's best, see :mod:`search.trials.trial_model`) and the K-th
test image of a class (default: the data's first class, ``airplane`` in CIFAR-10; in a folder of images
without classes, the K-th test image), and records the output of every encoder
and decoder layer of its architecture (after the layer's activation) with forward hooks. A
colorizer is fed the gray image it was trained on. Writes to ``studies/<study>/analysis/`` (or
``--out``):

- ``activations.png`` (:func:`plot`): the input image, one row per layer (part, index, layer, output C×H×W) with
  up to ``--channels`` of its feature maps, each scaled to its own min–max, and the output image;
- ``reconstructions.png``: the first ten test images over their reconstructions (:func:`plot_reconstructions`),
  titled with the study, trial and split, rows labelled, each reconstruction's MSE and PSNR under it;
- ``reconstructions-<class>.png``: the same of the first ten test images of the class;
- ``activations.md``: the trial, the image, each layer's output shape and statistics, and what the
  numbers say: the image's own reconstruction error against the trial's, and which maps are constant.

:func:`compute` runs the model (no files, silent); :func:`plot` draws the feature maps as a
matplotlib Figure; :func:`render` writes the files. From Python, given a study ``recon``::

    from analysis import activations
    result = activations.compute("recon", image="cat", index=3)
    [tuple(o.shape) for o in result.outputs], result.image_mse
    activations.plot(result)                         # shown inline by Jupyter
    activations.render(result, Path("out"))
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from rich.console import Console
from torch import nn

from analysis.cli import output_dir, print_written, run, trial_parser
from cae.builder import CAE
from cae.data import Splits
from cae.figures import DPI, new_figure, reconstruction_figure, reconstruction_rows
from cae.metrics import psnr
from cae.spec import Architecture, describe
from cae.tasks import task_of
from cae.training import reconstruct, to_unit
from search.command_line import number_flag, positive_int
from search.runtime.storage import StorageError
from search.space import did_you_mean
from search.trials.objectives import best_val_mse
from search.trials.record import read_trial
from search.trials.trial_model import load_trial

GRID_IMAGES = 10
PAD = 2  # pixels between feature maps, on the scale of the largest map
UNSAFE = re.compile(r"[^\w.-]+")  # what a class name may hold that a file name may not
SAVE = {"dpi": DPI, "bbox_inches": "tight", "pad_inches": 0.1}  # how activations.png is saved: see activations_figure


@dataclass(frozen=True)
class ActivationsResult:
    """Everything :func:`render` draws and writes; :func:`compute` makes it."""

    study: str
    trial: int
    name: str  # "study S, trial N"
    val_mse: float  # the trial's best validation MSE
    test_mse: float | None  # the trial's test MSE, where it recorded one
    arch: Architecture
    task: str
    source: str  # the data's description
    n_test: int
    class_name: str  # as the data spells it, whatever case was typed; "" for images without classes
    k: int  # the image is its class's k-th test image (from 0)
    index: int  # and test image ``index`` of the split
    in_class: int  # test images of that class (all of them, without classes)
    channels: int  # feature maps drawn per layer
    inputs: torch.Tensor  # C×H×W: what the model sees (gray for a colorizer)
    outputs: tuple[torch.Tensor, ...]  # one C×H×W per row of ``arch.shapes``, raw
    output: torch.Tensor  # 3×H×W: the model's RGB image
    truth: torch.Tensor  # 3×H×W: the test image
    grid: tuple[torch.Tensor, ...]  # the first test images over their reconstructions: rows of N×3×H×W
    class_grid: tuple[torch.Tensor, ...]  # the same for the first test images of the class (none without classes)
    class_indices: tuple[int, ...]  # the test-split indices of ``class_grid``'s images

    @property
    def image_mse(self) -> float:
        return F.mse_loss(self.output, self.truth).item()


# ---------------------------------------------------------------- capture


def layer_modules(model: CAE) -> list[nn.Module]:
    """The module whose output is each spec layer's output, in the order of ``model.arch.shapes``.

    :func:`cae.builder.make_layers` records where each spec layer's modules end (``layer_ends``), so
    any layer kind, with or without normalisation and activation, is found without a map kept here.
    """
    found: list[nn.Module] = []
    for part, layers, sequential in (("encoder", model.arch.encoder, model.encoder), ("decoder", model.arch.decoder, model.decoder)):
        ends = sequential.layer_ends  # declared by cae.builder.LayerStack
        if len(ends) != len(layers):
            raise ValueError(f"the {part}'s modules do not follow its architecture ({len(layers)} layers)")
        if ends[-1] != len(sequential) - 1:
            raise ValueError(f"the {part} has {len(sequential)} modules where its architecture's layers make {ends[-1] + 1}")
        found += [sequential[end] for end in ends]
    return found


@torch.inference_mode()
def layer_outputs(model: CAE, inputs: torch.Tensor) -> list[torch.Tensor]:
    """Every spec layer's output for the model input ``inputs`` (N×C×H×W), one tensor per row of
    ``model.arch.shapes``, on the CPU. The last one is the decoder's, before ``model.output``."""
    model.eval()
    captured: list[torch.Tensor] = []

    def keep(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured.append(output.detach().to("cpu", torch.float32, copy=True).contiguous())  # a copy: later layers may work in place

    handles = [module.register_forward_hook(keep) for module in layer_modules(model)]
    try:
        model(inputs.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return captured


# ---------------------------------------------------------------- choosing images


def class_label(classes: tuple[str, ...], name: str) -> int:
    """The label of class ``name`` (exact, else ignoring case); :class:`StorageError` if there is none."""
    if name in classes:
        return classes.index(name)
    folded = [c for c in classes if c.casefold() == name.casefold()]
    if len(folded) == 1:
        return classes.index(folded[0])
    raise StorageError(f"image={name!r}: no such class{did_you_mean(classes, name)}; expected one of {', '.join(classes)}")


def class_images(labels: torch.Tensor, label: int, count: int | None = None) -> torch.Tensor:
    """Indices of the images labelled ``label`` (the first ``count`` of them), in split order."""
    return torch.nonzero(labels == label).flatten()[:count]


def chosen_image(data: Splits, name: str | None, k: int) -> int:
    """The test-split index of the ``k``-th (0-based) test image of class ``name`` (default: the first class);
    of images without classes, the ``k``-th test image."""
    if not data.classes:
        if name is not None:
            raise StorageError(f"image={name!r}: {data.source} has no classes; leave out image= for test image {k}")
        if k >= len(data.test):
            raise StorageError(f"index={k}: the test split has {len(data.test)} images (0 to {len(data.test) - 1}) in {data.source}")
        return k
    name = name or data.classes[0]
    indices = class_images(data.test.labels, class_label(data.classes, name))
    if k >= len(indices):
        held = f"0 to {len(indices) - 1}" if len(indices) else "none"
        raise StorageError(f"index={k}: the test split has {len(indices)} {name} image(s) ({held}) in {data.source}")
    return int(indices[k])


# ---------------------------------------------------------------- figure


def scaled_maps(maps: torch.Tensor) -> torch.Tensor:
    """C×H×W maps each scaled to [0, 1] by its own min and max (a constant map becomes 0)."""
    flat = maps.flatten(1)
    low, high = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    span = high - low
    return torch.where(span > 0, (maps - low) / span.clamp_min(1e-12), torch.zeros_like(maps))


def _strip(tiles: list[np.ndarray], columns: int, size: int) -> np.ndarray:
    """RGB tiles (size×size×3) side by side on white, ``columns`` wide whatever their number."""
    strip = np.ones((size, columns * (size + PAD) - PAD, 3))
    for i, tile in enumerate(tiles):
        strip[:, i * (size + PAD) : i * (size + PAD) + size] = tile
    return strip


def _tile(image: torch.Tensor, size: int) -> np.ndarray:
    """A C×H×W image (C = 3, or 1 for gray) as a size×size×3 array, enlarged with nearest-neighbour."""
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    return F.interpolate(rgb[None].float(), size=(size, size), mode="nearest")[0].permute(1, 2, 0).clamp(0, 1).numpy()


def layer_label(arch: Architecture, row: int, shown: int) -> str:
    """``encoder 0: conv 3×3/1 p1 → 8, relu`` over ``8×32×32``, saying when channels are left out."""
    shape = arch.shapes[row]
    c = shape.out_shape[0]
    latent = " · latent" if row == len(arch.encoder) - 1 else ""  # on the short line: the long one sets the width
    channels = f" · {shown} of {c} shown" if shown < c else ""
    return f"{shape.part} {shape.index}: {describe(shape.layer)}\n{'×'.join(map(str, shape.out_shape))}{latent}{channels}"


def activations_figure(
    arch: Architecture,
    inputs: torch.Tensor,
    outputs: Sequence[torch.Tensor],
    result: torch.Tensor,
    *,
    channels: int,
    title: str,
) -> Figure:
    """One figure: the input image (C×H×W), a row of up to ``channels`` feature maps per layer
    (``outputs``, one C×H×W tensor per row of ``arch.shapes``) and the output image ``result``."""
    if len(outputs) != len(arch.shapes):
        raise ValueError(f"{len(outputs)} feature maps for {len(arch.shapes)} layers")
    # Every map is drawn at the size of the largest, so that a row of 8×8 latent maps is as wide
    # as a row of 32×32 ones and each pixel is a visible block.
    size = max(arch.image_size, *(s.out_shape[1] for s in arch.shapes))
    columns = max(1, min(channels, max(s.out_shape[0] for s in arch.shapes)))
    colormap = matplotlib.colormaps["viridis"]
    rows: list[tuple[str, np.ndarray]] = [(f"input\n{'×'.join(map(str, inputs.shape))}", _strip([_tile(inputs, size)], columns, size))]
    for row, maps in enumerate(outputs):
        shown = scaled_maps(maps[:channels])
        big = F.interpolate(shown[:, None], size=(size, size), mode="nearest")[:, 0].numpy()
        rows.append((layer_label(arch, row, len(shown)), _strip([colormap(m)[..., :3] for m in big], columns, size)))
    rows.append((f"output\n{'×'.join(map(str, result.shape))}", _strip([_tile(result, size)], columns, size)))

    # Labels and title are text of known length: make room for them (and save with a tight box,
    # :data:`SAVE`, so that an estimate too small enlarges the picture instead of clipping the text).
    label_inches = 0.3 + 0.07 * max(len(line) for label, _ in rows for line in label.splitlines())
    title_inches = 0.4 + 0.078 * max(len(line) for line in title.splitlines())
    width = max(label_inches + 0.5 * columns, title_inches)
    fig = new_figure(figsize=(width, 0.55 * len(rows) + 0.8))
    axes = fig.subplots(len(rows), 1, squeeze=False)
    for ax, (label, strip) in zip(axes[:, 0], rows, strict=True):
        ax.imshow(strip, interpolation="nearest")
        ax.set_anchor("W")  # short rows start under the long ones, beside their labels
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(h_pad=0.3)
    return fig


def plot(result: ActivationsResult) -> Figure:
    """The input image, up to ``result.channels`` feature maps of every layer, and the output image (``activations.png``)."""
    title = (
        f"{result.name}: {_which_image(result)}, every layer's output\n"
        f"each map scaled to its own min–max (dark = min, yellow = max); up to {result.channels} channels per layer"
    )
    return activations_figure(result.arch, result.inputs, result.outputs, result.output, channels=result.channels, title=title)


def _which_image(result: ActivationsResult) -> str:
    """``test image 12 (cat 3)``; ``test image 12`` without classes."""
    return f"test image {result.index}" + (f" ({result.class_name} {result.k})" if result.class_name else "")


def plot_reconstructions(result: ActivationsResult, *, of_class: bool = False) -> Figure:
    """The first test images over the model's images of them; ``of_class``: the first of the image's class instead.

    Titled with the study, trial, split and which images; rows labelled ``input`` and ``output`` (a colorizer's
    ``gray``, ``predicted`` and ``truth``); each model image's MSE and PSNR under it.
    """
    if of_class and not result.class_name:
        raise ValueError(f"of_class=True: {result.source} has no classes; the first test images are of_class=False")
    rows = result.class_grid if of_class else result.grid
    shown = len(rows[0])
    if of_class:
        which = f'the first {shown} of the {result.in_class:,} test images of class "{result.class_name}"'
    else:
        which = f"the first {shown} of the {result.n_test:,} test images"
    return reconstruction_figure(rows, title=f"{result.name} · test split: {which}")


# ---------------------------------------------------------------- compute


def compute(
    study_name: str,
    *,
    storage: str | None = None,
    trial: int | None = None,
    image: str | None = None,
    index: int = 0,
    channels: int = 16,
) -> ActivationsResult:
    """Every layer's output for the ``index``-th test image of class ``image`` (default: the data's first class; without
    classes, the ``index``-th test image), through a trial (default: the best)::

    result = compute("recon", image="cat", index=3)
    [tuple(o.shape) for o in result.outputs], result.image_mse
    """
    loaded = load_trial(study_name, storage, trial)
    model = loaded.model
    data = loaded.data()
    at = chosen_image(data, image, index)
    label = int(data.test.labels[at])
    truth = to_unit(data.test.images[at : at + 1])
    inputs = task_of(model).inputs(truth)  # a colorizer sees the gray image
    # images without classes have no class to show the first images of: the grid of all test images is theirs
    in_class = class_images(data.test.labels, label, GRID_IMAGES) if data.classes else torch.arange(0)
    return ActivationsResult(
        study=study_name,
        trial=loaded.trial.number,
        name=loaded.name,
        val_mse=best_val_mse(loaded.trial),
        test_mse=read_trial(loaded.trial).test_mse,
        arch=model.arch,
        task=task_of(model).name,
        source=data.source,
        n_test=len(data.test),
        class_name=data.classes[label] if data.classes else "",
        k=index,
        index=at,
        in_class=int((data.test.labels == label).sum()) if data.classes else len(data.test),
        channels=channels,
        inputs=inputs[0].cpu(),
        outputs=tuple(o[0] for o in layer_outputs(model, inputs)),
        output=reconstruct(model, data.test.images[at : at + 1])[0].cpu(),
        truth=truth[0].cpu(),
        grid=reconstruction_rows(model, data.test.images[:GRID_IMAGES]),
        class_grid=reconstruction_rows(model, data.test.images[in_class]) if data.classes else (),
        class_indices=tuple(int(i) for i in in_class),
    )


# ---------------------------------------------------------------- report


def layer_table(arch: Architecture, outputs: Sequence[torch.Tensor]) -> pd.DataFrame:
    """Each layer's output shape and the statistics of its raw (unscaled) output on the image."""
    return pd.DataFrame(
        [
            {
                "part": s.part,
                "#": s.index,
                "layer": describe(s.layer) + (" ← latent" if i == len(arch.encoder) - 1 else ""),
                "output C×H×W": "×".join(map(str, s.out_shape)),
                "mean": round(out.mean().item(), 4),
                "min": round(out.min().item(), 4),
                "max": round(out.max().item(), 4),
                "exact zeros": f"{(out == 0).float().mean().item():.0%}",
            }
            for i, (s, out) in enumerate(zip(arch.shapes, outputs, strict=True))
        ]
    )


def constant_maps(maps: torch.Tensor) -> int:
    """How many of a layer's C×H×W maps hold one value over the whole image (drawn dark, showing nothing)."""
    flat = maps.flatten(1)
    return int((flat.max(1).values == flat.min(1).values).sum())


def findings(result: ActivationsResult) -> list[str]:
    """Conclusions, each computed from the numbers of this run."""
    mse = result.image_mse
    reference, split = (result.test_mse, "test") if result.test_mse is not None else (result.val_mse, "validation")
    ratio = mse / reference if reference > 0 else float("inf")
    side = "worse than" if ratio > 1 else "better than" if ratio < 1 else "equal to"
    lines = [
        f"- This image's {'reconstruction' if result.task == 'reconstruction' else 'colorization'}: MSE {mse:.5f} "
        f"({psnr(mse):.2f} dB), {ratio:.2f}× the trial's {split} MSE ({reference:.5f}): {side} the average over the {split} split."
    ]
    latent = len(result.arch.encoder) - 1
    constant = [(i, s, n) for i, (s, out) in enumerate(zip(result.arch.shapes, result.outputs, strict=True)) if (n := constant_maps(out))]
    if constant:
        listed = "; ".join(f"{s.part} {s.index}{' (latent)' * (i == latent)}: {n} of {s.out_shape[0]}" for i, s, n in constant)
        lines.append(f"- Channels constant over this image (dark where drawn; they carry nothing about it): {listed}.")
    else:
        lines.append("- Every channel of every layer varies over this image: none is constant.")
    return lines


def _last_layer(arch: Architecture) -> str:
    """What the table's last row is, for this architecture's output path."""
    if arch.classes is not None:
        return f"the last decoder layer's are chroma class logits, decoded to colour at T = {arch.classes.temperature:.3g}"
    if arch.linear_skip:
        return "the last decoder layer's are its correction, added to the linear path's image before the output"
    if arch.output == "none":
        return "the last decoder layer's are the model's output (it has no output activation)"
    return f"the last decoder layer's are before the output activation ({arch.output})"


def report(result: ActivationsResult, files: dict[str, Path]) -> str:
    """``activations.md``: the trial, the image, the layer table, what the numbers say, and the grids."""
    scores = f"best validation MSE {result.val_mse:.5f}" + (f", test MSE {result.test_mse:.5f}" if result.test_mse is not None else "")
    arch, name, k = result.arch, result.class_name, result.k
    colorizer = result.task != "reconstruction"  # not its input's channels: a gray dataset's autoencoder sees one too
    shown = ", ".join(map(str, result.class_indices))
    made = "their gray inputs and colorizations" if colorizer else "their reconstructions"
    if name:
        which = f"{name} image {k} (`--index {k}`, from 0) of its {result.in_class} {name} test images"
    else:
        which = f"`--index {k}` (the data has no classes)"
    of_class = (
        [
            f"The first {len(result.class_indices)} {name} test images (test images {shown}) over {made}:",
            "",
            f"![first {name} test images over their reconstructions]({files['class'].name})",
            "",
        ]
        if name
        else []
    )
    return "\n".join(
        [
            f"# Feature maps of {result.name}",
            "",
            f"Trial {result.trial} of study `{result.study}` ({scores}; latent {'×'.join(map(str, arch.latent_shape))} = "
            f"{arch.latent_size:,} values, {arch.n_params:,} parameters). Image: test image {result.index} of the split, "
            f"{which}; data: {result.source}, "
            f"{result.n_test:,} test images."
            + (" The model is a colorizer: its input is the image's gray (BT.601 luma)." if colorizer else ""),
            "",
            f"![feature maps of every layer]({files['png'].name})",
            "",
            "Each row is one layer's output after its activation; each map is scaled to its own min–max (dark: its minimum, "
            "yellow: its maximum; a constant map is dark), so the pictures show structure, not magnitude. The numbers below are "
            f"of the raw outputs on this image; {_last_layer(arch)}.",
            "",
            layer_table(arch, result.outputs).to_markdown(index=False),
            "",
            *findings(result),
            "",
            "## Reconstructions",
            "",
            f"The first {len(result.grid[0])} test images over {made}:",
            "",
            f"![first test images over their reconstructions]({files['all'].name})",
            "",
            *of_class,
        ]
    )


def render(result: ActivationsResult, out: Path) -> dict[str, Path]:
    files = {"png": out / "activations.png", "all": out / "reconstructions.png"}
    if result.class_name:  # images without classes have no class grid
        # a class name is the data's, not a file name: FashionMNIST has "T-shirt/top", MNIST "0 - zero"
        files["class"] = out / f"reconstructions-{UNSAFE.sub('_', result.class_name)}.png"
        plot_reconstructions(result, of_class=True).savefig(files["class"], dpi=DPI)
    files["md"] = out / "activations.md"
    plot(result).savefig(files["png"], **SAVE)
    plot_reconstructions(result).savefig(files["all"], dpi=DPI)
    files["md"].write_text(report(result, files))
    return files


# ---------------------------------------------------------------- command


def command(args: argparse.Namespace, console: Console) -> int:
    result = compute(args.study, storage=args.storage, trial=args.trial, image=args.image, index=args.index, channels=args.channels)
    files = render(result, output_dir(args))
    console.print(f"{result.name}: {_which_image(result)}", highlight=False)
    console.print(layer_table(result.arch, result.outputs).to_string(index=False), highlight=False)
    for line in findings(result):
        console.print(line, highlight=False)
    print_written(console, files)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = trial_parser("python -m analysis.activations", "Every layer's feature maps of a trained CAE for one test image.")
    parser.add_argument("--image", metavar="CLASS", help="the class of the test image (default: the data's first, airplane in CIFAR-10)")
    index = number_flag(int, "an index ≥ 0", inclusive=True)
    parser.add_argument("--index", type=index, default=0, metavar="K", help="the K-th test image of that class (default 0)")
    parser.add_argument("--channels", type=positive_int, default=16, metavar="N", help="feature maps shown per layer (default 16)")
    return run(command, parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
