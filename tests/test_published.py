"""Published points: each records how it was measured, and none is drawn beside a figure measured otherwise."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analysis import latent_vs_error
from analysis.latent_report import published_psnr
from analysis.published import (
    COIN_PLUS_PLUS,
    COLUMNS,
    CONVENTION_WORDS,
    PIXEL_WORDS,
    SPLIT_WORDS,
    Measurement,
    comparable,
    measured,
    points_beside,
    published_points,
)
from cae.settings import DataDescription

JPEG_RANDOM = DataDescription(pixels="JPEG export")  # the studies run here: CIFAR-10's JPEG export, split at random
PUBLISHED_WAY = DataDescription(split="official")  # original pixels, the official test split
NOT_DRAWN = (
    "ours: JPEG export, random split, PSNR of the mean MSE; published: original pixels, official test split, PSNR of the mean MSE "
    "or mean of per-image PSNRs — not drawn"
)
# a study measured the published way: COIN++'s per-image means are still not beside its PSNR of the mean MSE
PER_IMAGE_NOT_DRAWN = (
    "ours: original pixels, official test split, PSNR of the mean MSE; published: original pixels, official test split, "
    "mean of per-image PSNRs — not drawn"
)


def test_every_point_records_its_pixels_split_and_convention() -> None:
    points = published_points("cifar10")
    assert list(points.columns) == COLUMNS and len(points) == 8
    for row in points.itertuples():
        assert row.pixels in PIXEL_WORDS and row.split in SPLIT_WORDS and row.psnr_convention in CONVENTION_WORDS
    # COIN++ published means of per-image PSNRs: recorded so, at their own figures, with no MSE (a mean of PSNRs is no MSE's)
    coin, others = points[points["source"] == COIN_PLUS_PLUS], points[points["source"] != COIN_PLUS_PLUS]
    assert set(coin["psnr_convention"]) == {"mean-psnr"} and set(others["psnr_convention"]) == {"mean-mse"}
    assert coin["latent_size"].tolist() == [128, 256, 384] and coin["psnr"].tolist() == [24.67, 27.84, 30.08]
    assert coin["mse"].isna().all() and others["mse"].notna().all()
    assert Measurement("original", "official").words() == "original pixels, official test split, PSNR of the mean MSE"
    assert Measurement("original", "official", "mean-psnr").words() == "original pixels, official test split, mean of per-image PSNRs"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (JPEG_RANDOM, NOT_DRAWN),
        (DataDescription(pixels="JPEG export", split="official"), "ours: JPEG export, official test split, PSNR of the mean MSE;"),
        (DataDescription(split="random"), "ours: original pixels, random split, PSNR of the mean MSE;"),
    ],
    ids=["jpeg-random", "jpeg-official", "original-random"],
)
def test_a_study_measured_otherwise_gets_no_point_and_the_words(data: DataDescription, words: str) -> None:
    comparison = comparable(data)
    assert comparison.points.empty and list(comparison.points.columns) == COLUMNS
    assert comparison.not_drawn.startswith(words) and comparison.not_drawn.endswith(" — not drawn")


def test_a_study_measured_the_published_way_gets_every_point_in_its_convention() -> None:
    points = published_points("cifar10")
    comparison = comparable(PUBLISHED_WAY)
    of_mean_mse = points[points["psnr_convention"] == "mean-mse"].reset_index(drop=True)
    assert comparison.points.equals(of_mean_mse) and len(of_mean_mse) == 5 and comparison.not_drawn == PER_IMAGE_NOT_DRAWN
    assert measured(PUBLISHED_WAY) == Measurement("original", "official", "mean-mse")
    # other data, or CIFAR-10 made gray: no point and nothing to say (nothing was published at that shape)
    for other in (DataDescription(shape=(1, 32, 32)), DataDescription("mnist", (1, 28, 28), pixels="JPEG export")):
        assert comparable(other).points.empty and comparable(other).not_drawn == ""


def test_a_coin_plus_plus_point_stands_beside_a_per_image_figure_on_the_same_pixels_and_split_only() -> None:
    per_image = comparable(PUBLISHED_WAY, psnr_convention="mean-psnr")
    assert per_image.points["source"].tolist() == [COIN_PLUS_PLUS] * 3 and per_image.points["psnr"].tolist() == [24.67, 27.84, 30.08]
    assert per_image.not_drawn == (
        "ours: original pixels, official test split, mean of per-image PSNRs; published: original pixels, official test split, "
        "PSNR of the mean MSE — not drawn"
    )
    assert points_beside(Measurement("original", "official", "mean-psnr")).points.equals(per_image.points)
    # a figure of the mean MSE on the same images gets no COIN++ point; a per-image figure on other pixels or split gets none
    assert COIN_PLUS_PLUS not in set(comparable(PUBLISHED_WAY).points["source"])
    for other in (Measurement("JPEG export", "official", "mean-psnr"), Measurement("original", "random", "mean-psnr")):
        beside = points_beside(other)
        assert beside.points.empty and beside.not_drawn.endswith("PSNR of the mean MSE or mean of per-image PSNRs — not drawn")


def test_an_old_record_of_the_jpeg_export_reads_as_such() -> None:
    old = {"dataset": "cifar10", "shape": [3, 32, 32], "source": "CIFAR-10 (JPEG export) at /data/cifar10"}  # before pixels and split
    data = DataDescription.from_dict(old)
    assert (data.pixels, data.split) == ("JPEG export", "random")
    assert DataDescription.from_dict(data.to_dict()) == data


@pytest.fixture(scope="module")
def analysed(tiny_study: Path) -> latent_vs_error.LatentAnalysis:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)
        return latent_vs_error.compute("tiny")


def _legend(result: latent_vs_error.LatentAnalysis) -> list[str]:
    figure = latent_vs_error.plot(result)
    # the labels are wrapped, at spaces and after hyphens ("per-image")
    return [text.get_text().replace("-\n", "-").replace("\n", " ") for text in figure.axes[0].get_legend().get_texts()]


def test_no_point_is_drawn_beside_a_study_of_other_pixels_and_split(analysed: latent_vs_error.LatentAnalysis, tmp_path: Path) -> None:
    assert (analysed.data.pixels, analysed.data.split) == ("JPEG export", "random")  # as the study recorded it
    legend = _legend(analysed)
    assert not any(label.startswith("published") for label in legend)
    assert NOT_DRAWN in legend  # the figure says how each side was measured
    report = latent_vs_error.report(analysed, latent_vs_error.render(analysed, tmp_path))
    assert "## Beside published results" in report and NOT_DRAWN in report and "| published PSNR dB" not in report
    assert published_psnr(analysed) == {}  # the refit table gets no published column
    # the same study, measured the published way, is set beside them
    alike = dataclasses.replace(analysed, data=dataclasses.replace(analysed.data, pixels="original", split="official"))
    assert any(label.startswith("published CAEs: test MSE") for label in _legend(alike)) and NOT_DRAWN not in _legend(alike)
    # but not beside COIN++'s per-image means: the figure and the report say so
    assert PER_IMAGE_NOT_DRAWN in _legend(alike) and "COIN++" not in " ".join(_legend(alike))
    alike_report = latent_vs_error.report(alike, latent_vs_error.render(alike, tmp_path))
    assert f"Others were measured otherwise ({PER_IMAGE_NOT_DRAWN})." in alike_report and "COIN++" not in alike_report
    assert published_psnr(alike) == {64: 21.5, 128: 23.9, 256: 26.8, 384: 28.9}
