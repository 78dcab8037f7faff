"""Is a harder task pruned less? The comparison's rule and the shipped page."""
from pathlib import Path

from snn_edu.tasks import task_sentences, tasks_page

ROOT = Path(__file__).resolve().parents[1]


def row(model, task, removed):
    return {"model": model, "task": task, "removed": removed}


def test_a_difference_counts_only_beyond_the_seeds_spread():
    rows = [row("mlp", "mnist5k", [30.0, 32.0, 34.0]), row("mlp", "fashion5k", [20.0, 21.0, 22.0]),
            row("lenet5", "mnist5k", [80.0, 85.0, 90.0]), row("lenet5", "fashion5k", [78.0, 83.0, 88.0]),
            row("vgg-cov2", "mnist5k", [10.0, 10.5, 11.0])]
    mlp, lenet, vgg = task_sentences(rows, "mnist5k", "fashion5k")
    assert "pruned less on the harder task, by more than the seeds' spread" in mlp and "-11.00 points" in mlp
    assert "no difference beyond the seeds' spread" in lenet  # 2 points apart, spread 5
    assert "not measured on both" in vgg
    more, = task_sentences([row("mlp", "mnist5k", [1.0, 1.0]), row("mlp", "fashion5k", [9.0, 9.0])],
                           "mnist5k", "fashion5k")
    assert "pruned more on the harder task" in more


def test_the_shipped_page_is_computed_from_the_shipped_runs():
    page = (ROOT / "docs" / "harder_tasks.md").read_text()
    assert page == tasks_page(ROOT / "results"), "regenerate: python -m snn_edu tasks --out docs/harder_tasks.md"
