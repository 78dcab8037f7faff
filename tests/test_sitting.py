"""A GPU sitting of the paper-scale study, checked on the CPU at smoke size."""
import json

from snn_edu.paperscale import paper_scale_page, run_progress
from snn_edu.sitting import sitting
from snn_edu.training import Trainer, TrainConfig


def test_a_sitting_benches_once_then_trains_and_says_how_far_each_run_got(tmp_path):
    lines = []
    done = sitting(tmp_path, budget=600, jobs=1, device="cpu", level="smoke", data="mnist5k", seeds=1,
                   log=lines.append)
    bench = json.loads(done["bench"].read_text())
    assert done["bench"].parent.name == "bench-cpu"
    assert all(row["tnn_aten_ops"] > 0 for row in bench["rows"]), "the bench profiles every row"
    runs = json.loads(done["progress"].read_text())["runs"]
    assert set(runs) == {"mlp/al/seed0", "lenet5/al/seed0"}
    assert all(r["finished"] and r["epochs_done"] == r["epochs"] == 3 and r["data"] == "mnist5k" for r in runs.values())
    page = paper_scale_page(done["progress"].parent)
    assert "| MLP 784-300-100 al/seed0 | mnist5k | 3 of 3 |" in page
    stamp = done["bench"].stat().st_mtime_ns
    again = sitting(tmp_path, budget=600, jobs=1, device="cpu", level="smoke", data="mnist5k", seeds=1,
                    log=lines.append)
    assert again["study"]["ran"] == [] and done["bench"].stat().st_mtime_ns == stamp, "bench once per device"


def test_an_unfinished_run_reports_its_epochs_and_no_study_means_not_measured(tiny, tmp_path):
    Trainer(TrainConfig(switcher="lite", epochs=2, max_steps=2), *tiny, out=tmp_path / "run", progress=False).fit()
    r = run_progress(tmp_path / "run")
    assert not r["finished"] and r["epochs_done"] == r["epochs"] == 2 and r["test_accuracy"] is not None
    assert run_progress(tmp_path / "nothing") == {"epochs_done": 0, "finished": False}
    assert "Not yet measured" in paper_scale_page(tmp_path / "empty")


def test_the_shipped_page_reads_the_shipped_study():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert (root / "docs" / "paper_scale.md").read_text() == paper_scale_page(root / "results" / "paper-fashion"), \
        "regenerate: python -m snn_edu paper-scale --out docs/paper_scale.md"
