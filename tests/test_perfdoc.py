"""docs/performance.md's measured tables come from the shipped results, and regenerate from them."""
from pathlib import Path

import pytest

from snn_edu import perfdoc
from snn_edu.cli import main
from snn_edu.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def test_performance_page_matches_the_shipped_results():
    assert perfdoc.sync(ROOT / "docs" / "performance.md", ROOT / "results", check=True), \
        "docs/performance.md is stale: run python -m snn_edu perf-doc"
    assert main(["perf-doc", "--check"]) == 0


def test_shipped_runs_record_command_machine_and_clean_commit():
    runs = perfdoc.read_bench_runs(ROOT / "results" / "bench")
    assert len(runs) >= 2
    for run in runs:
        assert run["command"].startswith("python -m snn_edu bench")
        assert run["provenance"]["cpu"] and run["provenance"]["git_dirty"] is False
        assert {"lite/fp32", "lite/bf16", "paper/fp32", "paper/bf16"} <= set(run["ratios"])
    table = perfdoc.precision_table(ROOT / "results" / "precision")
    assert "with uncommitted changes" not in table and table.count("| fp32 |") == 3 and table.count("| bf16 |") == 3


def test_render_replaces_only_the_generated_blocks():
    page = "intro\n<!-- generated:a -->\nold\n<!-- /generated:a -->\noutro\n"
    assert perfdoc.render(page, {"a": "new | table"}) == \
        "intro\n<!-- generated:a -->\nnew | table\n<!-- /generated:a -->\noutro\n"
    with pytest.raises(DataError, match="no block '<!-- generated:b -->'"):
        perfdoc.render(page, {"b": "x"})


def test_stale_page_is_reported_and_rewritten(tmp_path, monkeypatch):
    page = tmp_path / "performance.md"
    page.write_text("<!-- generated:a -->\nold\n<!-- /generated:a -->\n")
    monkeypatch.setattr(perfdoc, "blocks", lambda root: {"a": "new"})
    assert perfdoc.sync(page, tmp_path, check=True) is False
    assert "old" in page.read_text()  # --check writes nothing
    assert perfdoc.sync(page, tmp_path) is False and "new" in page.read_text()
    assert perfdoc.sync(page, tmp_path, check=True) is True


def test_missing_bench_runs_say_how_to_make_them(tmp_path):
    with pytest.raises(DataError, match="python -m snn_edu bench --json"):
        perfdoc.read_bench_runs(tmp_path)
