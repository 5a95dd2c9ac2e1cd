"""The flagship's table: each size's refit network on three sets of images, beside PCA on the same images.

(a) the study's own test split (as its trials recorded it: PSNR of the mean MSE), (b) the official test split of the
JPEG export and (c) original-pixel test images (``search.evaluate``: both PSNR conventions, each named). A published
point stands only beside the figure measured as it was (:mod:`analysis.published`: the same pixels, split and
convention: a mean of per-image PSNRs, as COIN++ published, beside a column's per-image mean), and the issue's targets
are judged on (c): a PSNR at each size and a gain over PCA. With a :class:`~cae.code_fit.CodeFit`, (c) is also
measured with each image's code fitted to the decoder (the same code size and decoder), and the targets judged on both:
the encoder's one pass is what the published CAE did, so only it stands beside the published point.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

import search
from analysis.published import Measurement, points_beside
from cae.code_fit import CodeFit
from cae.data import DataConfig, open_source
from search.evaluation import MEAN_MSE, MEAN_PSNR, Evaluation, images_config
from search.trials.record import read_trial, study_data

# issue 31's aim on CIFAR-10's original pixels (PSNR of the mean MSE): a PSNR at each size, and a gain over PCA
TARGET_PSNR = {64: 21.8, 128: 24.2, 256: 27.1}
TARGET_GAIN_DB = 0.8
OFFICIAL_TEST = "cifar10"  # a dataset's name: search.evaluate reads its test part under $CAE_DATA_DIR


@dataclass(frozen=True)
class Column:
    """One set of images the networks are scored on, and how it is measured."""

    key: str  # "own", "official", "originals"
    title: str
    measurement: Measurement  # in PSNR of the mean MSE; the evaluated columns give the mean of per-image PSNRs too


@dataclass(frozen=True)
class Cell:
    """A size's network and PCA on one column's images; per-image means where they were measured."""

    images: str
    psnr: float
    pca_psnr: float | None
    mean_psnr: float | None = None
    pca_mean_psnr: float | None = None
    published: float | None = None  # the published point measured as this column is (PSNR of the mean MSE), if any
    published_mean_psnr: float | None = None  # the published mean of per-image PSNRs on this column's pixels and split, if any
    fitted_psnr: float | None = None  # the network from each image's fitted code (cae.code_fit), where measured
    fitted_mean_psnr: float | None = None
    linear_psnr: float | None = None  # the network's decoder from PCA's code alone (cae.code_fit.LinearCodes), where it has one

    @property
    def fitted_gain_db(self) -> float | None:
        return None if self.pca_psnr is None or self.fitted_psnr is None else self.fitted_psnr - self.pca_psnr

    @property
    def gain_db(self) -> float | None:
        return None if self.pca_psnr is None else self.psnr - self.pca_psnr


@dataclass(frozen=True)
class Row:
    latent: int
    study: str
    trial: int
    parent_trial: int | None
    epochs: int
    train_minutes: float
    cells: dict[str, Cell]
    stopped: str | None = None  # why its training ended before its planned epochs (the refit's deadline), where it did

    def to_dict(self) -> dict[str, Any]:
        cells = {k: asdict(c) | {"gain_db": c.gain_db, "fitted_gain_db": c.fitted_gain_db} for k, c in self.cells.items()}
        return asdict(self) | {"cells": cells}


def _cell(evaluation: Evaluation, size: int) -> Cell:
    pca, pixels = evaluation.pca, evaluation.pixels
    return Cell(
        images=evaluation.images,
        psnr=evaluation.network.psnr_of_mean_mse,
        pca_psnr=None if pca is None else pca.psnr_of_mean_mse,
        mean_psnr=evaluation.network.mean_of_psnrs,
        pca_mean_psnr=None if pca is None else pca.mean_of_psnrs,
        published=published_at(Measurement(pixels, "official"), size),
        published_mean_psnr=published_at(Measurement(pixels, "official", "mean-psnr"), size),
        fitted_psnr=None if evaluation.fitted is None else evaluation.fitted.psnr_of_mean_mse,
        fitted_mean_psnr=None if evaluation.fitted is None else evaluation.fitted.mean_of_psnrs,
        linear_psnr=None if evaluation.linear_code is None else evaluation.linear_code.psnr_of_mean_mse,
    )


def published_at(measurement: Measurement, size: int) -> float | None:
    """The published PSNR at ``size`` measured as ``measurement`` says, if there is one."""
    points = points_beside(measurement, "cifar10", shape=(3, 32, 32)).points
    at = points[points["latent_size"] == size]
    return None if at.empty else float(at["psnr"].iloc[0])


def _trial_at(refits: list[optuna.Study], size: int) -> tuple[optuna.Study, FrozenTrial] | None:
    for study in refits:
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if read_trial(trial).latent_size == size:
                return study, trial
    return None


def columns(refits: list[optuna.Study], originals: Path | None) -> list[Column]:
    """The columns of the table: the refit's own test split, the official test split (the JPEG export, where
    ``$CAE_DATA_DIR`` holds it), the originals."""
    own = study_data(refits[0])
    official = open_source(DataConfig(dataset=OFFICIAL_TEST, parts=("test",))).pixels
    cols = [
        Column("own", f"own test split ({own.split})", Measurement(own.pixels, own.split)),
        Column("official", f"official test split ({official})", Measurement(official, "official")),
    ]
    if originals is not None:
        where = f"{originals.parent.name}/{originals.name}"
        pixels = open_source(images_config(originals, DataConfig())).pixels
        cols.append(Column("originals", f"{pixels} pixels ({where})", Measurement(pixels, "official")))
    return cols


def measure(
    refits: list[optuna.Study], sizes: list[int], originals: Path | None, storage: str | None = None, *, fit: CodeFit | None = None
) -> list[Row]:
    """Each size's refit network scored on every column's images beside PCA, with published points where they match;
    on the originals also from codes fitted as ``fit`` says, where given."""
    rows = []
    cols = {c.key: c for c in columns(refits, originals)}
    for size in sizes:
        found = _trial_at(refits, size)
        if found is None:
            continue
        study, trial = found
        record = read_trial(trial)
        own = Cell(
            images=f"{study.study_name}'s test split",
            psnr=math.nan if record.test_psnr is None else record.test_psnr,
            pca_psnr=record.pca_psnr,
            published=published_at(cols["own"].measurement, size),
        )
        cells = {"own": own}
        evaluated = {"official": OFFICIAL_TEST, **({"originals": originals} if originals is not None else {})}
        for key, data in evaluated.items():
            evaluation = search.evaluate(trial, data=data, study=study, storage=storage, fit=fit if key == "originals" else None)
            cells[key] = _cell(evaluation, size)
        minutes = record.compute_seconds / 60
        rows.append(Row(size, study.study_name, trial.number, record.parent_trial, record.epochs, minutes, cells, record.stopped))
    return rows


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """The issue's targets on the originals at each size: the PSNR and the gain over PCA, met or missed by how much;
    once for the encoder's codes (``codes: encoder``) and once for fitted codes where measured (``codes: fitted``)."""
    judged = []
    for row in rows:
        cell = row.cells.get("originals")
        if cell is None or row.latent not in TARGET_PSNR:
            continue
        judged.append(_judge(row.latent, "encoder", cell.psnr, cell.gain_db))
        if cell.fitted_psnr is not None:
            judged.append(_judge(row.latent, "fitted", cell.fitted_psnr, cell.fitted_gain_db))
    return judged


def _judge(latent: int, codes: str, psnr: float, gain_db: float | None) -> dict[str, Any]:
    psnr_short = TARGET_PSNR[latent] - psnr
    gain_short = TARGET_GAIN_DB - gain_db if gain_db is not None else math.nan
    return {
        "latent": latent,
        "codes": codes,
        "psnr": psnr,
        "target_psnr": TARGET_PSNR[latent],
        "psnr_short_db": max(0.0, psnr_short),
        "gain_db": gain_db,
        "target_gain_db": TARGET_GAIN_DB,
        "gain_short_db": max(0.0, gain_short),
        "met": psnr_short <= 0 and gain_short <= 0,
    }


def _db(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _judged(value: float, target: float, short: float, unit: str = "dB") -> str:
    return f"{_db(value)} (target {target:.1f}: met)" if short <= 0 else f"{_db(value)} (target {target:.1f}: missed by {short:.2f} {unit})"


def _shares(rows: list[Row]) -> list[str]:
    """Where each size's gain over PCA on the originals comes from (search.Evaluation.shares_db), for networks started from
    PCA's code: its decoder from PCA's code, its encoder's correction of the code, and what fitted codes add."""
    said = []
    for row in rows:
        cell = row.cells.get("originals")
        if cell is None or cell.linear_psnr is None or cell.gain_db is None:
            continue
        fitted = "" if cell.fitted_psnr is None else f"; fitted codes add {cell.fitted_psnr - cell.psnr:+.2f} more"
        said.append(
            f"- {row.latent} values, {cell.gain_db:+.2f} dB: {cell.linear_psnr - cell.pca_psnr:+.2f} from the decoder on PCA's "
            f"code, {cell.psnr - cell.linear_psnr:+.2f} from the encoder's correction of the code{fitted}"
        )
    if not said:
        return []
    return ["", f"Where the gain over PCA on the originals comes from ({MEAN_MSE}; cae.code_fit.LinearCodes):", "", *said]


def markdown(rows: list[Row], cols: list[Column], judged: list[dict[str, Any]], wall: str, fit: CodeFit | None = None) -> str:
    """The table as Markdown: each column's images and how they were measured, then the targets (for fitted codes too,
    where ``fit`` says how they were fitted)."""
    lines = [
        "# The flagship at 64 / 128 / 256 values",
        "",
        wall,
        "",
        f"Test PSNR in dB of the refit's network, then PCA of the same size on the same images: the **{MEAN_MSE}** "
        f"(10·log10(1 / MSE averaged over the images)) in every column, and the **{MEAN_PSNR}** beside it where the images "
        "were evaluated anew. A published point only beside a figure measured as it was (pixels, split, convention): "
        "one of the mean MSE in the column's *published* cell, a published mean of per-image PSNRs in brackets after "
        "the per-image figure.",
        "",
    ]
    for col in cols:
        lines.append(f"- **{col.title}**: {col.measurement.words(convention=False)}")
    fitted = fit is not None and any(r.cells.get("originals") and r.cells["originals"].fitted_psnr is not None for r in rows)
    if fitted:
        lines.append(
            f"- **originals, fitted codes**: the same images and decoder, each image's code fitted ({fit.steps_words()}) from the "
            "encoder's (cae.code_fit): the same code size. The published CAE encodes in one pass, so its point stands beside "
            "the encoder's figure only."
        )
    lines.append("")
    header = ["latent", "epochs"]
    for col in cols:
        header += [f"{col.key}: CAE / PCA (mean MSE)", f"{col.key}: gain", f"{col.key}: published"]
        if col.key != "own":
            header.append(f"{col.key}: CAE / PCA (per-image mean)")
    if fitted:
        header += ["originals, fitted codes: CAE (mean MSE)", "fitted: gain", "fitted: CAE (per-image mean)"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row.latent), str(row.epochs)]
        for col in cols:
            cell = row.cells.get(col.key)
            if cell is None:
                cells += ["—"] * (4 if col.key != "own" else 3)
                continue
            published = _db(cell.published) if cell.published is not None else "not measured so"
            cells += [f"{_db(cell.psnr)} / {_db(cell.pca_psnr)}", _db(cell.gain_db), published]
            if col.key != "own":
                alike = f" (published {_db(cell.published_mean_psnr)})" if cell.published_mean_psnr is not None else ""
                cells.append(f"{_db(cell.mean_psnr)} / {_db(cell.pca_mean_psnr)}{alike}")
        if fitted:
            cell = row.cells.get("originals")
            cells += ["—"] * 3 if cell is None else [_db(cell.fitted_psnr), _db(cell.fitted_gain_db), _db(cell.fitted_mean_psnr)]
        lines.append("| " + " | ".join(cells) + " |")
    stopped = [f"- {row.latent} values: {row.stopped}" for row in rows if row.stopped]
    said = "Shortened or stopped by the refit's deadline (the budget held; the best epoch's weights kept):"
    lines += ["", said, "", *stopped] if stopped else []
    lines += _shares(rows)
    if judged:
        lines += ["", f"Targets on the originals ({MEAN_MSE}):", ""]
        for j in judged:
            psnr = _judged(j["psnr"], j["target_psnr"], j["psnr_short_db"])
            gain = _judged(j["gain_db"], j["target_gain_db"], j["gain_short_db"])
            codes = "the encoder's codes" if j["codes"] == "encoder" else "fitted codes"
            lines.append(f"- {j['latent']} values, {codes}: PSNR {psnr}; over PCA {gain}")
    return "\n".join(lines) + "\n"
