"""A git clean filter that keeps the tracked notebooks as they ship: without outputs.

JupyterLab saves outputs, execution counts and widget state into a notebook's `.ipynb` when a
student runs it. With this filter installed (`make install` does it: `install`, and
`.gitattributes` names the files), git sees every `notebooks/*.ipynb` through `strip`: after a
sitting `git diff` is empty and `git add` stages the notebook as shipped, while the file on disk
keeps its outputs. (`git status` still lists a notebook whose size changed until it is added:
git compares file sizes before it runs a filter.) Colab and Binder open the tracked files.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FILTER = "snn-edu-strip"
KEPT_METADATA = ("jupytext", "kernelspec")  # what jupytext writes into a notebook's metadata
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "scrolled", "collapsed", "jupyter", "trusted")


def strip(text: str) -> str:
    """The notebook as the repository keeps it: no outputs, no execution counts, no widget state
    or run metadata, in the tracked files' own JSON layout."""
    nb = json.loads(text)
    nb["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k in KEPT_METADATA}
    for cell in nb.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k not in VOLATILE_CELL_METADATA}
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def install(repo: str | Path = ".", python: str = sys.executable) -> bool:
    """Register the filter in `repo`'s own git configuration (not the global one); git runs it
    from the repository's root as a plain script, without importing the package. False when
    `repo` is no git repository (an unpacked archive): then there is nothing to keep clean."""
    inside = subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-dir"], capture_output=True).returncode == 0
    if inside:
        subprocess.run(["git", "-C", str(repo), "config", f"filter.{FILTER}.clean",
                        f"'{Path(python).absolute()}' snn_edu/cleanfilter.py"], check=True)
    return inside


def main(argv: list[str] | None = None) -> None:
    """`python snn_edu/cleanfilter.py`: filter stdin to stdout; with `--install`: register it here."""
    if (argv if argv is not None else sys.argv[1:]) == ["--install"]:
        install()
        return
    sys.stdout.write(strip(sys.stdin.read()))


if __name__ == "__main__":
    main()
