"""Kernel picking, rank correlation, feature maps and the captum wrappers, on small hand-gated models."""
import math

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from snn_edu import attribution as A
from snn_edu import widgets
from snn_edu.analysis import gate_category
from snn_edu.models import build_model

CONV1_GATE = torch.tensor([0.5, 0.0, 1.7, 0.0, 1.2, 0.9, 0.0, 2.4, 0.3, 1.0,
                           0.0, 0.1, 0.6, 0.0, 0.8, 0.7, 0.2, 0.4, 0.05, 0.0])
PRUNED = [1, 3, 6, 10, 13, 19]


def set_gate(layer, gate):
    """Replace a layer's switcher output by a hand-made gate."""
    layer.compute_gate = lambda g=gate: g
    return layer


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    model = build_model("lenet5", "neuron", "lite")
    set_gate(model.conv1, CONV1_GATE)
    for name in ("conv2", "fc1", "fc2"):  # open gates downstream, so every live kernel matters
        layer = getattr(model, name)
        set_gate(layer, torch.ones(layer.out_channels if name == "conv2" else layer.in_features))
    return model


@pytest.fixture(scope="module")
def digits():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 6:22, 8:20] = torch.rand(4, 1, 16, 12, generator=gen)  # a blob on a black background
    return x, torch.tensor([0, 3, 5, 7])


def test_pick_kernels_orders_and_limits():
    strong, pruned = A.pick_kernels(CONV1_GATE, 3, 2)
    assert strong.tolist() == [7, 2, 4]
    assert pruned.tolist() == [1, 3]
    strong, pruned = A.pick_kernels(CONV1_GATE, 10, 10)
    assert strong.tolist() == [7, 2, 4, 9]            # only four gates are >= 1
    assert pruned.tolist() == PRUNED


def test_pick_kernels_returns_what_exists_and_fills_only_when_asked():
    gate = torch.tensor([0.5, 0.0, 0.2, 0.9, 0.05])
    strong, pruned = A.pick_kernels(gate, 3, 2)
    assert strong.tolist() == [] and pruned.tolist() == [1]
    strong, pruned = A.pick_kernels(gate, 3, 2, fill=True)
    assert strong.tolist() == [3, 0, 2]               # highest remaining gates
    assert pruned.tolist() == [1, 4]                  # the real pruned one, then the weakest
    assert [gate_category(float(gate[i])) for i in pruned] == ["pruned", "weakened"]


def test_one_digit_per_class():
    y = torch.tensor([3, 1, 0, 1, 2, 9, 8, 7, 6, 5, 4, 3, 0])
    idx = A.one_digit_per_class(None, y, seed=1)
    assert sorted(y[idx].tolist()) == list(range(10))
    assert A.one_digit_per_class(None, torch.tensor([2, 2, 5]), seed=0).numel() == 2


def test_spearman_known_values():
    a = torch.arange(10.0)
    assert A.spearman(a, a**3) == pytest.approx(1.0)
    assert A.spearman(a, -a) == pytest.approx(-1.0)
    assert A.average_ranks(torch.tensor([10.0, 20.0, 20.0, 30.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    # ties: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4); centred, their dot product is 4.5 and
    # their squared norms 4.5 and 5.0
    assert A.spearman(torch.tensor([1.0, 2, 2, 3]), torch.tensor([1.0, 2, 3, 4])) == pytest.approx(
        4.5 / math.sqrt(4.5 * 5.0))
    assert math.isnan(A.spearman(torch.zeros(5), a[:5]))


def test_feature_maps_raw_and_gated(lenet, digits):
    x, _ = digits
    raw = A.feature_maps(lenet, "conv1", x)
    gated = A.feature_maps(lenet, "conv1", x, gated=True)
    assert raw.shape == gated.shape == (4, 20, 24, 24)
    assert torch.all(gated[:, PRUNED] == 0)
    assert raw[:, PRUNED].abs().amax(dim=(0, 2, 3)).min() > 0
    torch.testing.assert_close(gated, raw * CONV1_GATE[None, :, None, None])
    assert A.feature_maps(lenet, "conv2", x).shape == (4, 50, 8, 8)
    assert lenet.training                              # the model's mode is restored


def test_conductance_is_per_channel_and_zero_when_pruned(lenet, digits):
    x, y = digits
    cond = A.channel_conductance(lenet, "conv1", x, y, n_steps=8)
    assert cond.shape == (20,)
    assert torch.all(cond[PRUNED] == 0)
    alive = [i for i in range(20) if i not in PRUNED]
    assert torch.all(cond[alive] > 0)
    act = A.channel_activation(lenet, "conv1", x)
    assert act.shape == (20,) and torch.all(act[PRUNED] == 0) and torch.all(act[alive] > 0)


def test_importance_table(lenet, digits):
    x, y = digits
    table = A.importance_table(lenet, "conv1", x, y, n_steps=8)
    assert torch.equal(table["gate"], CONV1_GATE)
    torch.testing.assert_close(table["l1"], lenet.conv1.weight.detach().abs().sum((1, 2, 3)))
    assert set(table["rho"]) == {(a, b) for i, a in enumerate(A.RANKINGS) for b in A.RANKINGS[i + 1:]}
    assert A.rho_of(table, "l1", "gate") == table["rho"][("gate", "l1")]
    assert all(-1 <= r <= 1 for r in table["rho"].values())


def test_kernel_l1_of_a_linear_layer_is_per_input():
    layer = build_model("mlp", "neuron", None).fc1
    assert A.kernel_l1(layer).shape == (784,)


def test_integrated_gradients_completeness():
    torch.manual_seed(0)
    model = build_model("mlp", "neuron", "lite", init_std=None)
    gate = torch.rand(784) * 2
    gate[:100] = 0
    set_gate(model.fc1, gate)
    x = torch.rand(3, 1, 28, 28)
    y = torch.tensor([1, 4, 9])
    pixel_map, delta = A.pixel_attribution(model, x, y, n_steps=64, return_delta=True)
    assert pixel_map.shape == (28, 28)
    assert torch.all(pixel_map.flatten()[:100] == 0)  # a pruned pixel gets no attribution
    with torch.no_grad():
        model.eval()
        gap = model(x)[torch.arange(3), y] - model(torch.zeros_like(x))[torch.arange(3), y]
    assert delta.abs().max() < 0.02 * gap.abs().max() + 1e-6


def test_figures(lenet, digits):
    x, y = digits
    fig = widgets.fig3_figure(lenet, x, [7, 2], [1], labels=y)
    assert isinstance(fig, Figure) and len(fig.axes) == (4 + 1) * (3 + 1)
    assert len(widgets.fig3_figure(lenet, x, [], []).axes) == 1   # nothing to show: a message
    table = A.importance_table(lenet, "conv1", x, y, n_steps=4)
    assert len(widgets.ranking_scatter_figure(table).axes) == 3
    assert len(widgets.pixel_maps_figure(torch.rand(784), torch.rand(784)).axes) == 4  # 2 maps + 2 colour bars
    test_y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 3])
    test_x = torch.rand(12, 1, 28, 28)
    fig = widgets.kernel_explorer_figure(lenet, test_x, test_y, "one of each class", 0, "conv1", 2, 1)
    assert len(fig.axes) == (10 + 1) * (3 + 1)
    fig = widgets.kernel_explorer_figure(lenet, test_x, test_y, "class 3", 0, "conv2", 1, 0, maps="gated")
    assert len(fig.axes) == (3 + 1) * (1 + 1)
    matplotlib.pyplot.close("all")


def test_kernel_explorer_panel_builds(lenet):
    pytest.importorskip("ipywidgets")
    panel = widgets.kernel_explorer(lenet, torch.rand(12, 1, 28, 28), torch.arange(12) % 10)
    assert len(panel.children) == 2
    matplotlib.pyplot.close("all")
