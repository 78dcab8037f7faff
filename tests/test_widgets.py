"""The mask inspector's pure callback: what a student sees at every epoch."""
import matplotlib
import torch

from snn_edu import widgets
from snn_edu.peers import short_name
from snn_edu.training import History

matplotlib.use("Agg")


def history():
    gates = {"fc1": torch.rand(784) * 2 * (torch.rand(784) > 0.3), "fc2": torch.rand(300), "fc3": torch.rand(100)}
    record = {"train_accuracy": 50.0, "train_loss": 1.0, "seconds": 1.0}
    return History([{**record, "epoch": 0, "phase": "warmup", "test_accuracy": 61.5, "gates_eval": {}, "gates_train": {}},
                    {**record, "epoch": 1, "phase": "tnn", "test_accuracy": 80.25, "gates_eval": gates,
                     "gates_train": gates}])


def test_a_warm_up_epoch_says_its_phase_and_accuracy_like_the_others():
    h = history()
    titles = [widgets.mask_figure(h, "fc1", e)._suptitle.get_text() for e in (0, 1)]
    assert titles == ["epoch 0 [warm-up (no gates)], test accuracy 61.50 %", "epoch 1 [TNN phase], test accuracy 80.25 %"]


def test_the_inspector_keeps_its_scales_and_shows_the_curves_without_images():
    h = history()
    fig = widgets.mask_figure(h, "fc2", 1)
    assert fig.axes[1].get_ylim()[1] == 300 * 1.05 and fig.axes[1].get_ylabel() == "fc2 gates"
    assert fig.axes[2].lines, "no switcher input kept: the learning curves take the third panel"
    assert "the last 6 cells are empty" in fig.axes[0].get_xlabel()  # 300 gates on an 18 x 17 grid
    square = widgets.mask_figure(h, "fc1", 1).axes[0]
    assert square.get_aspect() == 1.0  # the 28 x 28 input map is drawn square


def test_peer_methods_have_reader_names():
    assert [short_name(m) for m in ("al", "direct", "l0-0.001", "bc")] == [
        "switcher (SNN-AL)", "direct gate", "L0, lambda 0.001", "BC-GNJ"]


def test_a_ranking_scatter_says_why_the_surviving_kernels_give_no_rho():
    from snn_edu import plots

    fig, ax = plots.new_figure(1, 1)
    gate = torch.tensor([0.0, 0.0, 1.24, 1.24, 1.24])
    plots.plot_rank_scatter(ax, torch.arange(5.0), torch.arange(5.0), gate, "a", "b", 0.9, float("nan"))
    assert ax.get_title() == "Spearman rho +0.90\ngate > 0 only: undefined, all 3 share g = 1.24"


def test_the_stand_ins_checkbox_is_offered_only_where_it_adds_rows():
    from snn_edu.models import build_model

    model = build_model("lenet5", "neuron", "lite")
    model.conv1.set_fixed_gate(torch.cat([torch.full((8,), 1.5), torch.zeros(12)]))  # 8 strengthened, 12 pruned
    model.conv2.set_fixed_gate(torch.cat([torch.full((2,), 1.5), torch.full((48,), 0.5)]))
    assert not widgets.fill_can_act(model, "conv1", 6, 6)  # the sliders stop at 6: never short
    assert widgets.fill_can_act(model, "conv2", 3, 0) and widgets.fill_can_act(model, "conv2", 0, 1)
    assert not widgets.fill_can_act(model, "conv2", 2, 0)


def test_the_frontier_figures_offer_a_compression_axis():
    from snn_edu import frontier
    from snn_edu.peers import table1_points

    rows = [{"model": "lenet5", "criterion": c, "source": s, "target_removed_pct": t, "finetune_epochs": 0, "seed": 0,
             "test_accuracy": 95.0 - t / 10, "params_removed_pct": r}
            for c, s in (("switcher", "switcher"), ("magnitude", "dense")) for t, r in ((0, 0.0), (50, 80.0), (90, 99.0))]
    summary = frontier.summarise(rows)
    fig = widgets.frontier_figure(summary, "lenet5", 0, scale="compression")
    ax = fig.axes[0]
    assert ax.get_xscale() == "function" and "compression" in ax.get_xlabel()
    # on this axis the papers' Table 1 points (98.6 to 99.4 % removed) no longer fall on one spot
    stars = sorted(ax.transData.transform((r, a))[0] for r, a in table1_points("lenet5").values())
    assert min(b - a for a, b in zip(stars, stars[1:])) > 5  # pixels apart
    assert widgets.peers_figure(summary, "lenet5", 0, scale="compression").axes[0].get_xscale() == "function"


def test_the_gradient_explorer_opens_with_the_switcher_open():
    """With every w_S slider at its default the switcher must pass something, or no w_S slider acts."""
    from snn_edu import gradients

    panel = widgets.gradient_explorer(k_classes=5)
    w_s = [c.value for c in panel.children[0].children[1].children]
    for seed in range(5):
        assert float(gradients.switcher_scale(widgets.explorer_weights(5, seed), w_s)) > 0


def test_the_harder_task_figures_follow_their_runs():
    h, other = history(), history()
    other.epochs[1]["gates_eval"] = {**other.epochs[1]["gates_eval"], "fc1": torch.zeros(784)}
    runs = {("mlp", "mnist5k", 0): h, ("mlp", "fashion5k", 0): h, ("mlp", "fashion5k", 1): other}
    kept = int((h.epochs[1]["gates_eval"]["fc1"] > 0).sum())
    fig = widgets.input_gates_figure(runs, "mlp", "fc1")
    grid = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in grid] == [
        f"mnist5k, seed 0: {kept} kept", "", "mnist5k: kept by how many seeds",
        f"fashion5k, seed 0: {kept} kept", "fashion5k, seed 1: 0 kept", "fashion5k: kept by how many seeds"]
    counts = grid[5].images[0].get_array()
    assert counts.max() == 1 and int(counts.sum()) == kept  # seed 1 keeps nothing
    counts_fig = widgets.category_counts_figure(runs, "mlp", 0)
    lines = counts_fig.axes[0].lines
    assert [list(line.get_xdata()) for line in lines] == [[1]] * 3  # the warm-up epoch has no gates
    assert all(ax.get_legend() is None for ax in counts_fig.axes) and len(counts_fig.legends) == 1  # covers no line
    warm = widgets.task_masks_figure(runs, "mlp", "fashion5k", 1, 0)
    assert "no fc1 gates" in warm.axes[0].texts[0].get_text()
    last = widgets.task_masks_figure(runs, "mlp", "fashion5k", 1, 99)  # past the end: the last epoch
    assert last._suptitle.get_text().startswith("mlp on fashion5k, seed 1, epoch 1 [TNN phase]: test accuracy 80.25 %")
    assert "architecture 0-" in last._suptitle.get_text()
    missing = widgets.task_masks_figure(runs, "mlp", "mnist5k", 1, 0)
    assert missing.axes[0].texts[0].get_text() == "no mlp run on mnist5k with seed 1 in these results"


def test_an_inspector_over_one_gated_layer_offers_no_layer_picker():
    one = History([{**r, "gates_eval": {k: v for k, v in r["gates_eval"].items() if k == "fc3"},
                    "gates_train": {}} for r in history().epochs])
    names = lambda panel: [c.description for c in panel.children[0].children[0].children]  # noqa: E731
    assert names(widgets.mask_inspector(one)) == ["epoch", "gate"]
    assert names(widgets.mask_inspector(history())) == ["epoch", "layer", "gate"]


def test_epoch_and_neuron_axes_tick_whole_numbers():
    from snn_edu import plots

    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3)
    plots.plot_category_counts(a, history(), "fc1")  # one gated epoch
    longer = History(history().epochs + [{**history().epochs[1], "epoch": 2}, {**history().epochs[1], "epoch": 3}])
    plots.plot_category_counts(c, longer, "fc1")
    plots.plot_gate_strip(b, torch.rand(10))
    fig.canvas.draw()
    for ax in (a, b, c):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_a_peer_without_a_switcher_says_it_reads_no_weights():
    h = history()
    titles = {m: widgets.peer_masks_figure({(m, 0): h}, m, 0, "fc2", 1).axes[2].get_title() for m in ("al", "bc")}
    assert "no switcher input kept" in titles["al"]
    assert "BC-GNJ reads no weights" in titles["bc"] and "kept" not in titles["bc"]


def test_the_threshold_explorer_colours_what_it_counts_and_picks_run_and_layer_apart():
    from matplotlib.colors import to_hex

    from snn_edu import plots

    gate = torch.tensor([0.0, 0.2, 0.5, 0.99, 1.0, 1.5])
    fig = widgets.threshold_figure(gate, 1.0)
    colours = {to_hex(b.get_facecolor()) for b in fig.axes[0].patches}
    assert plots.CATEGORY_COLOURS["weakened"] not in colours  # at 1.00 nothing counts as weakened
    assert [b.get_height() for b in fig.axes[1].patches] == [4, 0, 2]
    panel = widgets.threshold_explorer({"mlp al/seed0": {"fc1": gate}, "lenet5 al/seed0": {"conv1": gate}})
    controls = panel.children[0].children[0].children
    assert [c.description for c in controls] == ["run", "layer", "prune if <"] and controls[1].value == "fc1"
    missing = widgets.threshold_figure(None, 0.5, "mlp al/seed0 has no conv1 gates")
    assert missing.axes[0].texts[0].get_text() == "mlp al/seed0 has no conv1 gates"


def test_compare_runs_opens_on_a_layer_of_run_a():
    lenet = History([{**r, "gates_eval": {"conv1": torch.rand(20)}, "gates_train": {}} for r in history().epochs])
    panel = widgets.compare_runs({"mlp al/seed0": history(), "lenet5 al/seed0": lenet})
    layer = [c for c in panel.children[0].children[0].children if c.description == "layer"][0]
    assert layer.value == "fc1"
    panel.controls["second"].value = "mlp al/seed0"  # two MLP runs: LeNet5's conv1 is no longer offered
    assert "conv1" not in layer.options and layer.value == "fc1"
    panel.controls["first"].value = "lenet5 al/seed0"  # fc1 is still run B's, so it stays
    assert layer.options[0] == "conv1" and layer.value == "fc1"


def test_the_threshold_explorer_offers_the_chosen_runs_layers_only():
    gate = torch.tensor([0.0, 0.5, 1.5])
    panel = widgets.threshold_explorer({"mlp al/seed0": {"fc1": gate, "fc2": gate}, "lenet5 al/seed0": {"conv1": gate}})
    assert list(panel.controls["layer"].options) == ["fc1", "fc2"]
    panel.controls["run"].value = "lenet5 al/seed0"
    assert list(panel.controls["layer"].options) == ["conv1"] and panel.controls["layer"].value == "conv1"
