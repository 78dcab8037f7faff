"""Launch badges and the Colab cell: made from the one REPOSITORY variable, and the Colab cell
installs the package on Colab only."""
import re
import sys
import types
from pathlib import Path

import nbformat
import pytest

from snn_edu import links

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_no_placeholder_and_every_badge_is_up_to_date():
    stale = [str(p.relative_to(ROOT)) for p in links.stale_files(ROOT)]
    assert not stale, f"run `python -m snn_edu links`: {stale}"
    for path in [ROOT / "README.md", ROOT / "CITATION.cff", *NOTEBOOKS]:
        assert "OWNER" not in path.read_text(), path.name


def test_badge_urls_come_from_the_repository():
    owner, name = links.REPOSITORY.split("/")
    readme = (ROOT / "README.md").read_text()
    assert links.binder_url() in readme and links.colab_url("00_index.ipynb") in readme and links.book_url() in readme
    for path in NOTEBOOKS:
        text = path.read_text()
        assert links.binder_url(path.name) in text and links.colab_url(path.name) in text
        urls = re.findall(r"\((https://(?:mybinder\.org|colab\.research)[^)]+)\)", text)
        assert urls and all(f"{owner}/{name}" in u for u in urls if "badge" not in u)
    assert f"github.com/{links.REPOSITORY}" in (ROOT / "CITATION.cff").read_text()


def _colab_cell(path: Path):
    nb = nbformat.read(path, as_version=4)
    return next(c for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_colab_setup(path):
    cell = _colab_cell(path)
    assert cell.source.strip() == links.colab_setup_source()
    assert "colab-setup" in cell.metadata.get("tags", [])


def _run_colab_cell(monkeypatch, on_colab: bool, cloned: bool = False):
    calls = []
    monkeypatch.setattr("subprocess.run", lambda args, **kw: calls.append(list(args)))
    monkeypatch.setattr("os.chdir", lambda where: calls.append(["chdir", where]))
    monkeypatch.setattr("os.path.isdir", lambda where: cloned)
    monkeypatch.setattr(sys, "path", list(sys.path))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(links.colab_setup_source(), "colab-cell", "exec"), {})
    return calls


def test_colab_cell_does_nothing_elsewhere(monkeypatch):
    assert _run_colab_cell(monkeypatch, on_colab=False) == []


def test_colab_cell_clones_installs_and_moves_to_the_notebooks(monkeypatch):
    calls = _run_colab_cell(monkeypatch, on_colab=True)
    assert calls[0][:2] == ["git", "clone"] and links.github_url() in calls[0]
    assert calls[1][1:] == ["-m", "pip", "install", "-q", "-e", "/content/snn_edu"]
    assert calls[2] == ["chdir", "/content/snn_edu/notebooks"]
    assert _run_colab_cell(monkeypatch, on_colab=True, cloned=True) == [["chdir", "/content/snn_edu/notebooks"]]
