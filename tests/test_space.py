"""Space files: the shipped spaces, distributions, conditional parameters, overrides, and every error."""

from __future__ import annotations

import dataclasses
import random
import textwrap
from pathlib import Path

import optuna
import pytest
import torch

from cae.builder import build
from cae.spec import Architecture, ArchitectureError, Conv
from cae.tasks import task_of_architecture
from cae.training import TrainConfig
from search.factories import check_components
from search.sample import CHECK_SAMPLES, TrialConfig, optuna_suggest, random_suggest, sample
from search.space import Choice, FloatRange, IntRange, Space, SpaceError, TemplateModel, load_space
from search.space_check import check_space
from search.trials.start import resolve_start
from tests.conftest import SPACES

TEMPLATE = """
study: {name: t}
train:
  epochs: 1
model:
  depth: 2
  channels: 8
  latent_channels: 4
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_reference_space_is_the_assignments_network() -> None:
    space = load_space(SPACES / "reference.yaml")
    config = check_space(space)
    assert config is not None, "the reference space is fixed: one configuration"
    arch = config.architecture
    assert (arch.n_params, arch.latent_size, arch.latent_shape) == (4911, 1024, (16, 8, 8))
    assert [row.out_shape for row in arch.shapes][-1] == (3, 32, 32)
    assert config.train.epochs == 10 and config.train.loss == "mse"
    assert space.data.split == (0.8, 0.1, 0.1) and space.data.subset is None


def test_template_with_two_maxpool_stages_is_the_reference_too() -> None:
    # The template's mirror rule reproduces the assignment's network from 6 numbers.
    space = load_space(SPACES / "recon.yaml")
    params = {"depth": 2, "channels.0": 8, "channels.1": 12, "kernel": 3, "downsample": "maxpool",
              "upsample": "nearest", "latent_channels": 16, "batch_size": 64, "lr": 1e-3}  # fmt: skip
    arch = sample(space, random_suggest(random.Random(0), dict(params))).architecture
    assert arch == check_space(load_space(SPACES / "reference.yaml")).architecture


def test_recon_space_covers_the_issue() -> None:
    space = load_space(SPACES / "recon.yaml")
    assert isinstance(space.model, TemplateModel)
    d = space.distributions()
    assert d["depth"] == IntRange(1, 4)
    assert set(d["downsample"].values) == {"maxpool", "stride"}
    assert set(d["upsample"].values) == {"nearest", "bilinear", "transpose"}
    assert isinstance(d["lr"], FloatRange) and d["lr"].log
    assert isinstance(d["batch_size"], Choice) and isinstance(d["kernel"], Choice)
    assert {"channels", "latent_channels"} <= set(d)
    assert space.train["epochs"] >= 10
    assert space.study.pruner["type"] == "median"
    assert check_space(space) is None  # a real space: many configurations


def _finished_study(name: str, arch: Architecture) -> None:
    """studies/NAME.db with one completed trial of ``arch``, as ``python -m search run`` leaves it."""
    Path("studies").mkdir(exist_ok=True)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///studies/{name}.db")
    attrs = {"architecture": arch.to_dict(), "train": dataclasses.asdict(TrainConfig(epochs=3, batch_size=32))}
    study.add_trial(optuna.trial.create_trial(value=0.01, user_attrs=attrs))


@pytest.mark.parametrize("name", sorted(p.name for p in SPACES.glob("*.yaml")))
def test_every_shipped_space_loads_and_can_be_built(name: str, in_tmp: Path) -> None:
    space = load_space(SPACES / name)  # parsing is pure: a space that starts from another study parses without it
    if name == "colorize.yaml":  # the run reads study latent, which must exist then
        with pytest.raises(SpaceError, match=r"start\.study: expected a study with a finished trial"):
            resolve_start(space)
        _finished_study("latent", check_space(load_space(SPACES / "reference.yaml")).architecture)
        space = resolve_start(space)
        assert space.train["epochs"] == 4 and space.train["batch_size"] == 32 and space.data.subset == 24000
    assert space.study.name == Path(name).stem  # each file names its study after itself
    config, drawn = _first_buildable(space)
    assert check_space(space) == (None if drawn else config)  # a fixed space's one configuration, else none
    arch = config.architecture
    task = task_of_architecture(arch)
    assert task.name == drawn.get("task", space.task)
    size = arch.image_size  # the data's: 32 for CIFAR-10, 28 for MNIST
    x = torch.rand(2, task.in_channels, size, size)
    with torch.no_grad():
        model = build(arch).eval()
        z = model.encode(x)
        y = model.decode(z)
    # the built network takes the task's images to the task's outputs, through the latent its spec counts
    assert y.shape == (2, task.out_channels, size, size) and z[0].numel() == arch.latent_size
    assert (size, task.in_channels if task.name == "reconstruction" else 3) == (
        (28, 1) if space.data.dataset == "mnist" else (32, 3)
    )  # each space's images decide its input
    if task.name == "reconstruction":
        assert y.shape == x.shape
    bounds = space.model.params if isinstance(space.model, TemplateModel) else vars(space.model)
    if bounds.get("max_latent") is not None:  # the bound keeps the code smaller than the image it encodes
        assert arch.latent_size <= bounds["max_latent"] < x[0].numel()


def _first_buildable(space: Space) -> tuple[TrialConfig, dict]:
    """The first random draw of ``space`` that builds (the draws :func:`check_space` tries), and its drawn values."""
    for seed in range(CHECK_SAMPLES):
        drawn: dict = {}
        try:
            return sample(space, random_suggest(random.Random(seed), drawn)), drawn
        except ArchitectureError:
            continue
    raise AssertionError(f"{space.path}: no draw of {CHECK_SAMPLES} builds")


def test_conditional_parameters_exist_only_for_the_sampled_depth() -> None:
    space = load_space(SPACES / "recon.yaml", ["model.max_latent=null"])  # depth 1 draws may be over-complete
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for depth in (1, 3, 4):
        study.enqueue_trial({"depth": depth})
        trial = study.ask()
        arch = sample(space, optuna_suggest(trial)).architecture
        channels = sorted(k for k in trial.params if k.startswith("channels."))
        assert channels == [f"channels.{i}" for i in range(depth)]
        convs = [layer for layer in arch.encoder if isinstance(layer, Conv)]
        assert [c.out_channels for c in convs[:depth]] == [trial.params[k] for k in channels]
        study.tell(trial, 1.0)


def test_per_stage_kernels_and_channel_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        model:
          channels: [8, {choice: [12, 16]}]
          kernel: {choice: [3, 5]}
          per_stage: [kernel]
          latent_channels: 4
    """,
    )
    space = load_space(path)
    drawn: dict = {}
    arch = sample(space, random_suggest(random.Random(1), drawn)).architecture
    assert set(drawn) == {"channels.1", "kernel.0", "kernel.1"}
    assert arch.encoder[0] == Conv(8, drawn["kernel.0"])


def test_overrides_reach_any_entry(tmp_path: Path) -> None:
    space = load_space(SPACES / "reference.yaml", ["train.epochs=4", "data.subset=512", "model.encoder.0.kernel=5", "train.lr=3e-3"])
    config = check_space(space)
    assert config.train.epochs == 4 and config.train.lr == 3e-3
    assert space.data.subset == 512
    assert config.architecture.encoder[0] == Conv(8, 5)  # 3·8·25 + 8 = 608 parameters
    assert config.architecture.n_params == 4911 - 224 + 608
    recon = load_space(SPACES / "recon.yaml", ["model.depth={int: [2, 3]}", "study.pruner={type: hyperband, min_resource: 2}"])
    assert recon.distributions()["depth"] == IntRange(2, 3)
    assert recon.study.pruner == {"type": "hyperband", "min_resource": 2}


def test_padding_same_is_the_size_keeping_padding(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        model:
          encoder: [{conv: 8, kernel: 5, padding: same}, {conv: 4, kernel: 3, padding: 0}]
          decoder: [{transpose: 3, kernel: 3, stride: 1}]
    """,
    )
    arch = check_space(load_space(path)).architecture
    assert arch.encoder == (Conv(8, 5, padding=2), Conv(4, 3, padding=0))
    assert arch.latent_shape == (4, 30, 30)


def test_float_keys_accept_exponents_without_a_dot(tmp_path: Path) -> None:
    # PyYAML reads 1e-3 as a string; users mean the number.
    space = load_space(write(tmp_path, TEMPLATE.replace("epochs: 1", "epochs: 1\n  lr: 1e-3")))
    assert space.train["lr"] == 1e-3


BAD_SPACES = [
    # (what is wrong, YAML, --set overrides, key in the message, expectation in the message)
    ("unknown section", "trian: {epochs: 1}\nmodel: {depth: 1}", [], "trian", "did you mean train"),
    ("unknown key", TEMPLATE + "  kernal: 3\n", [], "model.kernal", "did you mean kernel"),
    ("wrong type", TEMPLATE.replace("epochs: 1", "epochs: ten"), [], "train.epochs", "expected an integer from 1 to 100000, got 'ten'"),
    ("reversed int range", TEMPLATE.replace("depth: 2", "depth: {int: [5, 1]}"), [], "model.depth", "low ≤ high, got [5, 1]"),
    ("empty choice", TEMPLATE.replace("channels: 8", "channels: {choice: []}"), [], "model.channels", "at least one value"),
    (
        "bad choice value",
        TEMPLATE.replace("depth: 2", "depth: 2\n  upsample: {choice: [nearest, cubic]}"),
        [],
        "model.upsample",
        "one of nearest, bilinear, transpose for every choice value, got 'cubic'",
    ),
    ("float range on an int key", TEMPLATE.replace("depth: 2", "depth: {float: [1, 3]}"), [], "model.depth", "use {int: [low, high]}"),
    ("misspelt distribution", TEMPLATE.replace("depth: 2", "depth: {choise: [1, 2]}"), [], "model.depth", "did you mean choice"),
    (
        "log with step",
        TEMPLATE.replace("epochs: 1", "epochs: 1\n  lr: {float: [0.001, 0.1], log: true, step: 0.01}"),
        [],
        "train.lr",
        "either log or step",
    ),
    (
        "log from zero",
        TEMPLATE.replace("epochs: 1", "epochs: 1\n  weight_decay: {float: [0, 0.1], log: true}"),
        [],
        "train.weight_decay",
        "positive low bound",
    ),
    ("non-positive size", TEMPLATE.replace("channels: 8", "channels: 0"), [], "model.channels", "expected an integer ≥ 1, got 0"),
    (
        "bad padding",
        "model:\n  encoder: [{conv: 8, padding: valid}]\n  decoder: [{conv: 3}]",
        [],
        "model.encoder.0.padding",
        "an integer ≥ 0 or same, got 'valid'",
    ),
    (
        "fixed impossible shapes",
        TEMPLATE.replace("depth: 2", "depth: 6"),
        [],
        "model.depth",
        "expected at most 5: a 32×32 image halves evenly 5",
    ),
    (
        "space of impossible shapes",
        TEMPLATE.replace("depth: 2", "depth: {int: [6, 9]}"),
        [],
        "model.depth",
        "a depth of 9 would halve it 9 times",
    ),
    ("fixed design over its bound", TEMPLATE.replace("depth: 2", "depth: 2\n  max_latent: 1"), [], "model", "above model.max_latent (1)"),
    ("explicit and template mixed", "model: {depth: 2, encoder: [{conv: 3}]}", [], "model", "not both"),
    (
        "unknown layer kind",
        "model:\n  encoder: [{convolution: 8}]\n  decoder: [{conv: 3}]",
        [],
        "model.encoder.0",
        "exactly one layer kind",
    ),
    (
        "layer option of another kind",
        "model:\n  encoder: [{maxpool: 2, kernel: 3}]\n  decoder: [{conv: 3}]",
        [],
        "model.encoder.0.kernel",
        "unknown key",
    ),
    (
        "decoder that does not return",
        "model:\n  encoder: [{conv: 8}, {maxpool: 2}]\n  decoder: [{conv: 3}]",
        [],
        "model",
        "decoder returns 3×16×16, expected 3×32×32",
    ),
    ("unknown sampler", TEMPLATE.replace("{name: t}", "{name: t, sampler: {type: tpee}}"), [], "study.sampler.type", "did you mean tpe"),
    (
        "unknown pruner setting",
        TEMPLATE.replace("{name: t}", "{name: t, pruner: {type: median, warmup: 2}}"),
        [],
        "study.pruner.warmup",
        "expected one of n_startup_trials",
    ),
    (
        "invalid pruner value",
        TEMPLATE.replace("{name: t}", "{name: t, pruner: {type: percentile, percentile: 150}}"),
        [],
        "study.pruner",
        "percentile",
    ),
    ("bad split", TEMPLATE + "data: {split: [0.8, 0.3, 0.1]}\n", [], "data.split", "summing to 1"),
    ("study name escaping studies/", TEMPLATE.replace("{name: t}", "{name: ../etc}"), [], "study.name", "no '/' or '..'"),
    (
        "unknown dataset",
        TEMPLATE + "data: {dataset: mnst}\n",
        [],
        "data.dataset",
        "one of cifar10, cifar100, mnist, fashionmnist, kmnist, svhn, stl10, imagefolder",
    ),
    (
        "bce with a linear output",
        TEMPLATE.replace("epochs: 1", "epochs: 1\n  loss: bce") + "  output: none\n",
        [],
        "model",
        "model.output must be sigmoid",
    ),
    ("yaml syntax", "model:\n  depth: [1, 2\n", [], "line 3, column 1", "expected valid YAML"),
    ("not a mapping", "- just\n- a list\n", [], "file", "expected a mapping with sections"),
    ("no model", "train: {epochs: 1}\n", [], "model", "missing"),
    ("--set without =", TEMPLATE, ["train.epochs"], "overrides=", "expected key.path=value"),
    ("--set unknown section", TEMPLATE, ["trainn.epochs=2"], "overrides= trainn.epochs", "did you mean train"),
    ("--set through a number", TEMPLATE, ["train.epochs.max=2"], "overrides= train.epochs.max", "train.epochs is 1, not a mapping"),
    (
        "--set list index",
        "model:\n  encoder: [{conv: 8}]\n  decoder: [{conv: 3}]",
        ["model.encoder.3.kernel=5"],
        "overrides= model.encoder.3.kernel",
        "index from 0 to 0",
    ),
    (
        "--set bad value",
        TEMPLATE,
        ["train.epochs=-3"],
        "train.epochs",
        "expected an integer from 1 to 100000, got -3 (from overrides='train.epochs=-3')",
    ),
    ("unknown task", TEMPLATE + "task: colourization\n", [], "task", "one of reconstruction, colorization, colorization_chroma"),
    ("start without study", "start: {storage: 'sqlite:///x.db'}\n", [], "start.study", "missing: expected the name of a finished study"),
    ("start with a bad key", "start: {stduy: recon}\n", [], "start.stduy", "did you mean study"),
    ("width without start", TEMPLATE + "  width: 2\n", [], "model.width", "unknown key"),
    ("grid over a float range", TEMPLATE, ["study.sampler={type: grid}", "train.lr={float: [0.001, 0.01]}"], "train.lr", "grid sampler"),
]


@pytest.mark.parametrize(("case", "text", "overrides", "key", "expected"), BAD_SPACES, ids=[c[0] for c in BAD_SPACES])
def test_malformed_spaces_name_the_file_the_key_and_the_expectation(tmp_path, case, text, overrides, key, expected) -> None:
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(SpaceError) as caught:
        space = load_space(path, overrides)
        check_space(space)
        check_components(space.study, space.path)  # as the run does: Optuna judges the values
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message, message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "nope.yaml")


def test_latent_dim_gives_a_dense_bottleneck_of_any_size() -> None:
    space = load_space(SPACES / "latent2.yaml")
    for dim in (2, 8, 512):
        arch = sample(space, lambda name, dist, dim=dim: dim if name == "latent_dim" else dist.values[0]).architecture
        assert arch.latent_size == dim and arch.latent_shape == (dim, 1, 1)
        assert [row.out_shape for row in arch.shapes if row.part == "decoder"][:2] == [(512, 1, 1), (32, 4, 4)]


def test_explicit_dense_and_reshape_layers(tmp_path: Path) -> None:
    text = """
model:
  encoder: [{conv: 8}, {maxpool: 2}, {dense: 2, activation: none}]
  decoder: [{dense: 2048}, {reshape: 8, size: 16}, {upsample: 2}, {conv: 3}]
"""
    arch = check_space(load_space(write(tmp_path, text, "dense.yaml"))).architecture
    assert arch.latent_size == 2 and arch.decoder[0].activation == "relu" and arch.encoder[-1].activation == "none"
