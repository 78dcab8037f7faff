"""The library's layers hold (pyproject.toml's import-linter contract, the README's Architecture):
tools > teaching > study > measures > training > method > base, each module in exactly one layer."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint(package_parent: Path, cwd: Path) -> subprocess.CompletedProcess:
    """import-linter with the project's contract, on the `snn_edu` found under `package_parent`."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_module_imports_only_its_own_layer_and_below(tmp_path):
    result = lint(ROOT, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_an_import_upwards_breaks_the_contract_and_names_it(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "snn_edu", copy / "snn_edu", ignore=shutil.ignore_patterns("__pycache__", "data"))
    report = copy / "snn_edu" / "report.py"
    report.write_text(report.read_text() + "\nfrom . import plots  # a study module drawing: the break issue T fixed\n")
    result = lint(copy, tmp_path)
    assert result.returncode != 0
    assert "snn_edu.report -> snn_edu.plots" in result.stdout
