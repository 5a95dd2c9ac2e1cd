"""A trial's record: what the writers of search.trials.record store reads back through read_trial, old studies included."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from cae.settings import DataDescription
from cae.spec import Architecture, Conv, MaxPool, Upsample
from search.trials.objectives import trial_values
from search.trials.record import (
    Curves,
    TrialRecord,
    parse_record,
    read_trial,
    record_study_data,
    recorded_study_data,
    study_data,
    write_artifact_error,
    write_baseline,
    write_design,
    write_epoch,
    write_reason,
    write_result,
    write_stored_reason,
    write_worker,
)

ARCH = Architecture((Conv(6), MaxPool()), (Upsample(), Conv(3, activation="none")))
GRAY = DataDescription(dataset="mnist", shape=(1, 28, 28), classes=tuple("0123456789"), source="MNIST", root="/data/mnist")


@pytest.fixture
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["minimize", "minimize"])


def test_a_trial_written_by_the_writers_reads_back(study: optuna.Study) -> None:
    trial = study.ask()
    write_worker(trial, "host:1")
    write_design(trial, ARCH, {"epochs": 2, "lr": 1e-3}, GRAY, {"study": "parent", "trial": 7})
    write_baseline(trial, 0.02)
    curves = Curves()
    for epoch, (train, val) in enumerate([(0.05, 0.04), (0.03, 0.035)], start=1):
        curves.add(train, val, 1.5)
        write_epoch(trial, curves, 2.0 * epoch)
        assert read_trial(trial).epochs == epoch  # a running trial reads what it wrote so far
    write_result(trial, train_seconds=4.5, best_epoch=2, test_mse=0.033, test_psnr=14.8, precision="fp32", gain_db=-2.2)
    study.tell(trial, trial_values(["val_mse", "latent_size"], read_trial(trial)))

    frozen = study.trials[0]
    record = read_trial(frozen)
    assert record.worker == "host:1"
    assert (record.latent_size, record.n_params) == (ARCH.latent_size, ARCH.n_params)
    assert record.architecture == ARCH
    assert record.train == {"epochs": 2, "lr": 1e-3}
    assert record.data == GRAY and record.image_shape == (1, 28, 28)
    assert record.lineage == {"study": "parent", "trial": 7} and record.parent_trial == 7
    assert record.train_mse == (0.05, 0.03) and record.val_mse == (0.04, 0.035) and record.epoch_seconds == (1.5, 1.5)
    assert (record.train_seconds, record.compute_seconds) == (4.5, 4.5)
    assert (record.best_epoch, record.test_mse, record.test_psnr, record.precision, record.gain_db) == (2, 0.033, 14.8, "fp32", -2.2)
    assert record.pca_mse == 0.02 and record.pca_reason is None and record.pca_psnr == pytest.approx(-10 * math.log10(0.02))
    assert record.kept_val_mse == record.lowest_val_mse == 0.035
    assert record.pca_score == pytest.approx(0.035 / 0.02)
    assert record.reason is None and record.colourfulness_ratio is None and record.val_colourfulness_ratio is None
    assert frozen.values == [0.035, ARCH.latent_size]


def test_reasons_and_failures_are_written_by_name(study: optuna.Study) -> None:
    trial = study.ask()
    write_design(trial, ARCH, {}, DataDescription())
    write_baseline(trial, None, "over-complete")
    write_artifact_error(trial, "OSError: disk full")
    write_reason(trial, "artifact upload failed")
    record = read_trial(trial)
    assert (record.pca_mse, record.pca_reason, record.artifact_error, record.reason) == (
        None,
        "over-complete",
        "OSError: disk full",
        "artifact upload failed",
    )
    assert record.lineage is None  # a search's trial names no parent
    write_stored_reason(study._storage, trial._trial_id, "its worker stopped beating")
    assert read_trial(study.trials[0]).reason == "its worker stopped beating"


def test_a_colorizer_records_its_colourfulness(study: optuna.Study) -> None:
    trial = study.ask()
    write_result(
        trial,
        train_seconds=1.0,
        best_epoch=1,
        test_mse=0.01,
        test_psnr=20.0,
        precision="bf16",
        val_colourfulness_ratio=0.8,
        colourfulness_ratio=0.7,
    )
    record = read_trial(trial)
    assert (record.val_colourfulness_ratio, record.colourfulness_ratio, record.gain_db) == (0.8, 0.7, None)


def test_an_old_study_s_trial_reads_as_cifar10() -> None:
    """Before the data record, every study was CIFAR-10 at 3 × 32 × 32; its trials say so."""
    old = create_trial(values=[0.01], user_attrs={"latent_size": 256, "val_mse": [0.02, 0.01], "epoch_seconds": [3.0, 4.0]})
    record = read_trial(old)
    assert record.data == DataDescription() and record.data.dataset == "cifar10"
    assert record.image_shape == (3, 32, 32) and len(record.data.classes) == 10
    assert record.compute_seconds == 7.0  # no train_seconds (older still): the sum of its epochs


def test_missing_optional_fields_read_as_none() -> None:
    record = read_trial(create_trial(state=TrialState.FAIL, user_attrs={}))
    assert record == TrialRecord()
    for name in ("worker", "latent_size", "n_params", "train", "lineage", "train_mse", "val_mse", "epoch_seconds"):
        assert getattr(record, name) is None, name
    for name in ("train_seconds", "pca_mse", "pca_reason", "best_epoch", "test_mse", "test_psnr", "gain_db", "precision", "reason"):
        assert getattr(record, name) is None, name
    assert record.architecture is None and record.pca_psnr is None and record.pca_score is None and record.parent_trial is None
    assert record.epochs == 0 and record.compute_seconds == 0.0
    assert math.isnan(record.kept_val_mse) and math.isnan(record.lowest_val_mse)


@pytest.mark.parametrize(
    "attrs",
    [
        {"latent_size": "8"},
        {"latent_size": True},
        {"val_mse": "0.1"},
        {"val_mse": [0.1, None]},
        {"pca_mse": "0.02"},
        {"lineage": [7]},
        {"reason": 3},
    ],
)
def test_a_value_of_the_wrong_type_reads_as_none(attrs: dict) -> None:
    """The pruners read every trial each epoch: one odd record must not stop a run."""
    record = parse_record(attrs)
    assert getattr(record, next(iter(attrs))) is None


def test_the_kept_epoch_decides_the_validation_error() -> None:
    record = parse_record({"val_mse": [0.03, 0.01, 0.02], "best_epoch": 3})  # a chroma classifier keeps its last epoch
    assert (record.kept_val_mse, record.lowest_val_mse) == (0.02, 0.01)
    assert math.isinf(parse_record({"train_seconds": math.inf, "epoch_seconds": [1.0]}).train_seconds or 0)
    assert parse_record({"train_seconds": math.inf, "epoch_seconds": [1.0]}).compute_seconds == 1.0


def test_the_architecture_is_parsed_on_first_use_only() -> None:
    record = parse_record({"architecture": {"encoder": "not layers"}, "latent_size": 8})
    assert record.latent_size == 8  # reading the rest costs no parse, and does not fail
    with pytest.raises((TypeError, KeyError, ValueError)):
        _ = record.architecture


def test_the_study_records_its_data(study: optuna.Study) -> None:
    assert study_data(study) == DataDescription() and recorded_study_data(study) is None  # an old study: CIFAR-10
    record_study_data(study, GRAY)
    assert study_data(study) == recorded_study_data(study) == GRAY
