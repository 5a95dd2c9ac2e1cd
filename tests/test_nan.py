"""A NaN validation or test error (issue 32, item 6): the trial fails with its reason, and nothing non-finite is kept.

With a finite training loss (measured before each step) the last step can still throw the weights to
infinity; the validation error is then NaN. Such a trial used to be stored as a result: NaN in its
curves, its test error, its gain over PCA and its intermediate values, its NaN weights uploaded, and
the console said its worker had died and it would be retried (it was not).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState
from rich.console import Console

from cae.settings import TrainConfig
from cae.spec import Architecture, Conv, ConvTranspose, MaxPool
from cae.training import NonFiniteLoss, evaluate, train
from search.cli import main
from search.display import Display
from tests.conftest import SPACES

# The probe: one SGD step of 1e30 on the whole training split (480 of 600 images) with no output squashing.
DIVERGE = ("train.lr=1e30", "train.optimizer=sgd", "model.output=none", "train.batch_size=480", "train.epochs=1")
DIVERGE_CFG = TrainConfig(epochs=1, batch_size=320, lr=1e30, optimizer="sgd", device="cpu")
UNBOUNDED = Architecture((Conv(10), MaxPool(), Conv(6)), (ConvTranspose(10), Conv(3, activation="none")), output="none")


def finite_everywhere(value: object) -> bool:
    """Whether every number in a user attribute (a float, or lists and dicts of them) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(finite_everywhere(v) for v in value)
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    return True


def test_fit_raises_before_a_nan_validation_error_is_reported(tiny_splits) -> None:
    reported = []
    with pytest.raises(NonFiniteLoss, match=r"non-finite validation error at epoch 1 \(train MSE 0\.\d+\)"):
        train(UNBOUNDED, tiny_splits, DIVERGE_CFG, on_epoch=reported.append)
    assert reported == []  # no epoch with a NaN reached a caller's curves or pruner


def test_fit_raises_on_a_non_finite_test_error(tiny_splits, monkeypatch: pytest.MonkeyPatch) -> None:
    import cae.training

    # Validation finite, the test split not: the kept weights are measured once more, and that number is checked too.
    def nan_on_test(model, images):
        return math.nan if images is tiny_splits.test.images else evaluate(model, images)

    monkeypatch.setattr(cae.training, "evaluate", nan_on_test)
    with pytest.raises(NonFiniteLoss, match=r"non-finite test error of the weights kept \(epoch 1"):
        train(UNBOUNDED, tiny_splits, TrainConfig(epochs=1, device="cpu"))


def test_a_nan_validation_error_fails_the_trial_with_its_reason_and_stores_nothing(in_tmp: Path, capsys) -> None:
    args = ["run", str(SPACES / "tiny.yaml"), "--trials", "1"]
    for override in DIVERGE:
        args += ["--set", override]
    assert main(args) == 0  # the study goes on past its diverged trials to one finished trial
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed, "the probe diverges on the first designs of tiny.yaml's seeded sampler"
    for trial in failed:
        reason = trial.user_attrs.get("reason", "")
        assert reason.startswith("non-finite validation error at epoch 1 (train MSE "), trial.user_attrs
        assert f"trial {trial.number:>3} fail     {reason}" in out
        # nothing recorded as a result: no curves, test error or gain, no intermediate value, no weights uploaded
        assert not {"val_mse", "test_mse", "test_psnr", "gain_db", "best_epoch"} & trial.user_attrs.keys(), trial.user_attrs
        assert trial.intermediate_values == {}
        assert get_all_artifact_meta(trial, storage=study._storage) == []
    assert "retried" not in out and "stopped beating" not in out  # no worker died, nothing is retried
    for trial in study.trials:
        assert finite_everywhere(trial.user_attrs) and all(map(math.isfinite, trial.intermediate_values.values())), trial.number
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    uploads = [m for t in complete for m in get_all_artifact_meta(t, storage=study._storage)]
    # the folder holds the finished trial's picture and weights, and no file of a failed trial
    assert len(list((in_tmp / "studies" / "tiny" / "artifacts").iterdir())) == len(uploads) == 2 * len(complete)
    json.dumps([t.user_attrs for t in study.trials], allow_nan=False)  # strict JSON readers (the dashboard's API) read it all


def test_a_failed_trial_is_said_to_be_retried_only_when_a_retry_is_queued() -> None:
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # what Optuna makes of a NaN value: no reason
    lines = io.StringIO()
    display = Display(Console(file=lines, width=200), study, 2)
    display.trial_finished(study, study.trials[0])
    assert "trial   0 fail     with no reason recorded" in lines.getvalue() and "retried" not in lines.getvalue()
    # a stale trial failed by Optuna's heartbeat check: no reason either, but its retry is in the study
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"failed_trial": 1}))
    display.trial_finished(study, study.trials[1])
    assert "trial   1 fail     its worker stopped beating (killed or lost), so it is retried once" in lines.getvalue()


def test_any_non_finite_objective_value_fails_the_trial_with_its_reason_before_upload(in_tmp: Path, monkeypatch) -> None:
    import search.trials.objective

    calls = []

    def nan_first(names, record):  # a value no training check saw (a colourfulness ratio, say): the first trial's only
        calls.append(names)
        return math.nan if len(calls) == 1 else record.kept_val_mse

    monkeypatch.setattr(search.trials.objective, "trial_values", nan_first)
    assert main(["run", str(SPACES / "tiny.yaml"), "--trials", "1", "--set", "train.epochs=1"]) == 0
    study = optuna.load_study(study_name="tiny", storage="sqlite:///studies/tiny.db")
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["reason"] == "non-finite objective value (val_mse nan)"
    assert get_all_artifact_meta(first, storage=study._storage) == []
    assert [t.state for t in study.trials[1:]] == [TrialState.COMPLETE]
