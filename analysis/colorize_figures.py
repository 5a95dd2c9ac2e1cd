"""The figures of :mod:`analysis.colorize`: the colorizations beside gray and the truth, and their colour against their error.

:func:`plot` draws ``colorize.png`` and :func:`plot_colour` ``colorize-colour.png`` from a
:class:`~analysis.colorize.ColorizeResult`; both are re-exported by :mod:`analysis.colorize`, where they are documented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from cae.figures import error_note, image_errors, image_rows_figure, new_figure, themed

if TYPE_CHECKING:  # the result type lives with compute, which imports this module
    from analysis.colorize import ColorizeResult


def plot(result: ColorizeResult) -> Figure:
    """The first test images in gray, as each variant colours them, and in truth: one labelled row each, every coloured
    image's MSE and PSNR against the truth under it (``colorize.png``)."""
    truth = result.pictures["truth"]
    notes = {
        label: [error_note(e) for e in image_errors(images, truth).tolist()]
        for label, images in result.pictures.items()
        if label != "truth"
    }
    title = (
        f"colorization from {result.origin} · test split: its first {len(truth)} of {result.sizes[2]:,} images\n"
        "under each image: its MSE against the truth (pixels in [0, 1]) and PSNR; gray: the gray input left gray"
    )
    return image_rows_figure(result.pictures, title=title, notes=notes)


def plot_colour(result: ColorizeResult) -> Figure:
    """Left: the saturation histogram of each variant over the truth's. Right: PSNR against colourfulness (``colorize-colour.png``).

    Both on the test split. The histograms count pixels in percent; the points are drawn whole at colourfulness 0
    (gray), and each temperature's label is placed where it covers no point and no other label.
    """
    with themed("whitegrid"):
        return _colour_figure(result)


def _colour_figure(result: ColorizeResult) -> Figure:
    labels = [label for label in result.saturations if label != "truth"]
    fig = new_figure(figsize=(12, 2.0 * len(labels) + 1.0))
    grid = fig.add_gridspec(len(labels), 2, width_ratios=(1, 1.2))
    truth = result.saturations["truth"].numpy()
    histogram = {"bins": 50, "binrange": (0, 1), "stat": "percent"}
    for i, label in enumerate(labels):
        ax = fig.add_subplot(grid[i, 0])
        sns.histplot(truth, **histogram, element="step", fill=False, color="black", label="truth", ax=ax)
        sns.histplot(result.saturations[label].numpy(), **histogram, alpha=0.5, label=label, ax=ax)
        ax.set(ylabel="% of pixels", xlabel="pixel saturation (HSV), test images" if i == len(labels) - 1 else "")
        ax.set_title(label, fontsize=9, loc="left")
        ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[:, 1])
    points = pd.DataFrame(
        [{"variant": r.label, "PSNR dB": r.psnr, "colourfulness vs truth": result.ratio(r)} for r in [result.gray, *result.rows.values()]]
    )
    sns.scatterplot(points, x="colourfulness vs truth", y="PSNR dB", hue="variant", s=80, ax=ax, zorder=4)
    sweep = pd.DataFrame([{"t": t, "PSNR dB": m.psnr, "colourfulness vs truth": result.ratio(m)} for t, m in result.sweep])
    ax.plot(sweep["colourfulness vs truth"], sweep["PSNR dB"], color="gray", linestyle="--", marker=".", label="chroma classes at other T")
    ax.axhline(result.gray.psnr - 1, color="red", linewidth=0.8, linestyle=":", label="gray − 1 dB")
    ax.axvline(0.5, color="red", linewidth=0.8, linestyle=":", label="50% of the truth's colour")
    # gray's colourfulness is 0: the axis starts left of it, so that its point is drawn whole
    right = max(1.05, points["colourfulness vs truth"].max() + 0.05, sweep["colourfulness vs truth"].max() + 0.05)
    ax.set(title="error against colour (test split)", xlabel="colourfulness, as a share of the truth's", xlim=(-0.05, right))
    ax.margins(y=0.08)
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"colour of the colorizations from {result.origin} · test split, {result.sizes[2]:,} images", fontsize=11)
    fig.tight_layout()
    # after the layout: the labels' places are worked out in the axes as they are drawn
    _label_temperatures(ax, sweep, points)
    return fig


LABEL_POINTS = 7
# Where a temperature's label may go, in points from its point, tried in order: beside it first, then further out.
LABEL_OFFSETS = tuple((dx * r, dy * r) for r in (1, 2, 3) for dx, dy in ((0, 9), (0, -9), (9, 6), (9, -6), (-9, 6), (-9, -6)))


def _label_temperatures(ax: Axes, sweep: pd.DataFrame, points: pd.DataFrame) -> None:
    """Each temperature's ``T=…`` beside its point, at the first of :data:`LABEL_OFFSETS` where it covers no point and no
    label placed before it (a leader line where it stands off)."""
    to_points = 72 / ax.figure.dpi  # display pixels to points: the offsets and the text are measured in points
    xy = ax.transData.transform
    marks = [xy((x, y)) * to_points for x, y in zip(points["colourfulness vs truth"], points["PSNR dB"], strict=True)]
    marks += [xy((x, y)) * to_points for x, y in zip(sweep["colourfulness vs truth"], sweep["PSNR dB"], strict=True)]
    placed: list[tuple[float, float, float, float]] = []  # boxes (left, bottom, right, top) in points
    for row in sweep.itertuples(index=False):
        x, y = row[2], row[1]
        text = f"T={row.t:g}"
        width, height = len(text) * 0.62 * LABEL_POINTS, 1.2 * LABEL_POINTS
        at = xy((x, y)) * to_points
        for dx, dy in LABEL_OFFSETS:
            ha = "center" if dx == 0 else "left" if dx > 0 else "right"
            left = at[0] + dx - {"center": width / 2, "left": 0, "right": width}[ha]
            box = (left, at[1] + dy - height / 2, left + width, at[1] + dy + height / 2)
            if not any(_overlaps(box, other) for other in placed) and not any(_covers(box, mark, 5.5) for mark in marks):
                break
        placed.append(box)
        far = abs(dx) > 9 or abs(dy) > 9
        arrow = {"arrowstyle": "-", "color": "0.5", "lw": 0.6} if far else None
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va="center", fontsize=LABEL_POINTS, arrowprops=arrow)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _covers(box: tuple[float, float, float, float], mark: np.ndarray, radius: float) -> bool:
    """Whether ``box`` comes within ``radius`` points of the centre of a mark."""
    nearest_x, nearest_y = min(max(mark[0], box[0]), box[2]), min(max(mark[1], box[1]), box[3])
    return (nearest_x - mark[0]) ** 2 + (nearest_y - mark[1]) ** 2 < radius**2
