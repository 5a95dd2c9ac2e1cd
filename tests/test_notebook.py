"""docs/quickstart.ipynb runs in a real Jupyter kernel (nbclient + ipykernel) and shows what it promises."""

from __future__ import annotations

import ast
import base64
import io
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from tests.conftest import ROOT

NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"


def _tagged(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def _result(cell: nbformat.NotebookNode) -> dict:
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return result["data"]


def test_the_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{NOTEBOOK.name} holds outputs: clear them before committing"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The notebook run top to bottom in a fresh kernel, in an empty folder (its studies/ go there).

    The kernel inherits this process's environment: CAE_DATA_DIR (made absolute by conftest) and the private cache.
    """
    folder = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # An error cell raises CellExecutionError here, naming the cell and its traceback.
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(notebook, folder / "quickstart.ipynb")  # the executed copy, for a look; never into docs/
    assert (folder / "studies" / "quickstart.db").is_file()
    return notebook


# Optuna imports tqdm.auto, which warns in a kernel without ipywidgets: Optuna's import, not ours.
OPTUNAS_IMPORT = re.compile(r"^\S*tqdm/auto\.py:\d+: TqdmWarning: IProgress not found.*\n.*notebook_tqdm\n$")


def test_no_cell_errs_or_prints(executed: nbformat.NotebookNode) -> None:
    # The library prints nothing and leaks no Optuna log line or warning into a notebook.
    for cell in executed.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs)
            printed = [o.text for o in cell.outputs if o.output_type == "stream" and not OPTUNAS_IMPORT.match(o.text)]
            assert printed == [], f"cell {cell.source.splitlines()[0]!r} printed: {''.join(printed)}"


def test_the_study_and_its_table(executed: nbformat.NotebookNode) -> None:
    assert "optuna.study.study.Study" in _result(_tagged(executed, "optimize"))["text/plain"]
    table = _result(_tagged(executed, "table"))
    assert "<table" in table["text/html"]
    body = table["text/html"].split("<tbody>")[1]
    assert body.count("<tr>") == 3
    assert len(re.findall(r"<td>(?:complete|pruned)</td>", body)) == 3


def _png(cell: nbformat.NotebookNode) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(_result(cell)["image/png"])))


def test_the_front_figure_is_shown_inline(executed: nbformat.NotebookNode) -> None:
    data = _result(_tagged(executed, "front"))
    assert data["text/plain"].startswith("<Figure")
    width, height = _png(_tagged(executed, "front")).size
    assert width > 300 and height > 200


def test_eight_test_images_over_their_reconstructions(executed: nbformat.NotebookNode, tmp_path: Path) -> None:
    latent, psnr = ast.literal_eval(_result(_tagged(executed, "load"))["text/plain"])[1:]  # (trial, latent size, test PSNR)
    assert latent > 0 and 5 < psnr < 40
    picture = _png(_tagged(executed, "reconstructions"))
    assert picture.size[0] > 2.5 * picture.size[1]  # one wide grid: two rows of eight
    # the grid is a picture, not a blank: its pixels vary
    assert np.asarray(picture.convert("L"), dtype=float).std() > 20
