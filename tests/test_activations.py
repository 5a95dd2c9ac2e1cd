"""analysis.activations: hooks that return one output per spec layer, class-filtered pictures, refusals."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from analysis.activations import (
    ActivationsResult,
    class_images,
    class_label,
    compute,
    findings,
    layer_outputs,
    main,
    plot,
    plot_reconstructions,
)
from cae.builder import build
from cae.data import Splits
from cae.spec import Architecture, Conv, ConvTranspose, MaxPool, Upsample, describe
from cae.training import reconstruct, to_unit
from search.runtime.storage import StorageError
from search.trials.trial_model import load_trial

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
    # the library names its parameter; the command words it as its flag (tests/test_bad_input.py)
    typo = r"image='airplan': no such class \(did you mean airplane\?\); expected one of airplane, "
    with pytest.raises(StorageError, match=typo) as caught:
        class_label(tiny_splits.classes, "airplan")
    assert "--" not in str(caught.value)


@pytest.fixture(scope="module")
def tiny_result(tiny_study: Path) -> ActivationsResult:
    """The tiny study's best trial on its first airplane, computed once for the tests that only read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)  # the default storage and the artifacts are relative to the study's folder
        return compute("tiny", channels=4)


@pytest.mark.slow  # tens of seconds on a 2-core AVX2 machine: the slow tier keeps the default one near 3 minutes
def test_activations_command_writes_figures_and_report(
    tiny_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    monkeypatch.chdir(tiny_study)  # the study's artifacts are found from its folder
    assert main(["--study", "tiny", "--channels", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("activations.png", "reconstructions.png", "reconstructions-airplane.png"):
        assert (out / name).read_bytes()[:8] == PNG and f"wrote {out / name}" in printed
    report = (out / "activations.md").read_text()
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
    assert "This image's reconstruction: MSE" in report


def test_activations_compute_holds_every_layer_output_of_the_image(tiny_result: ActivationsResult, tiny_study: Path) -> None:
    result = tiny_result
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_study)
        loaded = load_trial("tiny")
    model, arch, data = loaded.model, loaded.model.arch, loaded.data()
    assert result.trial == loaded.trial.number and result.arch == arch and result.channels == 4
    airplanes = class_images(data.test.labels, data.classes.index("airplane"))
    assert result.index == int(airplanes[0]) and result.class_name == "airplane" and result.in_class == len(airplanes)
    truth = to_unit(data.test.images[result.index : result.index + 1])
    assert torch.equal(result.truth, truth[0]) and torch.equal(result.inputs, truth[0])  # a reconstruction sees RGB
    # one output per spec layer, with the shapes of the architecture's walk, and the model's own values
    assert [tuple(o.shape) for o in result.outputs] == [row.out_shape for row in arch.shapes]
    for mine, direct in zip(result.outputs, layer_outputs(model, truth), strict=True):
        assert torch.equal(mine, direct[0])
    assert torch.allclose(result.output, reconstruct(model, data.test.images[result.index : result.index + 1])[0])
    assert result.image_mse == pytest.approx(torch.mean((result.output - truth[0]) ** 2).item())
    # the grids: the first images over their reconstructions, and the class's
    assert len(result.grid) == 2 and torch.equal(result.grid[0], data.test.images[:10].float() / 255)
    assert list(result.class_indices) == class_images(data.test.labels, data.classes.index("airplane"), 10).tolist()
    assert len(result.class_grid[0]) == len(result.class_indices)


def test_activations_findings_follow_the_numbers(tiny_result: ActivationsResult) -> None:
    mse = tiny_result.image_mse
    easy = findings(dataclasses.replace(tiny_result, test_mse=2 * mse))[0]
    assert f"MSE {mse:.5f}" in easy and "0.50× the trial's test MSE" in easy and "better than the average" in easy
    hard = findings(dataclasses.replace(tiny_result, test_mse=mse / 4))[0]
    assert "4.00× the trial's test MSE" in hard and "worse than the average over the test split" in hard
    unscored = findings(dataclasses.replace(tiny_result, test_mse=None))[0]
    assert f"the trial's validation MSE ({tiny_result.val_mse:.5f})" in unscored
    varied = tuple(torch.rand(o.shape) for o in tiny_result.outputs)
    assert findings(dataclasses.replace(tiny_result, outputs=varied))[1].endswith("none is constant.")
    dead = list(varied)
    latent = len(tiny_result.arch.encoder) - 1
    dead[latent] = dead[latent].clone()
    dead[latent][:2] = 0.5  # two latent channels hold one value everywhere
    row = tiny_result.arch.shapes[latent]
    line = findings(dataclasses.replace(tiny_result, outputs=tuple(dead)))[1]
    assert line.endswith(f": encoder {row.index} (latent): 2 of {row.out_shape[0]}.") and "constant" in line


def test_activations_plots_are_figures_of_the_result(tiny_result: ActivationsResult) -> None:
    figure = plot(tiny_result)
    assert isinstance(figure, Figure) and plt.get_fignums() == []
    labels = [ax.get_ylabel() for ax in figure.axes]
    # the input, one row per spec layer (as the shape walk names it), the output
    assert len(labels) == len(tiny_result.arch.shapes) + 2 and labels[0].startswith("input\n") and labels[-1].startswith("output\n")
    assert [label.split(":")[0] for label in labels[1:-1]] == [f"{s.part} {s.index}" for s in tiny_result.arch.shapes]
    first = tiny_result.arch.shapes[0].out_shape[0]
    assert (f"4 of {first} shown" in labels[1]) == (first > 4)  # channels=4: a wider layer says the rest are left out
    pictures = plot_reconstructions(tiny_result, of_class=True)
    assert [ax.get_ylabel() for ax in pictures.axes] == ["input", "output"]
    shown = len(tiny_result.class_indices)
    assert pictures.axes[0].images[0].get_array().shape[1] == 2 + shown * 34
    title = pictures.texts[0].get_text()
    which = f'the first {shown} of the {tiny_result.in_class} test images of class "airplane"'
    assert title.startswith(f"study tiny, trial {tiny_result.trial} · test split: {which}")
    inputs, outputs = tiny_result.class_grid
    errors = ((outputs - inputs) ** 2).flatten(1).mean(1).tolist()
    assert [text.get_text().split("\n")[0] for text in pictures.axes[1].texts] == [f"MSE {e:.4f}" for e in errors]
    everyone = plot_reconstructions(tiny_result)
    assert everyone.texts[0].get_text().startswith(f"study tiny, trial {tiny_result.trial} · test split: the first 10 of the ")
