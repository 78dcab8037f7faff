"""A student's clone stays clean: outputs JupyterLab saves into a notebook never reach git.

(`git status` still lists a notebook whose size changed until it is added: git compares sizes
before it runs any filter. `git diff` is empty, and `git add` stages the notebook as shipped.)"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from snn_edu.cleanfilter import strip

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_filter_leaves_a_tracked_notebook_as_it_is(path):
    assert strip(path.read_text()) == path.read_text()


def saved_after_a_sitting(text: str) -> str:
    """What JupyterLab writes after the cells ran: outputs, counts, run metadata, widget state."""
    nb = json.loads(text)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2"}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = i + 1
        cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": ["ran\n"]}]
        cell["metadata"]["execution"] = {"iopub.status.idle": "2026-12-04T10:00:00Z"}
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("installed", [True, False])
def test_outputs_of_a_sitting_never_reach_git_once_the_filter_is_installed(tmp_path, installed):
    repo = tmp_path / "clone"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "snn_edu").mkdir()
    shutil.copy2(ROOT / ".gitattributes", repo / ".gitattributes")
    shutil.copy2(ROOT / "snn_edu" / "cleanfilter.py", repo / "snn_edu" / "cleanfilter.py")
    notebook = repo / "notebooks" / NOTEBOOKS[0].name
    shutil.copy2(NOTEBOOKS[0], notebook)
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone")
    if installed:  # what `make install` runs
        subprocess.run([sys.executable, "snn_edu/cleanfilter.py", "--install"], cwd=repo, check=True)
    notebook.write_text(saved_after_a_sitting(notebook.read_text()))
    assert (git(repo, "diff") == "") == installed  # git sees the notebook as shipped
    git(repo, "add", "-A")  # what a student's `git add -A` would stage
    assert (git(repo, "status", "--porcelain") == "") == installed
    assert ('"ran' in git(repo, "show", f":notebooks/{notebook.name}")) != installed  # nothing lands in git
    assert '"ran' in notebook.read_text()  # the student's outputs stay in the file on disk
