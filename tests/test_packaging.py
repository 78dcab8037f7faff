"""Packaging, Binder and CI files agree with each other and with the README."""

import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from snn_edu import links

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_binder_environment_is_identical():
    assert (ROOT / "binder" / "environment.yml").read_bytes() == (ROOT / "environment.yml").read_bytes()


def _environment_pins() -> dict[str, str]:
    """name -> version of every `name==version` line in environment.yml's pip section."""
    pip = (ROOT / "environment.yml").read_text().split("- pip:")[1]
    return dict(re.findall(r"^\s+- ([\w-]+)==([\w.]+)\s*$", pip, re.M))


def _constraints() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(ln.split("==") for ln in lines if ln.strip() and not ln.startswith("#"))


def _makefile_torch_spec() -> dict[str, str]:
    spec = re.search(r"^TORCH_SPEC \?= (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    return dict(part.split("==") for part in spec.split())


def _requirement_names(reqs) -> set[str]:
    return {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in reqs}


def test_environment_pins_what_the_tests_run_on():
    pins = _environment_pins()
    tested = {**_constraints(), **_makefile_torch_spec()}
    assert pins, "environment.yml pins nothing"
    for name, version in pins.items():
        assert tested.get(name) == version, f"environment.yml pins {name}=={version}, the pip environment {tested.get(name)}"
    project = _pyproject()["project"]
    needed = _requirement_names(project["dependencies"] + project["optional-dependencies"]["lab"])
    assert needed <= set(pins), f"environment.yml does not pin {sorted(needed - set(pins))}"
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text and "download.pytorch.org/whl/cpu" in text


def test_environment_does_not_install_the_repo():
    # `-e .` would resolve relative to binder/; postBuild installs the package instead.
    text = (ROOT / "environment.yml").read_text()
    assert "-e ." not in text.replace("# ", "").split("dependencies:")[1]


def test_installed_versions_are_the_constraints():
    """`make test` installed exactly constraints.txt (checked only inside the Makefile's .venv)."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not running in the Makefile's .venv")
    for name, version in {**_constraints(), **_makefile_torch_spec()}.items():
        assert metadata.version(name).split("+")[0] == version, name


def test_postbuild():
    path = ROOT / "binder" / "postBuild"
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    assert lines[0].startswith("#!")
    assert lines[1] == "set -e"
    assert os.access(path, os.X_OK)
    commands = [ln for ln in lines if not ln.startswith("#")]
    assert "pip install --no-deps -e ." in commands and "pip check" in commands
    assert not any("download" in ln for ln in commands), "no notebook level that fits Binder needs a download"


def test_binder_start_sets_threads_to_the_cpu_quota():
    from snn_edu.machine import available_cpus

    path = ROOT / "binder" / "start"
    assert os.access(path, os.X_OK)
    assert path.read_text().rstrip().splitlines()[-1] == 'exec "$@"'
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([str(path), sys.executable, "-c", "import os, torch; "
                          "print(os.environ['OMP_NUM_THREADS'], torch.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(available_cpus())] * 2


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


def _make_dry_run(*args) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-n", "-B", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_make_lab_installs_no_test_tools_and_make_test_adds_them():
    lab, test = _make_dry_run("lab"), _make_dry_run("test")
    assert "-e '.[lab]'" in lab and ".[lab,test]" not in lab and ".installed-test" not in lab
    assert "-e '.[lab,test]'" in test and "-c constraints.txt" in test
    assert "--index-url" not in lab


def test_torch_index_is_one_variable():
    url = "https://download.pytorch.org/whl/cpu"
    line = [ln for ln in _make_dry_run("lab", f"TORCH_INDEX={url}").splitlines() if "torch==" in ln]
    assert line and f"--index-url {url} torch==" in line[0]


def test_lean_install_leaves_out_the_test_tools():
    project = _pyproject()["project"]
    core = _requirement_names(project["dependencies"])
    assert not core & {"pytest", "playwright", "mlxtend", "jupyterlab"}
    assert {"pytest", "playwright"} <= _requirement_names(project["optional-dependencies"]["test"])


def test_makefile_targets():
    text = (ROOT / "Makefile").read_text()
    for target in ("install", "lab", "test", "book", "clean"):
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
    names = _requirement_names(project["dependencies"] + project["optional-dependencies"]["lab"])
    assert {"torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "jupyterlab",
            "captum", "jupytext", "tqdm"} <= names
    assert project["urls"]["Repository"] == links.github_url()


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
