"""plot_frontier's zoom frames the measured curves, not the paper's point."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from snn_edu import plots  # noqa: E402


def row(criterion, source, target, accuracy, removed, std=0.2):
    """One summarised point, with the keys `frontier.summarise` writes."""
    return {"model": "mlp", "criterion": criterion, "source": source, "target_removed_pct": target,
            "finetune_epochs": 0, "n": 3, "seeds": 3, "accuracy": accuracy, "accuracy_std": std,
            "removed": removed, "removed_std": 0.5}


SUMMARY = [row("switcher", "switcher", 25, 91.8, 30.0), row("switcher", "switcher", 50, 91.0, 55.0),
           row("magnitude", "dense", 25, 91.5, 25.0), row("magnitude", "dense", 50, 90.2, 50.0),
           row("natural", "switcher", None, 92.0, 20.0)]


def measured(summary):
    return [s["accuracy"] for s in summary]


@pytest.mark.parametrize("paper, where", [((89.0, 98.4), "above"), ((89.0, 60.0), "below")])
def test_zoom_frames_the_curves_and_notes_the_paper_outside(paper, where):
    fig, ax = plt.subplots()
    plots.plot_frontier(ax, SUMMARY, "mlp", 0, paper=paper, zoom=3)
    low, high = ax.get_ylim()
    assert all(low <= y <= high for y in measured(SUMMARY))
    assert not low <= paper[1] <= high
    notes = ax.get_legend_handles_labels()[1]
    assert any(f"paper's point ({paper[1]:g} %) {where} this window" in t for t in notes), notes
    plt.close(fig)


def test_no_note_when_the_paper_is_inside_the_window():
    fig, ax = plt.subplots()
    plots.plot_frontier(ax, SUMMARY, "mlp", 0, paper=(89.0, 91.5), zoom=3)
    assert not any("paper's point" in t for t in ax.get_legend_handles_labels()[1])
    plt.close(fig)


def test_frontier_figure_with_the_papers_mlp_point():
    from snn_edu import widgets
    from snn_edu.paper import reported_point

    fig = widgets.frontier_figure(SUMMARY, "mlp", 0, zoom=3)
    ax = fig.axes[0]
    low, high = ax.get_ylim()
    assert all(low <= y <= high for y in measured(SUMMARY))
    assert reported_point("mlp")[1] > high
    assert any("above this window" in t.get_text() for t in ax.get_legend().get_texts())
    fig.canvas.draw()  # the legend sits beside the axes, covering no curve
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    plt.close(fig)


def test_seed_curves_draw_one_line_per_seed_and_mark_a_nan_stop():
    from snn_edu.training import History

    def history(accs, diverged=None):
        return History([{"epoch": i, "phase": "tnn" if i % 2 == 0 else "snn", "test_accuracy": a}
                        for i, a in enumerate(accs)], diverged)

    fig, ax = plots.new_figure()
    plots.plot_seed_curves(ax, {0: history([10.0, 50.0, 90.0]), 1: history([10.0, 40.0], diverged="NaN")}, "t")
    lines = ax.get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[10.0, 50.0, 90.0], [10.0, 40.0], [40.0]]
    assert lines[2].get_marker() == "x" and list(lines[2].get_xdata()) == [2]  # the step the NaN stopped
    assert [t.get_text() for t in ax.get_legend().get_texts()][-2:] == ["seed 0", "seed 1"]
    plt.close(fig)


def test_no_curve_selected_draws_no_curve_and_says_so():
    fig, ax = plt.subplots()
    plots.plot_frontier(ax, SUMMARY, "mlp", 0, curves=[])
    assert not [line for line in ax.lines if line.get_label().startswith("L1")]
    assert "no curve selected" in ax.texts[0].get_text()
    plt.close(fig)


def test_crowded_labels_are_spread_until_none_overlaps():
    fig, ax = plt.subplots()
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    labels = [ax.annotate(f"λ {v:g}", (50.0, 90.0), textcoords="offset points", xytext=(4, -12)) for v in (0.1, 0.01, 1)]
    plots.spread_labels(ax, labels)
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)


def test_gate_maps_side_by_side_keep_their_titles_apart():
    import torch

    fig, axes = plt.subplots(1, 4, figsize=(11.2, 2.8))  # notebook 04's joint figure: 2.8 inches a map
    for ax in axes:
        plots.plot_gate_map(ax, torch.cat([torch.zeros(31), torch.full((156,), 0.5), torch.full((597,), 1.5)]))
    fig.canvas.draw()
    boxes = [ax.title.get_window_extent(fig.canvas.get_renderer()) for ax in axes]
    assert axes[0].get_title() == "31 pruned / 156 weakened\n597 strengthened"
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
    plt.close(fig)


def test_bands_and_error_bars_stay_inside_0_to_100_when_a_seed_near_chance_widens_them():
    wide = [row("switcher", "switcher", 50, 66.4, 88.0, std=48.9), row("natural", "switcher", None, 66.4, 88.0, std=48.9)]
    wide[1]["removed_std"] = 11.1
    fig, ax = plt.subplots()
    plots.plot_frontier(ax, wide, "mlp", 0)
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() >= 0 and band.max() <= 100 and band.max() == pytest.approx(100)
    assert plots.percent_error(66.4, 48.9) == [[pytest.approx(48.9)], [pytest.approx(33.6)]]
    assert plots.percent_error(92.0, 11.1) == [[pytest.approx(11.1)], [pytest.approx(8.0)]]
    assert plots.percent_error(92.0, None) == [[0.0], [0.0]]
    plt.close(fig)
