"""The classroom notebook: the same cells as the walkthrough script, and it runs end to end in a
real kernel (shortened training) showing what it claims to show."""

import importlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clustertheory.plotting import animate_relaxed_codes

CLASSROOM = Path(__file__).resolve().parents[1] / "classroom"
sys.path.insert(0, str(CLASSROOM))
import build_notebook  # noqa: E402  (classroom/ is not a package)

for _module in ("jupytext", "nbclient", "ipykernel"):  # in the test extra; required in CI
    importlib.import_module(_module) if os.environ.get("CI") else pytest.importorskip(_module)


def _notebook():
    import nbformat

    return nbformat.read(CLASSROOM / "walkthrough.ipynb", as_version=4)


def test_notebook_has_the_scripts_cells():
    """Fails when walkthrough.py and walkthrough.ipynb drift apart: run classroom/build_notebook.py."""
    assert build_notebook.cell_sources(_notebook()) == build_notebook.cell_sources(build_notebook.notebook_from_script())


def test_committed_notebook_carries_its_outputs():
    notebook = _notebook()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code)  # every cell was run
    kinds = {key for cell in code for output in cell.outputs for key in output.get("data", {})}
    assert {"image/png", "image/gif"} <= kinds  # the figures and the animation are in it
    text = "".join(output.get("text", "") for cell in code for output in cell.outputs)
    assert "preserving seeds" in text and "exercise" in "".join(cell.source for cell in notebook.cells)


def _printed(notebook) -> str:
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)


def test_notebook_runs_in_a_kernel_and_shows_its_point(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSROOM_QUICK", "1")
    monkeypatch.setenv("CLASSROOM_OUT", str(tmp_path))
    notebook = build_notebook.execute(_notebook(), workdir=tmp_path, timeout_s=600)
    for name in ("augmentation_graph.png", "bounded_vs_unrestricted.png", "training_animation.gif"):
        assert (tmp_path / name).stat().st_size > 1000
    assert Image.open(tmp_path / "training_animation.gif").n_frames > 5
    shown = {key for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs for key in output.get("data", {})}
    assert {"image/png", "image/gif"} <= shown  # the figures show in the notebook, not only in files
    printed = _printed(notebook)
    # the walkthrough's message: the unrestricted table splits clusters, the bounded class mostly not
    free, bounded = map(int, re.search(r"lookup table (\d+)/8, band-limited (\d+)/8", printed).groups())
    assert free > bounded
    # the exercises: B >= T and T <= B split every seed; finer teeth keep every seed whole
    table = {line[:22].strip(): line[22:].split() for line in printed.splitlines() if re.match(r"^(none|bandwidth|teeth|num_negatives)", line)}
    assert table["bandwidth=4"][0] == "0/4" and table["teeth=2"][0] == "0/4" and table["teeth=8"][0] == "4/4"
    assert float(table["num_negatives=64"][2]) > 2 * float(table["num_negatives=1"][2])  # the loss grows with l


def test_animation_ends_at_the_vertices_it_was_given(tmp_path):
    content = np.array([0, 1, 2, 3])
    start = np.zeros((4, 2))
    end = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=float)
    path = animate_relaxed_codes([start, end], [0, 10], content, tmp_path / "a.gif")
    assert Image.open(path).n_frames == 2
    with pytest.raises(ValueError, match="frames"):
        animate_relaxed_codes([np.zeros((4, 3))], [0], content, tmp_path / "b.gif")
