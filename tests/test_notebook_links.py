"""Every link in every notebook opens: in JupyterLab as `make lab` roots it, and in the rendered
book; and every notebook links the one before and the one after it."""
import re
from pathlib import Path

import jupytext
import pytest

from snn_edu.book import _link_pages
from snn_edu.links import github_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def lab_root() -> Path:
    """The folder `make lab` serves, read from the Makefile's lab command."""
    text = (ROOT / "Makefile").read_text()
    command = re.search(r"^lab:.*\n\t(.+)$", text, re.M).group(1)
    found = re.search(r"--(?:ServerApp\.root_dir|notebook-dir)=(\S+)", command)
    root = found.group(1) if found else "."
    for name, value in re.findall(r"^(\w+)\s*:?=\s*(\S+)\s*$", text, re.M):
        root = root.replace(f"$({name})", value)
    return (ROOT / root).resolve()


def relative_links(source: Path) -> list[str]:
    """The relative links of a notebook's markdown cells (no web addresses, no in-page anchors)."""
    links = []
    for cell in jupytext.read(source).cells:
        if cell.cell_type == "markdown":
            links += [u for u in LINK.findall(cell.source) if not re.match(r"[a-z]+:|#", u)]
    return links


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_links_open_in_jupyterlab_as_make_lab_roots_it(source):
    root = lab_root()
    for link in relative_links(source):
        target = (source.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{source.name}: {link} does not exist"
        assert root == target or root in target.parents, \
            f"{source.name}: {link} lies outside the folder `make lab` serves ({root.relative_to(ROOT.parent)})"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_links_open_in_the_rendered_book(source):
    pages = {"index.html"} | {f"{p.stem}.html" for p in SOURCES if not p.stem.startswith("00")}
    for link in relative_links(source):
        href = re.search(r'href="([^"]+)"', _link_pages(f'<a href="{link}">')).group(1)
        files = github_url("x")[:-1]  # the repository's files on the default branch
        if href.startswith(files):
            path = href[len(files):].split("#")[0]
            assert (ROOT / path).exists(), f"{source.name}: {link} -> {href}, which is not in the repository"
        else:
            assert href.split("#")[0] in pages, f"{source.name}: {link} -> {href}, which the book does not build"


def test_every_notebook_links_its_neighbours():
    names = [f"{p.stem}.ipynb" for p in SOURCES]
    for i, source in enumerate(SOURCES):
        links = set(relative_links(source))
        wanted = {names[j] for j in (i - 1, i + 1) if 0 <= j < len(names)}
        assert wanted <= links, f"{source.name} lacks a link to {sorted(wanted - links)}"
