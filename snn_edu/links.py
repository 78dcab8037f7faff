"""Where the project lives online, and the launch badges and Colab cell made from it.

`REPOSITORY` is the one place that names the GitHub home. After changing it (in a fork, say),
run `python -m snn_edu links` to rewrite the badges in the README and the notebooks.
"""
from __future__ import annotations

import re
from pathlib import Path

REPOSITORY = "snn-edu/snn_edu"  # GitHub owner/name
BRANCH = "main"

BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_MARK = "<!-- launch badges: python -m snn_edu links -->"
COLAB_MARK = "# Colab only: fetch the repository and install snn_edu (does nothing elsewhere)."


def github_url(path: str = "") -> str:
    """The repository page, or a file on the default branch."""
    base = f"https://github.com/{REPOSITORY}"
    return f"{base}/blob/{BRANCH}/{path}" if path else base


def book_url(page: str = "") -> str:
    """The rendered notebooks (GitHub Pages), or one page of them."""
    owner, name = REPOSITORY.split("/")
    return f"https://{owner.lower()}.github.io/{name}/{page}"


def binder_url(notebook: str | None = None) -> str:
    """Binder, opening JupyterLab on one notebook or on the notebooks folder."""
    where = f"notebooks/{notebook}" if notebook else "notebooks"
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/{where}"


def colab_url(notebook: str) -> str:
    """Colab, opening one notebook straight from GitHub."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{notebook}"


def badges(notebook: str | None = None) -> str:
    """One markdown line: Binder and Colab buttons (for `notebook`, or the index), and the book."""
    target = notebook or "00_index.ipynb"
    return (f"[![Binder]({BINDER_BADGE})]({binder_url(notebook)}) "
            f"[![Open in Colab]({COLAB_BADGE})]({colab_url(target)}) "
            f"[rendered book]({book_url()}) {BADGE_MARK}")


def colab_setup_source() -> str:
    """The first code cell of every notebook: on Colab, clone the repository and install it."""
    return "\n".join([
        COLAB_MARK,
        "import os, subprocess, sys",
        'if "google.colab" in sys.modules:',
        '    home = "/content/snn_edu"',
        "    if not os.path.isdir(home):",
        f'        subprocess.run(["git", "clone", "-q", "--depth", "1", "{github_url()}", home], check=True)',
        '        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", home], check=True)',
        "    sys.path.insert(0, home)",
        '    os.chdir(f"{home}/notebooks")',
    ])


_BADGE_LINE = re.compile(rf"^[^\n]*{re.escape(BADGE_MARK)}[ \t]*$", re.M)


def _with_badges(text: str, notebook: str | None) -> str:
    prefix = "# " if notebook else ""
    line = prefix + badges(notebook)
    if not _BADGE_LINE.search(text):
        raise ValueError(f"no badge line (ending in {BADGE_MARK!r}) in {notebook or 'README.md'}")
    return _BADGE_LINE.sub(lambda m: line, text, count=1)


def _with_colab_cell(text: str, name: str) -> str:
    cells = text.split("\n# %%")
    found = [i for i, cell in enumerate(cells) if COLAB_MARK in cell]
    if not found:
        raise ValueError(f"{name}: no Colab setup cell (a code cell starting with {COLAB_MARK!r})")
    header = cells[found[0]].split("\n", 1)[0]
    cells[found[0]] = header + "\n" + colab_setup_source() + "\n"
    return "\n# %%".join(cells)


def expected_files(root: str | Path) -> dict[Path, str]:
    """Every file that carries badges or the Colab cell, with the text it should have."""
    root = Path(root)
    files = {root / "README.md": _with_badges((root / "README.md").read_text(), None)}
    for source in sorted((root / "notebooks").glob("[0-9][0-9]_*.py")):
        text = _with_badges(source.read_text(), source.with_suffix(".ipynb").name)
        files[source] = _with_colab_cell(text, source.name)
    return files


def stale_files(root: str | Path) -> dict[Path, str]:
    """The files whose badges or Colab cell differ from `REPOSITORY`'s, with the text they should have."""
    return {path: text for path, text in expected_files(root).items() if path.read_text() != text}


def sync(root: str | Path) -> list[Path]:
    """Rewrite the badges and Colab cells from `REPOSITORY`; pair the notebooks again. Returns what changed."""
    import jupytext

    stale = stale_files(root)
    for path, text in stale.items():
        path.write_text(text)
        if path.suffix == ".py":
            jupytext.write(jupytext.read(path), path.with_suffix(".ipynb"))
    return list(stale)
