"""analysis.activations: hooks that return one output per spec layer, class-filtered pictures, refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from analysis.activations import class_images, class_label, layer_outputs
from analysis.trial_model import load_trial
from cae.builder import build
from cae.data import Splits
from cae.spec import Architecture, Conv, ConvTranspose, MaxPool, Upsample, describe
from search.storage import StorageError
from tests.conftest import analysis

PNG = b"\x89PNG\r\n\x1a\n"
REFERENCE = Architecture(
    encoder=(Conv(8), MaxPool(), Conv(12), MaxPool(), Conv(16)),
    decoder=(Upsample(), Conv(12), Upsample(), Conv(3, activation="none")),
)
# strided and transposed convolutions, and activations that are absent or not ReLU
ODD = Architecture(
    encoder=(Conv(4, stride=2, activation="none"), Conv(6, activation="tanh")),
    decoder=(ConvTranspose(5, activation="leaky_relu"), Conv(3, activation="none")),
)


@pytest.mark.parametrize("arch", [REFERENCE, ODD], ids=["reference", "odd"])
def test_layer_outputs_are_one_per_spec_layer_with_the_shapes_of_the_walk(arch: Architecture) -> None:
    torch.manual_seed(0)
    model = build(arch)
    x = torch.rand(2, 3, 32, 32)
    outputs = layer_outputs(model, x)
    assert len(outputs) == len(arch.shapes)
    assert [tuple(o.shape) for o in outputs] == [(2, *row.out_shape) for row in arch.shapes]
    with torch.no_grad():
        latent = model.encode(x)
        assert torch.equal(outputs[len(arch.encoder) - 1], latent)
        assert torch.allclose(outputs[-1], model.decoder(latent))  # before model.output
    for row, out in zip(arch.shapes, outputs, strict=True):
        if isinstance(row.layer, Conv | ConvTranspose) and row.layer.activation == "relu":
            assert out.min() >= 0  # taken after the activation, not from the convolution
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_layer_outputs_refuse_a_model_that_left_its_architecture() -> None:
    model = build(REFERENCE)
    model.encoder.append(nn.Identity())
    with pytest.raises(ValueError, match="encoder has 9 modules where its architecture's layers make 8"):
        layer_outputs(model, torch.rand(1, 3, 32, 32))


def test_class_selection_keeps_only_that_class(tiny_splits: Splits) -> None:
    label = class_label(tiny_splits.classes, "airplane")
    assert tiny_splits.classes[label] == "airplane" and class_label(tiny_splits.classes, "AirPlane") == label
    chosen = class_images(tiny_splits.test.labels, label, 10)
    assert 0 < len(chosen) <= 10 and (tiny_splits.test.labels[chosen] == label).all()
    assert chosen.tolist() == sorted(chosen.tolist())
    everyone = class_images(tiny_splits.test.labels, label)
    assert len(everyone) == int((tiny_splits.test.labels == label).sum())
    with pytest.raises(StorageError, match=r"--image airplan: no such class \(did you mean airplane\?\); expected one of airplane, "):
        class_label(tiny_splits.classes, "airplan")


def test_activations_writes_figures_and_report(tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    done = analysis("activations", "--study", "tiny", "--channels", "4", "--out", str(out), cwd=tiny_study)
    assert done.returncode == 0, done.stderr
    for name in ("activations.png", "reconstructions.png", "reconstructions-airplane.png"):
        assert (out / name).read_bytes()[:8] == PNG
    report = (out / "activations.md").read_text()
    monkeypatch.chdir(tiny_study)  # the study's artifacts are found from its folder
    loaded = load_trial("tiny")
    arch = loaded.model.arch
    assert f"# Feature maps of {loaded.name}" in report and "airplane image 0" in report
    for picture in ("activations.png", "reconstructions.png", "reconstructions-airplane.png"):
        assert f"]({picture})" in report
    # the layer table has the rows of the architecture's shape walk, one to one
    rows = [line.split("|")[1:-1] for line in report.splitlines() if re.match(r"\| (encoder|decoder) ", line)]
    assert [(c[0].strip(), int(c[1]), c[2].strip().removesuffix(" ← latent"), c[3].strip()) for c in rows] == [
        (s.part, s.index, describe(s.layer), "×".join(map(str, s.out_shape))) for s in arch.shapes
    ]
    # the class-filtered picture: the test images it names are all airplanes, the first of them
    data = loaded.data()
    named = re.search(r"airplane test images \(test images ([\d, ]+)\)", report)
    assert named is not None
    indices = [int(i) for i in named.group(1).split(", ")]
    airplane = data.classes.index("airplane")
    assert indices == class_images(data.test.labels, airplane, 10).tolist()
    assert all(int(data.test.labels[i]) == airplane for i in indices)
    assert f"test image {indices[0]} of the split" in report


@pytest.mark.slow  # a command in a fresh process (about 7 s of imports each)
def test_activations_refuses_bad_input(tiny_study: Path, tmp_path: Path) -> None:
    typo = analysis("activations", "--study", "tiny", "--image", "airplan", "--out", str(tmp_path), cwd=tiny_study)
    assert typo.returncode == 2 and typo.stderr.count("\n") == 1 and "Traceback" not in typo.stderr
    assert "did you mean airplane" in typo.stderr and "expected one of airplane, automobile" in typo.stderr
    beyond = analysis("activations", "--study", "tiny", "--index", "999", "--out", str(tmp_path), cwd=tiny_study)
    assert beyond.returncode == 2 and beyond.stderr.count("\n") == 1
    assert re.search(r"--index 999: the test split has \d+ airplane image", beyond.stderr)
    missing = analysis("activations", "--study", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "nope" in missing.stderr
    assert not list(tmp_path.glob("*.png"))
