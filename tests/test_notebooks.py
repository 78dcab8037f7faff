"""The notebooks: paired sources agree, committed .ipynb carry no outputs, and each one runs
in smoke mode without an error."""
import os
from pathlib import Path

import jupytext
import nbformat
import pytest

from notebook_runner import execute

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))


def cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks():
    assert len(SOURCES) >= 2


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_agrees_and_has_no_outputs(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} missing: run `jupytext --sync notebooks/*.py`"
    ipynb = nbformat.read(paired, as_version=4)
    assert cells(jupytext.read(source)) == cells(ipynb), f"{paired.name} is out of sync with {source.name}"
    for cell in ipynb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{paired.name} carries outputs"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(source, monkeypatch, tmp_path):
    monkeypatch.setenv("SNN_EDU_SMOKE", "1")
    nb = execute(jupytext.read(source), cwd=str(NOTEBOOKS))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no figure"
