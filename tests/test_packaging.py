"""Packaging, Binder and CI files agree with each other and with the README."""

import os
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_binder_environment_is_identical():
    assert (ROOT / "binder" / "environment.yml").read_bytes() == (ROOT / "environment.yml").read_bytes()


def test_environment_does_not_install_the_repo():
    # `-e .` would resolve relative to binder/; postBuild installs the package instead.
    text = (ROOT / "environment.yml").read_text()
    assert "-e ." not in text.replace("# ", "").split("dependencies:")[1]
    for dep in ("python=3.11", "pytorch", "torchvision", "jupyterlab", "ipywidgets", "mlxtend", "captum"):
        assert dep in text


def test_postbuild():
    path = ROOT / "binder" / "postBuild"
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    assert lines[0].startswith("#!")
    assert lines[1] == "set -e"
    assert os.access(path, os.X_OK)
    text = "\n".join(lines)
    assert "pip install --no-deps -e ." in text
    assert "snn_edu data download mnist" in text


def test_ci_runs_make_test():
    path = ROOT / ".ci" / "run"
    assert os.access(path, os.X_OK)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test\b", text, re.M)


def test_readme_leads_with_make_lab_and_make_test():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert first_block, "README needs a code block with the commands"
    commands = first_block.group(1)
    assert "make lab" in commands and "make test" in commands
    assert "mybinder.org/v2/gh/" in text


def test_makefile_targets():
    text = (ROOT / "Makefile").read_text()
    for target in ("install", "lab", "test", "clean"):
        assert re.search(rf"^{target}:", text, re.M), target
    recipes = [ln for ln in text.splitlines() if ln.startswith("\t")]
    assert recipes and not any(ln.startswith("    ") for ln in text.splitlines() if "$(BIN)" in ln)


def test_jupytext_pairing():
    assert 'formats = "ipynb,py:percent"' in (ROOT / "jupytext.toml").read_text()


def test_pyproject_metadata():
    project = _pyproject()["project"]
    assert project["name"] == "snn-edu"
    assert project["version"] == "0.1.0"
    assert project["scripts"]["snn-edu"] == "snn_edu.cli:main"
    names = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "jupyterlab",
            "captum", "jupytext", "tqdm", "mlxtend"} <= names


@pytest.mark.parametrize("dist, version", [("torch", "2.14.1"), ("torchvision", "0.29.1")])
def test_dependencies_admit_pinned_torch(dist, version):
    packaging_requirements = pytest.importorskip("packaging.requirements")
    reqs = [packaging_requirements.Requirement(d) for d in _pyproject()["project"]["dependencies"]]
    (req,) = [r for r in reqs if r.name == dist]
    assert req.specifier.contains(version), f"{req} excludes {dist} {version}"
    try:
        installed = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return
    assert req.specifier.contains(installed.split("+")[0]), f"{req} excludes installed {installed}"
