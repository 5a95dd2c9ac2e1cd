"""Pictures that label themselves: titles, row labels, each image's error, and text that neither clips nor covers a point.

Checked on the Figure objects (titles, labels, texts, where each is drawn), not on pixels: gray 1×28×28 images and
RGB 64×64 ones, a reconstruction's two rows and a colorizer's three, and the colorizers' colour figure.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from analysis import latent_vs_error
from analysis.colorize import ColorizeResult, Measured, plot, plot_colour
from analysis.latent_vs_error import LatentAnalysis
from cae.builder import build
from cae.figures import DPI, error_note, grid_scale, image_errors, image_rows_figure, reconstruction_figure, save_reconstructions
from cae.settings import TrainConfig
from cae.spec import Architecture, Conv, MaxPool, Upsample


def _images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _drawn(figure: Figure) -> FigureCanvasAgg:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas


def _inside(figure: Figure) -> None:
    """Everything drawn lies whole inside the figure: no title, label or note clipped at its edges."""
    drawn = figure.get_tightbbox(_drawn(figure).get_renderer())
    width, height = figure.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 64)], ids=["gray 28x28", "rgb 64x64"])
def test_a_reconstruction_s_figure_labels_its_rows_and_gives_each_output_s_error(channels: int, size: int) -> None:
    inputs, outputs = _images(6, channels, size, 0), _images(6, channels, size, 1)
    figure = reconstruction_figure((inputs, outputs), title="study s, trial 3 · validation split")
    assert isinstance(figure, Figure) and plt.get_fignums() == []
    top, bottom = figure.axes
    assert (top.get_ylabel(), bottom.get_ylabel()) == ("input", "output")
    title = figure.texts[0].get_text()
    assert title.startswith("study s, trial 3 · validation split\n") and "MSE against its input" in title
    errors = ((outputs.double() - inputs.double()) ** 2).flatten(1).mean(1)
    assert [t.get_text() for t in bottom.texts] == [f"MSE {e:.4f}\n{-10 * math.log10(e):.1f} dB" for e in errors.tolist()]
    assert len(top.texts) == 0
    # each note under its own image: the note's centre within the image's columns
    renderer = _drawn(figure).get_renderer()
    box = bottom.get_window_extent(renderer)
    column = (box.x1 - box.x0) / 6
    for i, note in enumerate(bottom.texts):
        centre = (note.get_window_extent(renderer).x0 + note.get_window_extent(renderer).x1) / 2
        assert box.x0 + i * column < centre < box.x0 + (i + 1) * column
        assert note.get_window_extent(renderer).y1 <= box.y0  # under the images, not over them
    # images at about the pixel grid's size: grid_scale pixels of the picture per pixel of the image
    assert box.height == pytest.approx((size + 4) * grid_scale(size) * figure.dpi / DPI, rel=0.02)
    _inside(figure)


def test_a_colorizer_s_figure_shows_gray_predicted_and_truth_with_the_prediction_s_error() -> None:
    truth = _images(4, 3, 32, 0)
    gray = truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    predicted = _images(4, 3, 32, 2)
    figure = reconstruction_figure((truth, gray, predicted), title="colorizer")  # reconstruction_rows' order for a colorizer
    assert [ax.get_ylabel() for ax in figure.axes] == ["gray", "predicted", "truth"]
    assert [len(ax.texts) for ax in figure.axes] == [0, 4, 0]
    errors = image_errors(predicted, truth)
    assert [t.get_text() for t in figure.axes[1].texts] == [error_note(e) for e in errors.tolist()]
    assert "against the truth" in figure.texts[0].get_text()
    _inside(figure)


def test_errors_compare_gray_with_rgb_and_notes_refuse_an_unknown_row() -> None:
    gray, rgb = torch.full((1, 1, 2, 2), 0.5), torch.zeros(1, 3, 2, 2)
    rgb[:, 0] = 1.0  # red: the gray image is 0.5 off in every channel
    assert image_errors(gray, rgb).tolist() == pytest.approx([0.25])
    with pytest.raises(ValueError, match="notes: no row named outputs; the rows are input, output"):
        image_rows_figure({"input": gray, "output": gray}, notes={"outputs": ["x"]})
    with pytest.raises(ValueError, match="rows: expected the 2 or 3 rows"):
        reconstruction_figure((gray,))


GRAY_NET = Architecture(
    encoder=(Conv(4), MaxPool(), Conv(2)), decoder=(Upsample(), Conv(1, activation="none")), in_channels=1, out_channels=1, image_size=28
)


def test_the_trial_artifact_is_labelled_when_given_a_title_and_the_pixel_grid_without(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build(GRAY_NET)
    images = (_images(5, 1, 28, 3) * 255).to(torch.uint8)
    grid = save_reconstructions(model, images, tmp_path / "grid.png")
    with Image.open(grid) as picture:
        assert picture.size == (5 * (28 * 4 + 2) + 2, 2 * (28 * 4 + 2) + 2)  # the pixel grid, as before
    labelled = save_reconstructions(model, images, tmp_path / "labelled.png", title="study s, trial 0: the first 5 validation images")
    with Image.open(labelled) as picture:
        assert picture.format == "PNG" and picture.size[0] > 5 * 28 * 4  # room for the row labels beside the images
    figure = reconstruction_figure(
        tuple(torch.cat([row]) for row in (images.float() / 255, torch.zeros(5, 1, 28, 28))), title="study s, trial 0"
    )
    assert figure.axes[1].texts[0].get_text().startswith("MSE ")


# ---------------------------------------------------------------- the colorizers' figures


def _measured(key: str, psnr: float, ratio: float, truth: float = 0.3) -> Measured:
    return Measured(key, key if key != "gray" else "gray stays gray", 10 ** (-psnr / 10), 0.001, ratio * truth, 0.1)


@pytest.fixture
def colorized() -> ColorizeResult:
    """A study's colorizers as a real run placed them: gray at no colour, the classifier on its own temperature's point,
    the other temperatures crowded beside it (the case where labels ran over points and each other)."""
    truth = _images(16, 3, 32, 0)
    gray = truth.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    rows = {
        "rgb": _measured("gray → RGB (regression)", 13.9, 0.39),
        "chroma": _measured("gray → chroma (regression)", 21.35, 0.17),
        "classes": _measured("gray → chroma classes", 21.29, 0.235),
    }
    sweep = [(t, _measured(f"T={t:g}", p, r)) for t, p, r in ((1, 21.30, 0.20), (0.6, 21.32, 0.21), (0.38, 21.29, 0.235))]
    sweep += [(t, _measured(f"T={t:g}", p, r)) for t, p, r in ((0.2, 21.25, 0.35), (0.1, 21.12, 0.47), (0.01, 20.66, 0.72))]
    saturations = {label: torch.rand(2000, generator=torch.Generator().manual_seed(i)) for i, label in enumerate(["truth", *rows])}
    pictures = {"gray": gray, **{m.label: _images(16, 3, 32, i) for i, m in enumerate(rows.values())}, "truth": truth}
    return ColorizeResult(
        study="s",
        origin="study s, trial 3 (latent 448)",
        source="CIFAR-10",
        sizes=(480, 60, 60),
        cfg=TrainConfig(),
        start=GRAY_NET,
        context=0,
        bins=None,
        truth=_measured("truth", math.inf, 1.0),
        gray=_measured("gray", 20.86, 0.0),
        rows=rows,
        sweep=sweep,
        pictures=pictures,
        saturations={**{"truth": saturations["truth"]}, **{m.label: saturations[k] for k, m in rows.items()}},
    )


def test_the_colour_figure_has_counted_histograms_whole_points_and_labels_clear_of_points(colorized: ColorizeResult) -> None:
    figure = plot_colour(colorized)
    *histograms, scatter = figure.axes
    for ax in histograms:
        assert ax.get_ylabel() == "% of pixels" and len(ax.get_yticks()) > 1  # a histogram says what it counts
    assert histograms[-1].get_xlabel() == "pixel saturation (HSV), test images"
    assert scatter.get_title() == "error against colour (test split)" and "test split" in figure.texts[0].get_text()
    assert scatter.get_xlim()[0] < 0  # gray's colourfulness is 0: its point is drawn whole, not cut by the axis
    renderer = _drawn(figure).get_renderer()
    labels = [text for text in scatter.texts if text.get_text().startswith("T=")]
    assert sorted(t.get_text() for t in labels) == sorted(f"T={t:g}" for t, _ in colorized.sweep)
    boxes = [text.get_window_extent(renderer) for text in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    centres = np.vstack([c.get_offset_transform().transform(c.get_offsets()) for c in scatter.collections if len(c.get_offsets())])
    centres = np.vstack([centres, *(line.get_transform().transform(line.get_xydata()) for line in scatter.get_lines()[:1])])
    for box, text in zip(boxes, labels, strict=True):
        for x, y in centres:
            assert not (box.x0 < x < box.x1 and box.y0 < y < box.y1), f"{text.get_text()} covers the point at {x:.0f}, {y:.0f}"
    _inside(figure)


def test_the_colorizations_figure_labels_its_rows_and_each_colorization_s_error(colorized: ColorizeResult) -> None:
    figure = plot(colorized)
    assert [ax.get_ylabel() for ax in figure.axes] == list(colorized.pictures)
    assert figure.axes[0].get_ylabel() == "gray" and figure.axes[-1].get_ylabel() == "truth"
    assert figure.texts[0].get_text().startswith("colorization from study s, trial 3 (latent 448) · test split: its first 16 of 60")
    truth = colorized.pictures["truth"]
    for ax, (label, images) in zip(figure.axes, colorized.pictures.items(), strict=True):
        expected = [] if label == "truth" else [error_note(e) for e in image_errors(images, truth).tolist()]
        assert [t.get_text() for t in ax.texts] == expected
    _inside(figure)


# ---------------------------------------------------------------- the latent analysis' figures


@pytest.fixture(scope="module")
def latent_result(tiny_study: Path) -> LatentAnalysis:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)  # the default storage, sqlite:///studies/tiny.db, is relative
        return latent_vs_error.compute("tiny")


def test_pca_s_curve_says_where_it_ends(latent_result: LatentAnalysis) -> None:
    result = latent_result  # 240 training images of 3,072 values: PCA's axes past 239 are not learned from them
    label = next(line.get_label() for line in latent_vs_error.plot(result).axes[0].get_lines() if line.get_label().startswith("PCA"))
    assert "past 239, the rank of 240 training images" in label
    # a fit through the Gram matrix knows only the training images' axes: its curve stops there, and says so
    cut = result.pca.assign(pca_mse=result.pca["pca_mse"].where(result.pca["latent_size"] <= 200))
    label = next(
        line.get_label()
        for line in latent_vs_error.plot(dataclasses.replace(result, pca=cut)).axes[0].get_lines()
        if line.get_label().startswith("PCA")
    )
    assert "ends at 200: the rank of 240 training images" in label


def test_the_compute_figure_says_what_its_unit_is(latent_result: LatentAnalysis) -> None:
    figure = latent_vs_error.plot_compute(latent_result)
    ax = figure.axes[0]
    assert ax.get_ylabel() == "hypervolume (dB × octaves)"
    assert ax.get_xlabel().startswith("training seconds spent")  # a tiny study trains for seconds, not 0.0001 hours
    (caption,) = figure.texts
    words = caption.get_text().replace("\n", " ")
    assert "log2 latent size (octaves)" in words and "10·log10 MSE (dB)" in words and "3,072 values at 10 dB" in words
    assert "One unit: the front 1 dB lower across one doubling of latent sizes" in words
    _inside(figure)
