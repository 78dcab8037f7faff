"""The notebooks: paired sources agree, committed .ipynb carry no outputs (each one runs in smoke
mode without an error and draws: checked on the smoke build of the book, tests/test_book.py), and 02-05 and 07 run in their default
mode on the shipped results (here, or in a real browser by tests/test_browser.py when it can run)."""
import importlib.util
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from snn_edu.book import execute

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


def outputs(nb, kind=None):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if kind is None or o.output_type == kind]


def check_ran(nb):
    assert not outputs(nb, "error")
    assert [o for o in outputs(nb) if "image/png" in o.get("data", {})], "the notebook drew no figure"


def run_and_check(source):
    nb = execute(jupytext.read(source), cwd=str(NOTEBOOKS))
    check_ran(nb)
    return "".join(o.get("text", "") for o in outputs(nb, "stream"))


# test_browser.py runs every notebook in its default mode in JupyterLab and checks the same
# things there; this kernel-only run is the fallback where it cannot (no Chromium or Playwright).
IN_BROWSER = bool(shutil.which("chromium") or shutil.which("chromium-browser")) and \
    importlib.util.find_spec("playwright") is not None


@pytest.mark.skipif(IN_BROWSER, reason="run in a real browser by tests/test_browser.py")
@pytest.mark.parametrize("source", [s for s in SOURCES if s.stem[:2] in ("02", "03", "04", "05", "07")], ids=lambda p: p.stem)
def test_notebook_opens_on_the_shipped_results(source, monkeypatch):
    monkeypatch.delenv("SNN_EDU_SMOKE", raising=False)
    text = run_and_check(source)
    assert "loaded " in text and "results/cpu" in text, "the notebook did not say what it loaded"
