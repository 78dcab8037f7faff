"""The rendered book: every notebook becomes a page with its figures, widgets become notes under
their static figures, links resolve, and a failing notebook leaves the previous build alone."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from snn_edu.book import PANEL_CALL, WIDGET_MIME, notebook_sources, page_name

ROOT = Path(__file__).resolve().parents[1]
SOURCES = notebook_sources(ROOT / "notebooks")


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """The book built at smoke level through the CLI, as `make book` and CI build it (one
    notebook per core this test process may use)."""
    out = tmp_path_factory.mktemp("book") / "site"
    done = subprocess.run([sys.executable, "-m", "snn_edu", "book", "--level", "smoke", "--out", str(out),
                           "--timeout", "300", "--jobs", str(torch.get_num_threads())], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return out, json.loads((out / "build.json").read_text())


def test_every_notebook_has_a_page(smoke_book):
    out, info = smoke_book
    assert info["level"] == "smoke"
    assert [p["page"] for p in info["pages"]] == [page_name(s) for s in SOURCES]
    assert (out / "index.html").exists() and info["pages"][0]["notebook"].startswith("00")
    for page in info["pages"]:
        assert (out / page["page"]).stat().st_size > 0
        assert page["figures"] > 0, f"{page['notebook']} drew no figure"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_page_shows_every_figure_and_no_widget_view(smoke_book, source):
    out, info = smoke_book
    (page,) = [p for p in info["pages"] if p["notebook"] == source.stem]
    html = (out / page["page"]).read_text()
    assert html.count('src="data:image/png;base64,') == page["figures"]
    assert WIDGET_MIME not in html and "Traceback" not in html
    assert html.count('class="snn-widget-note"') == page["widgets"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_each_widget_follows_its_static_figure(smoke_book, source):
    out, _ = smoke_book
    nb = nbformat.read(out / "notebooks" / f"{source.stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    panels = 0
    for before, cell in zip(code, code[1:]):
        if PANEL_CALL.search(cell.source):
            panels += 1
            assert any(WIDGET_MIME in o.get("data", {}) for o in cell.outputs), cell.source
            assert re.search(r"widgets\.\w+_figure\(", before.source), f"no static figure before: {cell.source}"
            assert any("image/png" in o.get("data", {}) for o in before.outputs), before.source
    assert panels or source.stem.startswith("00"), "a notebook without a widget"


def test_links_resolve_inside_the_site(smoke_book):
    out, _ = smoke_book
    for page in out.glob("*.html"):
        html = page.read_text()
        for target in re.findall(r'href="([^"#:]+)"', html):
            if not target.startswith(("http", "//", "mailto")):
                assert (out / target).exists(), f"{page.name} links to missing {target}"
        assert not re.search(r'href="[^"]+\.py"', html), f"{page.name} links a .py source"
        assert "OWNER" not in html


def test_executed_notebooks_ship_with_the_site(smoke_book):
    out, info = smoke_book
    for page in info["pages"]:
        nb = nbformat.read(out / "notebooks" / f"{page['notebook']}.ipynb", as_version=4)
        assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    training = nbformat.read(out / "notebooks" / "02_training.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in training.cells if c.cell_type == "code" for o in c.outputs)
    assert "smoke mode: True" in printed, "the smoke build's kernels did not see SNN_EDU_SMOKE=1"


def _book(notebooks: Path, out: Path, capsys) -> tuple[int, str]:
    """`python -m snn_edu book` at smoke level, run in this process: its exit code and stderr."""
    from snn_edu.cli import main

    code = main(["book", "--level", "smoke", "--out", str(out), "--notebooks", str(notebooks), "--timeout", "60"])
    return code, capsys.readouterr().err


def test_a_failing_notebook_is_one_line_and_keeps_the_last_build(tmp_path, capsys):
    notebooks, out = tmp_path / "notebooks", tmp_path / "site"
    notebooks.mkdir()
    (notebooks / "01_fine.py").write_text("# %% [markdown]\n# # 01 · fine\n\n# %%\nprint('ok')\n")
    assert _book(notebooks, out, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (notebooks / "02_broken.py").write_text("# %% [markdown]\n# # 02 · broken\n\n# %%\n1 / 0\n")
    code, err = _book(notebooks, out, capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == "error: 02_broken.py: a cell raised ZeroDivisionError: division by zero"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "site"], "a staging folder was left behind"


def test_refuses_to_replace_a_folder_that_is_not_a_book(tmp_path, capsys):
    notebooks, out = tmp_path / "notebooks", tmp_path / "mine"
    notebooks.mkdir()
    (notebooks / "01_fine.py").write_text("# %%\nprint('ok')\n")
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, err = _book(notebooks, out, capsys)
    assert code == 2 and "is not a book build" in err
    assert (out / "thesis.tex").read_text() == "precious"


def test_record_refuses_notebooks_timed_side_by_side(tmp_path, capsys):
    from snn_edu.cli import main

    assert main(["book", "--jobs", "2", "--record", str(tmp_path / "times.json"), "--out", str(tmp_path / "site")]) == 2
    assert "--record times each notebook alone" in capsys.readouterr().err
    assert not (tmp_path / "site").exists() and not (tmp_path / "times.json").exists()
