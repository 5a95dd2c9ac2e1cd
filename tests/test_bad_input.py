"""Bad input (issue 5): a catalogue of malformed spaces, flags, data and storages, through ``python -m search run``.

Every case must exit 2 with exactly one line on stderr, ``error: WHERE: KEY: what was expected``,
naming the file (or the flag that held the input), the key and the expectation; no traceback; and
an existing study must be left as it was: its database's bytes and its ``studies/`` folder.
Each case runs against the session's ``tiny_study`` (``studies/tiny.db`` of ``spaces/tiny.yaml``),
so every space below keeps the study name ``tiny`` unless the name itself is the bad input (the
colorizer cases, started from ``tiny``, name a new study ``tiny-colour`` that must never be created).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import io
import random
import re
import socket
import sqlite3
import time
import warnings
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from PIL import Image

from search.cli import main
from tests.conftest import SPACES, analysis, run_cli
from tests.test_analysis import run_tiny_search, write_images

TINY_TEXT = (SPACES / "tiny.yaml").read_text()
PASSWORD_URL = "postgresql://user:secret@127.0.0.1:1/db"


def tiny(old: str, new: str) -> str:
    """``spaces/tiny.yaml`` (study ``tiny``) with one edit."""
    assert old in TINY_TEXT, old
    return TINY_TEXT.replace(old, new, 1)


def image_tree(root: Path, extra: str | None = None, content: bytes = b"") -> None:
    """A CIFAR-10-like export: ``train/cat/*.jpg`` and ``test/cat/*.jpg``, plus ``train/cat/EXTRA`` holding ``content``."""
    for part, count in (("train", 8), ("test", 2)):
        folder = root / part / "cat"
        folder.mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (32, 32), (20 * i, 100, 50)).save(folder / f"{i}.jpg")
    if extra:
        (root / "train" / "cat" / extra).write_bytes(content)


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, "JPEG")
    return buffer.getvalue()[:300]


@dataclass(frozen=True)
class Case:
    id: str
    space: str | None  # YAML of the space file; None: no file is written
    key: str  # must be in the message
    expected: str  # must be in the message
    args: tuple[str, ...] = ()  # flags after the space file
    names: tuple[str, ...] = ("SPACE",)  # what the message must name: the space file (SPACE) and/or a flag
    prepare: Callable[[Path], None] | None = None  # builds data folders in the test's folder
    within: float | None = None  # seconds the refusal may take: hostile input is refused at once, not after a hang

    def fill(self, text: str, tmp: Path, space: Path) -> str:
        return text.replace("SPACE", str(space)).replace("TMP", str(tmp))


# "Billion laughs": 9 levels of 9 aliases, 9⁹ values from 900 bytes; expanding it took minutes.
ALIAS_BOMB = (
    "[&b0 [1, 1, 1, 1, 1, 1, 1, 1, 1], "
    + ", ".join(f"&b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, 9))
    + f", [{', '.join(['*b8'] * 9)}]]"
)
TEN_MB = 10_000_000
# What one line of a message may hold: the longest the catalogue expects is about 300 characters.
LONGEST_MESSAGE = 1000
DATA = "data:\n  subset: 600\n"
# a colorizer started from the session's study tiny, under the same name (a study of another name would be new)
STARTED = "study: {name: tiny-colour}\nstart: {study: tiny}\ntask: colorization_classes\ndata: {subset: 600}\n"
CASES = [
    # ---- the file itself
    Case("file-missing", None, "file", "no such file (expected a space such as spaces/recon.yaml)"),
    Case("file-empty", "", "file", "expected a mapping with sections study, data, train, model, task, start, classes, got an empty file"),
    Case("file-is-a-list", "- study\n- model\n", "file", "expected a mapping with sections study, data, train, model"),
    # ---- YAML syntax: the line and column are the key
    Case(
        "yaml-bad-indentation",
        tiny("  epochs: 2\n", "  epochs: 2\n   lr: 0.01\n"),
        "line 10, column 6",
        "expected valid YAML (mapping values are not allowed here)",
    ),
    Case("yaml-tab", tiny("  epochs: 2", "\tepochs: 2"), "line 9, column 1", "expected valid YAML (found character '\\t'"),
    Case(
        "yaml-unclosed-bracket",
        tiny("kernel: 3", "kernel: {choice: [3, 5}"),
        "line 15, column 25",
        "expected valid YAML (expected ',' or ']', but got '}')",
    ),
    # ---- unknown keys, with a suggestion
    Case("unknown-section", tiny("train:", "trian:"), "trian", "unknown key (did you mean train?)"),
    Case("unknown-train-key", tiny("  epochs: 2", "  epochs: 2\n  lerning_rate: 0.01"), "train.lerning_rate", "(did you mean lr?)"),
    Case("unknown-model-key", tiny("  kernel: 3", "  kernal: 3"), "model.kernal", "unknown key (did you mean kernel?)"),
    # ---- wrong types
    Case("epochs-a-word", tiny("epochs: 2", 'epochs: "ten"'), "train.epochs", "expected an integer from 1 to 100000, got 'ten'"),
    Case(
        "lr-a-list",
        tiny("lr: {float: [1.0e-3, 1.0e-2], log: true}", "lr: [1, 2]"),
        "train.lr",
        "expected a number > 0 or a distribution, got [1, 2] (write {float: [1, 2]} for a range",
    ),
    Case("kernel-a-fraction", tiny("kernel: 3", "kernel: 3.5"), "model.kernel", "expected an integer ≥ 1, got 3.5"),
    # ---- distributions
    Case("choice-empty", tiny("kernel: 3", "kernel: {choice: []}"), "model.kernel", "expected {choice: [...]} with at least one value"),
    Case("int-range-reversed", tiny("depth: {int: [1, 2]}", "depth: {int: [5, 1]}"), "model.depth", "low ≤ high, got [5, 1]"),
    # ---- sizes that must be positive
    Case("channels-zero", tiny("channels: {int: [4, 12]}", "channels: 0"), "model.channels", "expected an integer ≥ 1, got 0"),
    Case("kernel-negative", tiny("kernel: 3", "kernel: -1"), "model.kernel", "expected an integer ≥ 1, got -1"),
    Case("epochs-zero", tiny("epochs: 2", "epochs: 0"), "train.epochs", "expected an integer from 1 to 100000, got 0"),
    Case(
        "batch-size-zero",
        tiny("batch_size: {choice: [32, 64]}", "batch_size: 0"),
        "train.batch_size",
        "expected an integer ≥ 1, got 0",
    ),
    Case("subset-zero", tiny("subset: 600", "subset: 0"), "data.subset", "expected an integer ≥ 10 or null (all images), got 0"),
    # ---- architectures whose shapes cannot work
    Case(
        "too-many-stride-2-stages",
        tiny("depth: {int: [1, 2]}", "depth: 6").replace("downsample: {choice: [maxpool, stride]}", "downsample: stride"),
        "model.depth",
        "expected at most 5: a 32×32 image halves evenly 5 times (32 → 16 → 8 → 4 → 2 → 1), and a depth of 6 would halve it 6 times",
    ),
    Case(
        "too-many-downsamplings-explicit",
        "study: {name: tiny}\nmodel:\n  encoder: [" + ", ".join(["{conv: 8, kernel: 2, stride: 2, padding: 0}"] * 6) + "]\n"
        "  decoder: [{upsample: 64}, {conv: 3}]\n",
        "model",
        "encoder layer 5 (conv 2×2/2 p0 → 8, relu): kernel 2 is larger than its padded 1×1 input",
    ),
    Case(
        "reshape-mismatch",
        "study: {name: tiny}\nmodel:\n  encoder: [{conv: 4, stride: 2}, {dense: 16}]\n"
        "  decoder: [{dense: 1024}, {reshape: 16, size: 16}, {upsample: 2}, {conv: 3}]\n",
        "model",
        "decoder layer 1 (reshape → 16×16×16): 16×16×16 = 4,096 values, but its input 1024×1×1 has 1,024",
    ),
    Case(
        "decoder-output-size",
        "study: {name: tiny}\nmodel:\n  encoder: [{conv: 8}, {maxpool: 2}]\n  decoder: [{conv: 3}]\n",
        "model",
        "the decoder returns 3×16×16, expected 3×32×32 (the input's shape)",
    ),
    # ---- the vocabulary of issue 11: every new key, a bad value each
    Case("blocks-zero", tiny("kernel: 3", "kernel: 3\n  blocks: 0"), "model.blocks", "expected an integer ≥ 1, got 0"),
    Case("residual-not-a-bool", tiny("kernel: 3", "kernel: 3\n  residual: yes please"), "model.residual", "expected true or false"),
    Case("norm-unknown", tiny("kernel: 3", "kernel: 3\n  norm: layer"), "model.norm", "expected one of none, batch, group, got 'layer'"),
    Case(
        "linear-bottleneck-a-number",
        tiny("kernel: 3", "kernel: 3\n  linear_bottleneck: 1"),
        "model.linear_bottleneck",
        "expected true or false, got 1",
    ),
    Case(
        "output-unknown", tiny("kernel: 3", "kernel: 3\n  output: relu"), "model.output", "expected one of sigmoid, tanh, none, got 'relu'"
    ),
    Case(
        "linear-skip-with-sigmoid",
        tiny("kernel: 3", "kernel: 3\n  linear_skip: true"),
        "model",
        "linear_skip needs output: none",
    ),
    Case(
        "refine-depth-zero",
        tiny("kernel: 3", "kernel: 3\n  refine_depth: 0"),
        "model.refine_depth",
        "expected an integer ≥ 1, got 0",
    ),
    Case(
        "refine-depth-without-linear-skip",
        tiny("kernel: 3", "kernel: 3\n  refine_depth: 1"),
        "model",
        "model.refine_depth shapes the decoder that refines the linear path's image: it needs linear_skip: true",
    ),
    Case(
        "max-latent-zero",
        tiny("kernel: 3", "kernel: 3\n  max_latent: 0"),
        "model.max_latent",
        "expected an integer ≥ 1, got 0",
    ),
    Case(
        "max-latent-searched",
        tiny("kernel: 3", "kernel: 3\n  max_latent: {choice: [64, 128]}"),
        "model.max_latent",
        "expected a constant (an integer ≥ 1): this key cannot be searched",
    ),
    Case(
        "max-latent-below-every-draw",
        tiny("kernel: 3", "kernel: 3\n  max_latent: 2"),
        "model",
        "expected some architecture that can be built; none of 200 random draws can (latent",
    ),
    Case(
        "max-params-a-word", tiny("kernel: 3", "kernel: 3\n  max_params: many"), "model.max_params", "expected an integer ≥ 1, got 'many'"
    ),
    Case(
        "residual-channels-mismatch",
        "study: {name: tiny}\nmodel:\n  encoder: [{conv: 8, stride: 2}, {residual: 4}]\n  decoder: [{upsample: 2}, {conv: 3}]\n",
        "model",
        "a residual block keeps its input's channels, but its input has 8 and it says 4",
    ),
    Case(
        "residual-norm-unknown",
        "study: {name: tiny}\nmodel:\n  encoder: [{conv: 8, stride: 2}, {residual: 8, norm: batchy}]\n"
        "  decoder: [{upsample: 2}, {conv: 3}]\n",
        "model.encoder.1.norm",
        "expected one of none, batch, group, got 'batchy'",
    ),
    Case(
        "schedule-unknown",
        tiny("  epochs: 2", "  epochs: 2\n  schedule: cosin"),
        "train.schedule",
        "expected one of constant, cosine, onecycle, plateau, got 'cosin'",
    ),
    Case("warmup-negative", tiny("  epochs: 2", "  epochs: 2\n  warmup: -1"), "train.warmup", "expected a number ≥ 0, got -1"),
    Case(
        "warmup-longer-than-training",
        tiny("  epochs: 2", "  epochs: 2\n  warmup: 2"),
        "train.warmup",
        "expected fewer epochs of warm-up than train.epochs (2), got 2",
    ),
    Case(
        "weight-decay-negative",
        tiny("  epochs: 2", "  epochs: 2\n  optimizer: adamw\n  weight_decay: -0.01"),
        "train.weight_decay",
        "expected a number ≥ 0, got -0.01",
    ),
    Case(
        "objective-unknown",
        tiny("name: tiny", "name: tiny\n  objectives: [val_mse, size]"),
        "study.objectives",
        "unknown objective 'size'",
    ),
    Case(
        "objectives-without-the-error",
        tiny("name: tiny", "name: tiny\n  objectives: [latent_size]"),
        "study.objectives",
        "expected a list of distinct objectives from val_mse, latent_size, n_params, colourfulness, val_mse among them, "
        "got ['latent_size']",
    ),
    Case(
        "median-pruner-with-two-objectives",
        tiny("name: tiny", "name: tiny\n  objectives: [val_mse, latent_size]"),
        "study.pruner.type",
        "expected one of latent_percentile, none, pareto_halving in a study of several objectives, got 'median'",
    ),
    Case(
        "latent-pruner-bad-percentile",
        tiny("type: median, n_startup_trials: 1, n_warmup_steps: 0", "type: latent_percentile, percentile: 150"),
        "study.pruner",
        "expected valid latent_percentile pruner settings (percentile",
    ),
    Case(
        "latent-pruner-unknown-setting",
        tiny("type: median, n_startup_trials: 1, n_warmup_steps: 0", "type: latent_percentile, latent_factr: 2"),
        "study.pruner.latent_factr",
        "(did you mean latent_factor?)",
    ),
    *(
        Case(
            f"pareto-halving-{key}-{value}",
            tiny("type: median, n_startup_trials: 1, n_warmup_steps: 0", f"type: pareto_halving, {key}: {value}"),
            "study.pruner",
            f"expected valid pareto_halving pruner settings ({key} must be an integer of at least {least}, got {shown}",
        )
        for key, value, least, shown in (
            ("min_epochs", "0", 1, "0"),
            ("min_epochs", "1.5", 1, "1.5"),
            ("eta", "1", 2, "1"),
            ("eta", "true", 2, "True"),
            ("n_min_trials", "0", 1, "0"),
            ("n_min_trials", "three", 1, "'three'"),
        )
    ),
    Case(
        "pareto-halving-unknown-setting",
        tiny("type: median, n_startup_trials: 1, n_warmup_steps: 0", "type: pareto_halving, min_epoch: 2"),
        "study.pruner.min_epoch",
        "(did you mean min_epochs?)",
    ),
    # ---- study settings
    Case(
        "sampler-unknown",
        tiny("type: tpe", "type: bayes"),
        "study.sampler.type",
        "expected one of tpe, random, qmc, grid, nsga2, got 'bayes'",
    ),
    Case("pruner-unknown", tiny("type: median", "type: medain"), "study.pruner.type", "got 'medain' (did you mean median?)"),
    Case("study-name-with-slash", tiny("name: tiny", "name: tiny/evil"), "study.name", "no '/' or '..'), got 'tiny/evil'"),
    Case(
        "study-flag-with-dotdot",
        TINY_TEXT,
        "--study",
        "expected a name of letters, digits, '_', '-' and '.' (no '/' or '..'), got '../tiny'",
        args=("--study", "../tiny"),
        names=("--study",),
    ),
    # ---- --set
    Case(
        "set-unknown-key",
        TINY_TEXT,
        "train.nope",
        "unknown key; expected one of epochs, batch_size, lr",
        args=("--set", "train.nope=1"),
        names=("SPACE", "--set train.nope=1"),
    ),
    Case("set-without-equals", TINY_TEXT, "--set", "expected key.path=value, got 'foo'", args=("--set", "foo"), names=("SPACE", "--set")),
    Case(
        "set-epochs-not-a-number",
        TINY_TEXT,
        "train.epochs",
        "expected an integer from 1 to 100000, got 'abc' (from --set train.epochs=abc)",
        args=("--set", "train.epochs=abc"),
        names=("SPACE", "--set"),
    ),
    # ---- data
    Case(
        "data-root-missing",
        tiny(DATA, "data:\n  root: TMP/missing\n  subset: 600\n"),
        "data.root",
        "TMP/missing: CIFAR-10 is not there and could not be downloaded",
    ),
    Case(
        "data-root-empty",
        tiny(DATA, "data:\n  root: TMP/empty\n  subset: 600\n"),
        "data.root",
        "TMP/empty: CIFAR-10 is not there and could not be downloaded",
        prepare=lambda tmp: (tmp / "empty").mkdir(),
    ),
    Case(
        "data-root-empty-imagefolder",
        tiny(DATA, "data:\n  dataset: imagefolder\n  root: TMP/empty\n  subset: 600\n"),
        "data.root",
        "TMP/empty: no images found",
        prepare=lambda tmp: (tmp / "empty").mkdir(),
    ),
    Case(
        "data-export-without-class-folders",
        tiny(DATA, "data:\n  root: TMP/export\n  subset: 600\n"),
        "data.root",
        "TMP/export: no images found",
        prepare=lambda tmp: [(tmp / "export" / part).mkdir(parents=True) for part in ("train", "test")],
    ),
    Case(
        "data-unreadable-image",
        tiny(DATA, "data:\n  root: TMP/images\n  subset: null\n"),
        "data.root",
        "TMP/images/train/cat/broken.jpg: cannot read this image",
        prepare=lambda tmp: image_tree(tmp / "images", "broken.jpg", b"\x00garbage, not a JPEG\xff" * 8),
    ),
    Case(
        "data-truncated-image",
        tiny(DATA, "data:\n  root: TMP/images\n  subset: null\n"),
        "data.root",
        "TMP/images/train/cat/truncated.jpg: cannot read this image",
        prepare=lambda tmp: image_tree(tmp / "images", "truncated.jpg", truncated_jpeg()),
    ),
    # ---- colour as classes and starting from a trial (issue 12): a bad value each
    Case("classes-rebalance-above-1", STARTED + "classes: {rebalance: 2}\n", "classes.rebalance", "expected a number in [0, 1], got 2"),
    Case("classes-bins-below-2", STARTED + "classes: {bins: 1}\n", "classes.bins", "expected an integer ≥ 2, got 1"),
    Case("classes-temperature-zero", STARTED + "classes: {temperature: 0}\n", "classes.temperature", "expected a number > 0, got 0"),
    Case("classes-unknown-key", STARTED + "classes: {lambda: 0.5}\n", "classes.lambda", "unknown key"),
    Case("start-trial-and-latent", STARTED.replace("{study: tiny}", "{study: tiny, trial: 0, latent: 64}"), "start", "not both"),
    Case("start-trial-negative", STARTED.replace("{study: tiny}", "{study: tiny, trial: -1}"), "start.trial", "expected an integer ≥ 0"),
    Case(
        "start-trial-not-there",
        STARTED.replace("{study: tiny}", "{study: tiny, trial: 99}"),
        "start.study",
        "trial 99 of study tiny: expected a completed trial, it is not in the study",
    ),
    Case("context-negative", STARTED + "model: {context: -1}\n", "model.context", "expected an integer ≥ 0, got -1"),
    Case(
        "colourfulness-of-a-reconstruction",
        tiny("study:\n", "study:\n  objectives: [val_mse, colourfulness]\n  pruner: {type: none}\n").replace(
            "  pruner: {type: median, n_startup_trials: 1, n_warmup_steps: 0}\n", ""
        ),
        "study.objectives",
        "expected colourfulness only in a space whose every task is a colorization",
    ),
    Case(  # issue 20: the landed code warned, ran and mixed parameter counts into a column of latent sizes
        "objectives-changed-on-resume",
        tiny("study:\n", "study:\n  objectives: [val_mse, n_params]\n  pruner: {type: none}\n").replace(
            "  pruner: {type: median, n_startup_trials: 1, n_warmup_steps: 0}\n", ""
        ),
        "was created with objectives [val_mse, latent_size] (minimize, minimize)",
        "but SPACE asks for [val_mse, n_params] (minimize, minimize); give this search another name with --study",
        args=("--storage", "sqlite:///TMP/pair.db"),
        prepare=lambda tmp: optuna.create_study(
            study_name="tiny", storage=f"sqlite:///{tmp}/pair.db", directions=["minimize", "minimize"]
        ).set_metric_names(["best val MSE", "latent size"]),
    ),
    # ---- hostile input (issue 20): refused at once, in one bounded line
    Case(
        "yaml-alias-bomb-as-a-value",
        tiny("kernel: 3", f"kernel: {ALIAS_BOMB}"),
        "file",
        "expected at most 100,000 values once YAML aliases (*name) are expanded, got 4,412,961,582",
        within=1.0,
    ),
    Case(
        "yaml-alias-bomb-as-the-study-name",
        tiny("name: tiny", f"name: {ALIAS_BOMB}"),
        "file",
        "expected at most 100,000 values once YAML aliases (*name) are expanded",
        within=1.0,
    ),
    Case(
        "yaml-alias-bomb-in-set",
        TINY_TEXT,
        "--set model.kernel",
        "expected at most 100,000 values once YAML aliases (*name) are expanded",
        args=("--set", f"model.kernel={ALIAS_BOMB}"),
        names=("SPACE", "--set model.kernel"),
        within=1.0,
    ),
    Case(
        "study-name-of-10-mb",
        tiny("name: tiny", "name: " + "x" * TEN_MB),
        "file",
        f"expected a space file of at most 65,536 bytes, got {len(TINY_TEXT) - 4 + TEN_MB:,} bytes",
        within=1.0,
    ),
    Case(
        "comment-of-10-mb",
        TINY_TEXT + "# " + "c" * TEN_MB + "\n",
        "file",
        "expected a space file of at most 65,536 bytes",
        within=1.0,
    ),
    Case(
        "long-study-name-shown-as-an-excerpt",
        tiny("name: tiny", "name: " + "x" * 50_000),
        "study.name",
        f"got '{'x' * 80}'… (50,000 characters)",
    ),
    Case(
        "yaml-nested-beyond-the-recursion-limit",
        tiny("kernel: 3", "kernel: " + "[" * 5000 + "]" * 5000),
        "file",
        "got nesting beyond Python's recursion limit",
    ),
    Case(
        "batch-larger-than-the-training-split",
        tiny("batch_size: {choice: [32, 64]}", "batch_size: 100000"),
        "train.batch_size",
        "expected at most the training split's 480 images (data.subset and data.split decide it), got 100,000",
    ),
    Case(
        "storage-inside-a-regular-file",
        TINY_TEXT,
        "--storage sqlite:///TMP/notes.txt/tiny.db",
        "TMP/notes.txt is a file, not a folder",
        args=("--storage", "sqlite:///TMP/notes.txt/tiny.db"),
        names=("--storage",),
        prepare=lambda tmp: (tmp / "notes.txt").write_text("a file where a folder was meant"),
    ),
    # ---- storage
    Case(
        "storage-unreachable",
        TINY_TEXT,
        "postgresql://user:***@127.0.0.1:1/db",
        "cannot open this storage",
        args=("--storage", PASSWORD_URL),
        names=("--storage",),
    ),
]
# Through a real `python -m search run` process too: what a user sees, warnings and all.
IN_A_PROCESS = [
    "yaml-unclosed-bracket",
    "set-epochs-not-a-number",
    "study-flag-with-dotdot",
    "storage-unreachable",
    "yaml-alias-bomb-as-a-value",
]
# Shown by a plain `python` (the defaults pytest widens): these would reach a user's stderr.
QUIET_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def _sidecar(path: Path) -> bool:
    """SQLite's WAL index (``-shm``) and an empty write-ahead log: made by any reader of a WAL database, holding no data."""
    return path.name.endswith("-shm") or (path.name.endswith("-wal") and path.stat().st_size == 0)


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder/studies``, with the sha256 of each file (SQLite's data-free sidecars left out)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted((folder / "studies").rglob("*"))
        if not (path.is_file() and _sidecar(path))
    }


def argv(case: Case, tmp: Path) -> tuple[list[str], Path]:
    """The command line of ``case``, with its space file (and data folders) written in ``tmp``."""
    space = tmp / "bad.yaml"
    if case.space is not None:
        space.write_text(case.fill(case.space, tmp, space))
    if case.prepare is not None:
        case.prepare(tmp)
    return ["run", str(space), "--trials", "1", *(case.fill(a, tmp, space) for a in case.args)], space


def check_message(case: Case, tmp: Path, space: Path, stdout: str, stderr: str) -> None:
    assert len(stdout + stderr) <= LONGEST_MESSAGE, f"{len(stdout + stderr):,} characters: {(stdout + stderr)[:300]}"
    assert "Traceback" not in stdout + stderr, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    for name in case.names:
        assert case.fill(name, tmp, space) in stderr, stderr
    assert case.fill(case.key, tmp, space) in stderr, stderr
    assert case.fill(case.expected, tmp, space) in stderr, stderr
    assert "secret" not in stdout + stderr


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download can start: CIFAR-10 pointed at an empty folder must fail here, not fetch 170 MB."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    case: Case, tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, no_network: None
) -> None:
    monkeypatch.chdir(tiny_study)
    before = snapshot(tiny_study)
    args, space = argv(case, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        try:
            code = main(args)
        except SystemExit as exited:  # argparse's own exits
            code = exited.code
        seconds = time.perf_counter() - started
    out, err = capsys.readouterr()
    shown = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
        for w in caught
        if not issubclass(w.category, QUIET_BY_DEFAULT)
    )
    assert code == 2, err[:LONGEST_MESSAGE]
    check_message(case, tmp_path, space, out, shown + err)
    assert case.within is None or seconds < case.within, f"refused after {seconds:.2f} s"
    assert snapshot(tiny_study) == before, "bad input changed the stored study"


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
@pytest.mark.parametrize("case_id", IN_A_PROCESS)
def test_bad_input_in_a_real_process(case_id: str, tiny_study: Path, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    before = snapshot(tiny_study)
    args, space = argv(case, tmp_path)
    result = run_cli(*args, cwd=tiny_study)
    assert result.returncode == 2, result.stderr
    check_message(case, tmp_path, space, result.stdout, result.stderr)
    assert snapshot(tiny_study) == before, "bad input changed the stored study"


def test_the_catalogue_is_complete() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) >= 20
    assert set(IN_A_PROCESS) <= set(ids)


# Where search/ words an error for its caller: a raise, and the helpers whose words become an error's
# (a study name's check, a write's label, a space's bound). The commands' own modules speak flags
# (search's below; analysis' commands call check_study_name with theirs).
ERROR_WORDING_CALLS = {"check_study_name", "writing", "_check_bounds"}
COMMAND_MODULES = {"cli.py", "command_line.py", "slurm.py"}


def _called(call: ast.Call) -> str | None:
    """The name a call calls: ``f`` of ``f(...)`` and of ``module.f(...)``."""
    return getattr(call.func, "id", None) or getattr(call.func, "attr", None)


def test_library_errors_name_parameters_not_flags() -> None:
    """The library speaks Python (issue 30): an error raised in analysis/ or search/ names a parameter (``image='cat'``,
    ``storage='x.db'``, ``overrides=``), never a command-line flag (``--image``, ``--storage``, ``--set``); the commands
    word it as their flag (the cases below check the lines they print)."""
    flag = re.compile(r"(?<![\w-])--[a-z]")
    root = SPACES.parent
    search = [p for p in sorted((root / "search").rglob("*.py")) if p.name not in COMMAND_MODULES]
    assert root / "search" / "runtime" / "storage.py" in search and root / "search" / "space" / "overrides.py" in search
    found = []
    for path in [*sorted((root / "analysis").rglob("*.py")), root / "search" / "command_line.py", *search]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                words = node.exc
            elif path in search and isinstance(node, ast.Call) and _called(node) in ERROR_WORDING_CALLS:
                words = node
            else:
                continue
            texts = [c.value for c in ast.walk(words) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            found += [f"{path.relative_to(root)}:{node.lineno}: {text}" for text in texts if flag.search(text)]
    assert found == []


def test_the_commands_word_library_parameters_as_their_flags(tiny_study: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import search.trials.best
    from search.cli import _command_flags, _parser
    from search.command_line import flag_words
    from search.runtime.storage import StorageError

    run, refit = (_command_flags(_parser(), command) for command in ("run", "refit"))
    assert {name: run[name] for name in ("storage", "study_name", "overrides", "trials", "workers", "artifacts")} == {
        "storage": "--storage",
        "study_name": "--study",
        "overrides": "--set",
        "trials": "--trials",
        "workers": "--workers",
        "artifacts": "--artifacts",
    }
    assert (refit["trials"], refit["latent"], refit["into"], refit["overrides"]) == ("--trial", "--latent", "--into", "--set")
    said = "storage='studies/x': is a folder; give storage= a file, or study_name='x'"
    assert flag_words(said, run) == "--storage studies/x: is a folder; give --storage a file, or --study x"

    def refuse(study_name: str, storage: str | None, console: object) -> int:
        raise StorageError(f"study_name={study_name!r}: no completed trial yet (storage={storage!r})")

    monkeypatch.chdir(tiny_study)
    monkeypatch.setattr(search.trials.best, "show_best", refuse)  # a library error, as the library words it
    assert main(["best", "--study", "tiny", "--storage", "sqlite:///studies/tiny.db"]) == 2
    assert capsys.readouterr().err == "error: --study tiny: no completed trial yet (--storage sqlite:///studies/tiny.db)\n"


def test_only_safe_loaders_are_used() -> None:
    """Space files and studies' records are read with yaml.safe_load; weights with torch.load(weights_only=True)."""
    root = SPACES.parent
    sources = [p for folder in ("cae", "search", "analysis") for p in (root / folder).rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for unsafe in ("yaml.load(", "yaml.unsafe_load", "yaml.full_load", "yaml.Loader", "pickle.load", "allow_pickle=True"):
            assert unsafe not in text, f"{path}: {unsafe}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line.strip()}"


# ---------------------------------------------------------------- the analysis commands
# The same promise for ``python -m analysis.<question>``: exit 2, one line, nothing written, the study
# as it was. In-process through each module's ``main(argv)``; one case also runs as a user types it.


@dataclass(frozen=True)
class Asked:
    id: str
    module: str
    args: tuple[str, ...]  # PRUNED stands for a pruned trial of the tiny study
    says: tuple[str, ...]  # every one must be in the message
    study: str = "tiny"  # the folder it runs in: tiny, empty (one failed trial), front (a linear_skip trial), gray (a colorizer trial),
    # images (studies graydata: gray images in class folders; classless: colour images in no class folder)


MODULES = ("latent_vs_error", "evaluate", "latent_space", "activations", "probe", "colorize", "transfer")
ASKED = [
    *(Asked(f"{m}-no-such-study", m, ("--study", "nope"), ("nope", "no such database")) for m in MODULES),
    *(Asked(f"{m}-no-completed-trial", m, ("--study", "empty"), ("no completed trial", "1 fail"), "empty") for m in MODULES),
    Asked("study-name-with-dotdot", "latent_vs_error", ("--study", "../x"), ("--study", "expected a name of letters, digits")),
    Asked("out-without-a-folder", "latent_vs_error", ("--study", "tiny", "--out"), ("--out", "expected one argument")),
    Asked("metric-unknown", "latent_vs_error", ("--study", "tiny", "--metric", "train"), ("--metric", "invalid choice")),
    Asked("trial-not-in-study", "evaluate", ("--study", "tiny", "--trial", "999"), ("study tiny has no trial 999", "it has trials 0 to")),
    Asked("trial-negative", "evaluate", ("--study", "tiny", "--trial", "-1"), ("--trial", "expected a trial number ≥ 0")),
    *(Asked(f"{m}-pruned-trial", m, ("--study", "tiny", "--trial", "PRUNED"), ("of study tiny is pruned",)) for m in MODULES[1:4]),
    Asked("probe-pruned-trial", "probe", ("--study", "tiny", "--trial", "PRUNED"), ("is pruned",)),
    Asked("probe-max-train-zero", "probe", ("--study", "tiny", "--max-train", "0"), ("--max-train", "got '0'")),
    Asked(
        "image-class-typo",
        "activations",
        ("--study", "tiny", "--image", "airplan"),
        ("did you mean airplane", "expected one of airplane, automobile"),
    ),
    Asked(
        "image-index-beyond", "activations", ("--study", "tiny", "--index", "999"), ("--index 999: the test split has", "airplane image")
    ),
    Asked(
        "rebalance-above-one",
        "colorize",
        ("--study", "tiny", "--rebalance", "1.5"),
        ("--rebalance: expected a number in [0, 1], got '1.5'",),
    ),
    Asked("temperature-zero", "colorize", ("--study", "tiny", "--temperature", "0"), ("--temperature: expected a number > 0",)),
    Asked("bins-one", "colorize", ("--study", "tiny", "--bins", "1"), ("--bins: expected an integer ≥ 2",)),
    Asked("trial-and-latent", "colorize", ("--study", "tiny", "--trial", "1", "--latent", "64"), ("--latent", "not allowed with argument")),
    Asked(
        "colorize-trial-missing", "colorize", ("--study", "tiny", "--trial", "99"), ("trial 99 of study tiny: expected a completed trial",)
    ),
    Asked("colorize-linear-skip-start", "colorize", ("--study", "front"), ("study front, trial 0", "linear_skip network"), "front"),
    Asked("transfer-pruned-trial", "transfer", ("--study", "tiny", "--trial", "PRUNED"), ("of study tiny is pruned",)),
    Asked(
        "transfer-labels-zero",
        "transfer",
        ("--study", "tiny", "--labels", "0"),
        ("--labels", "expected a fraction of the labels in (0, 1], got '0'"),
    ),
    Asked("transfer-labels-above-one", "transfer", ("--study", "tiny", "--labels", "0.1", "1.5"), ("--labels", "in (0, 1], got '1.5'")),
    Asked("transfer-seeds-zero", "transfer", ("--study", "tiny", "--seeds", "0"), ("--seeds", "expected an integer ≥ 1, got '0'")),
    Asked(
        "transfer-labels-under-one-per-class",
        "transfer",
        ("--study", "tiny", "--labels", "0.001"),
        ("--labels 0.001", "under one image per class"),
    ),
    Asked(
        "transfer-trial-and-front",
        "transfer",
        ("--study", "tiny", "--trial", "1", "--front"),
        ("--front", "not allowed with argument --trial"),
    ),
    Asked("transfer-without-weights", "transfer", ("--study", "front"), ("trial 0 of study front has no model.pt",), "front"),
    Asked(
        "transfer-front-too-few",
        "transfer",
        ("--study", "front", "--front"),
        ("study front has 0 complete reconstruction trials", "the front's rank correlation needs 3 or more"),
        "front",
    ),
    Asked(
        "transfer-colorizer",
        "transfer",
        ("--study", "gray"),
        ("trial 0 of study gray is a colorization network", "expected a reconstruction"),
        "gray",
    ),
]
# Data that cannot answer the question (issue 30): refused before any training, the library's parameters worded as flags
NO_CLASSES = ("data.root:", "holds images with no class folders", "put each class's images in a folder of its own")
ASKED += [
    Asked(
        "colorize-gray-images",
        "colorize",
        ("--study", "graydata"),
        ("data.dataset: the folder gray: its images are 1 × 28 × 28 (1 channel)", "no colour to learn"),
        "images",
    ),
    Asked("probe-no-classes", "probe", ("--study", "classless"), (*NO_CLASSES, "a linear probe"), "images"),
    Asked("latent-space-no-classes", "latent_space", ("--study", "classless"), (*NO_CLASSES, "class silhouette"), "images"),
    Asked("transfer-no-classes", "transfer", ("--study", "classless"), (*NO_CLASSES, "a classifier"), "images"),
    Asked(
        "activations-class-without-classes",
        "activations",
        ("--study", "classless", "--image", "cat"),
        ("--image cat: PNG images at", "has no classes; leave out --image for test image 0"),
        "images",
    ),
]
if importlib.util.find_spec("umap") is None:  # where umap-learn is installed there is nothing to refuse
    ASKED.append(
        Asked(
            "umap-not-installed",
            "latent_space",
            ("--study", "tiny", "--method", "umap"),
            ("--method umap: umap-learn is not installed", "choose --method tsne or --method pca"),
        )
    )


@pytest.fixture(scope="module")
def other_studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders with studies/empty.db (one failed trial), studies/front.db (one trial of a linear_skip network) and
    studies/gray.db (one trial of a gray → RGB colorizer); none holds weights."""
    from cae.tasks import TASKS, adapt
    from search.sample import random_suggest, sample
    from search.space import load_space

    empty, front, gray = (tmp_path_factory.mktemp(name) for name in ("empty", "front", "gray"))
    for folder in (empty, front, gray):
        (folder / "studies").mkdir()
    study = optuna.create_study(study_name="empty", storage=f"sqlite:///{empty}/studies/empty.db")
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    arch = sample(load_space(SPACES / "pareto.yaml"), random_suggest(random.Random(0))).architecture
    assert arch.linear_skip
    study = optuna.create_study(study_name="front", storage=f"sqlite:///{front}/studies/front.db")
    study.add_trial(optuna.trial.create_trial(value=0.01, user_attrs={"architecture": arch.to_dict(), "train": {}, "val_mse": [0.01]}))
    colorizer = adapt(sample(load_space(SPACES / "tiny.yaml"), random_suggest(random.Random(0))).architecture, TASKS["colorization"])
    study = optuna.create_study(study_name="gray", storage=f"sqlite:///{gray}/studies/gray.db")
    study.add_trial(optuna.trial.create_trial(value=0.01, user_attrs={"architecture": colorizer.to_dict(), "train": {}, "val_mse": [0.01]}))
    return {"empty": empty, "front": front, "gray": gray}


@pytest.fixture(scope="module")
def image_studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with studies/graydata.db (60 gray 28 × 28 images in two class folders) and studies/classless.db
    (60 colour 28 × 28 images in no class folder), each 2 trials of spaces/tiny.yaml."""
    folder = tmp_path_factory.mktemp("images")
    gray = write_images(folder / "gray", ("dark", "light"), 30, (1, 28, 28))
    flat = write_images(folder / "flat", (), 60, (3, 28, 28))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert run_tiny_search("graydata", gray) == 0 and run_tiny_search("classless", flat) == 0
    return folder


def stored(folder: Path) -> dict[str, str]:
    """What the databases under ``folder/studies`` hold, row by row: an analysis opens a database and
    SQLite may switch it to write-ahead logging, which changes bytes but not what is stored."""
    dumps = {}
    for path in sorted((folder / "studies").glob("*.db")):
        with closing(sqlite3.connect(path)) as db:
            dumps[path.name] = hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
    return dumps


def _asked_argv(case: Asked, folder: Path, out: Path) -> list[str]:
    pruned = ""
    if "PRUNED" in case.args:
        study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder}/studies/tiny.db")
        pruned = str(next(t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED))
    args = [pruned if a == "PRUNED" else a for a in case.args]
    return args if "--out" in args else [*args, "--out", str(out)]


def _check_asked(case: Asked, argv: list[str], code: object, out: str, err: str, written: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in out + err, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for phrase in case.says:
        assert phrase.replace("PRUNED", argv[argv.index("--trial") + 1] if "--trial" in argv else "") in err, err
    assert not written.exists() or not any(written.iterdir()), "a refused command wrote files"


@pytest.mark.parametrize("case", ASKED, ids=[c.id for c in ASKED])
def test_analysis_bad_input_exits_2_with_one_line_and_writes_nothing(
    case: Asked, tiny_study: Path, other_studies: dict[str, Path], request: pytest.FixtureRequest, tmp_path: Path, monkeypatch, capsys
) -> None:
    if case.study == "images":
        folder = request.getfixturevalue("image_studies")  # trained only for the cases that ask of it
    else:
        folder = tiny_study if case.study == "tiny" else other_studies[case.study]
    monkeypatch.chdir(folder)
    before = stored(folder)
    argv = _asked_argv(case, folder, tmp_path / "out")
    try:
        code = importlib.import_module(f"analysis.{case.module}").main(argv)
    except SystemExit as exited:  # argparse's own exits
        code = exited.code
    out, err = capsys.readouterr()
    _check_asked(case, argv, code, out, err, tmp_path / "out")
    assert stored(folder) == before, "bad input changed the stored study"


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports)
def test_analysis_bad_input_in_a_real_process(tiny_study: Path, tmp_path: Path) -> None:
    case = next(c for c in ASKED if c.id == "image-class-typo")
    argv = _asked_argv(case, tiny_study, tmp_path / "out")
    result = analysis(case.module, *argv, cwd=tiny_study)
    _check_asked(case, argv, result.returncode, result.stdout, result.stderr, tmp_path / "out")
