"""Is a harder task pruned less? The comparison's rule and the shipped page."""
from pathlib import Path

from snn_edu.tasks import task_sentences, tasks_page

ROOT = Path(__file__).resolve().parents[1]


def row(model, task, removed, drop=None):
    """A task row as task_rows gives it: by seed, removed % and the accuracy lost against dense."""
    drop = drop or [1.0] * len(removed)
    return {"model": model, "task": task, "removed": removed, "drop": drop,
            "removed_by_seed": dict(enumerate(removed)), "drop_by_seed": dict(enumerate(drop))}


def test_differences_are_paired_by_seed_with_an_interval_that_must_exclude_zero():
    rows = [row("mlp", "mnist5k", [30.0, 32.0, 34.0]), row("mlp", "fashion5k", [20.0, 21.5, 23.0], [2.9, 3.0, 3.1]),
            row("lenet5", "mnist5k", [80.0, 85.0, 90.0]), row("lenet5", "fashion5k", [78.0, 88.0, 86.0]),
            row("vgg-cov2", "mnist5k", [10.0, 10.5, 11.0])]
    mlp, lenet, vgg = task_sentences(rows, "mnist5k", "fashion5k")
    # differences -10, -10.5, -11: mean -10.5, sd 0.5, t(2) 4.303 -> half-width 1.24
    assert "a difference of -10.50 points (95 % interval -11.74 to -9.26)" in mlp and "as the papers claim" in mlp
    assert "a difference of +2.00 points" in mlp and "the harder task costs more accuracy" in mlp
    assert "seed by seed -2.00, +3.00, -4.00" in lenet and "the interval includes 0: no difference shown" in lenet
    assert "not measured on both" in vgg
    more, = task_sentences([row("mlp", "mnist5k", [1.0, 1.0, 1.2]), row("mlp", "fashion5k", [9.0, 9.1, 9.0])],
                           "mnist5k", "fashion5k")
    assert "more on the harder task, against the papers' claim" in more
    one, = task_sentences([row("mlp", "mnist5k", [1.0]), row("mlp", "fashion5k", [9.0])], "mnist5k", "fashion5k")
    assert "no interval can be given" in one


def test_a_pair_with_a_collapsed_switcher_is_named_as_measuring_the_collapse():
    easy, hard = row("lenet5", "mnist5k", [88.0, 100.0, 78.0]), row("lenet5", "fashion5k", [85.0, 100.0, 94.0])
    easy["accuracy_by_seed"], hard["accuracy_by_seed"] = {0: 94.2, 1: 10.0, 2: 95.1}, {0: 76.9, 1: 74.0, 2: 74.5}
    sentence, = task_sentences([easy, hard], "mnist5k", "fashion5k")
    assert ("3 seeds paired by seed (seed 1: 10.0 % on mnist5k, 74.0 % on fashion5k: near chance level, so that "
            "pair measures a collapsed switcher rather than the task):") in sentence
    hard["accuracy_by_seed"][1] = 75.0
    easy["accuracy_by_seed"][1] = 90.0
    sentence, = task_sentences([easy, hard], "mnist5k", "fashion5k")
    assert "near chance" not in sentence and "3 seeds paired by seed:" in sentence


def test_the_shipped_page_is_computed_from_the_shipped_runs():
    page = (ROOT / "docs" / "harder_tasks.md").read_text()
    assert page == tasks_page(ROOT / "results"), "regenerate: python -m snn_edu tasks --out docs/harder_tasks.md"
