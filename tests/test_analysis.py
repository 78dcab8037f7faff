import pytest
import torch

from snn_edu.analysis import (compact, gate_categories, nonzero_counts, param_counts, params_removed_pct,
                              pruned_architecture, weights_zeroed_pct)
from snn_edu.models import build_model


def gate_with(n: int, alive: int, seed: int = 0) -> torch.Tensor:
    """n gates, `alive` of them non-zero, mixing weakened and strengthened values."""
    g = torch.Generator().manual_seed(seed)
    gate = torch.zeros(n)
    idx = torch.randperm(n, generator=g)[:alive]
    gate[idx] = torch.rand(alive, generator=g) * 2 + 0.05
    return gate


def test_gate_categories():
    gate = torch.tensor([0.0, 0.0, 0.3, 0.999, 1.0, 2.5])
    assert gate_categories(gate) == {"pruned": 2, "weakened": 2, "strengthened": 2}
    assert gate_categories(gate, threshold=0.5) == {"pruned": 3, "weakened": 1, "strengthened": 2}
    assert gate_categories(gate, threshold=1.5) == {"pruned": 5, "weakened": 0, "strengthened": 1}


def test_mlp_counting_matches_paper_table():
    model = build_model("mlp", "neuron", "lite")
    gates = {"fc1": gate_with(784, 456), "fc2": gate_with(300, 134), "fc3": gate_with(100, 45)}
    assert pruned_architecture(model, gates) == "456-134-45"
    assert param_counts(model, gates) == (456 * 134 + 134 * 45 + 45 * 10, 266_200)
    assert params_removed_pct(model, gates) == pytest.approx(74.61, abs=0.005)


def test_lenet5_counting_matches_paper_table():
    model = build_model("lenet5", "neuron", "lite")
    conv2 = gate_with(50, 37)
    fed = (conv2 != 0).repeat_interleave(16)  # the fc1 inputs that the 37 kept filters feed
    fc1 = torch.zeros(800)
    fc1[fed.nonzero().flatten()[torch.randperm(int(fed.sum()), generator=torch.Generator().manual_seed(0))[:268]]] = 1.5
    gates = {"conv1": gate_with(20, 12), "conv2": conv2, "fc1": fc1, "fc2": gate_with(500, 192)}
    assert pruned_architecture(model, gates) == "12-37-268-192"
    assert param_counts(model, gates)[1] == 430_500
    assert params_removed_pct(model, gates) == pytest.approx(84.95, abs=0.005)


def test_connection_counting_is_per_weight():
    model = build_model("mlp", "connection", "lite")
    gates = {"fc1": torch.zeros(784, 300), "fc2": torch.ones(300, 100), "fc3": torch.ones(100, 10)}
    gates["fc1"][:10, :] = 0.5  # ten pixels keep all their connections
    assert pruned_architecture(model, gates) == "10-300-100"
    assert param_counts(model, gates) == (3000 + 30_000 + 1000, 266_200)
    gates["fc2"][:, :50] = 0  # half of fc2's connections zeroed: its 300 x 100 matrix stays, 50 outputs die
    assert param_counts(model, gates) == (3000 + 300 * 50 + 50 * 10, 266_200)
    gates["fc2"][::2, 50::2] = 0  # a checkerboard of the rest: zeroed, not removed (no row or column dies)
    assert param_counts(model, gates) == (3000 + 300 * 50 + 50 * 10, 266_200)
    assert nonzero_counts(model, gates) == (3000 + 300 * 50 - 150 * 25 + 50 * 10, 266_200)
    assert weights_zeroed_pct(model, gates) > params_removed_pct(model, gates)


def with_fixed_gates(model, gates):
    """Replace each layer's switcher output by a hand-made gate."""
    for name, layer in model.gated_layers().items():
        layer.compute_gate = lambda g=gates[name]: g
    return model


@pytest.mark.parametrize("name, strategy", [("mlp", "neuron"), ("mlp", "connection"),
                                            ("lenet5", "neuron"), ("lenet5", "connection")])
def test_compact_equals_gated_eval_output(name, strategy):
    torch.manual_seed(0)
    model = build_model(name, strategy, "lite")
    for layer in model.gated_layers().values():
        layer.weight.data.normal_(0, 0.2)
    shapes = {k: v.shape for k, v in model.gates("eval").items()}
    gates = {}
    for i, (k, shape) in enumerate(shapes.items()):
        rows = gate_with(shape[0], max(1, shape[0] * 2 // 3), seed=i)
        gates[k] = rows if len(shape) == 1 else rows[:, None] * (torch.rand(shape) > 0.3)
    model = with_fixed_gates(model.eval(), gates)
    small = compact(model)
    x = torch.rand(16, 1, 28, 28)
    with torch.no_grad():
        expected, got = model(x), small(x)
    assert expected.abs().max() > 1e-2
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < sum(p.numel() for p in model.tnn_parameters())
    if strategy == "neuron":
        assert n_small <= param_counts(model, gates)[0]
    assert not any(isinstance(m, type(model.fc1)) for m in small.modules())


def test_compact_with_real_switcher_gates():
    torch.manual_seed(1)
    model = build_model("lenet5", "neuron", "lite")
    for _ in range(5):
        model(torch.rand(8, 1, 28, 28))
    model.eval()
    small = compact(model)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-6)


def test_border_vs_centre():
    from snn_edu.analysis import border_vs_centre

    gate = torch.ones(28, 28)
    gate[:4, :] = 0  # the top four rows: 112 of the 784 - 20 * 20 = 384 border pixels
    share = border_vs_centre(gate.flatten())
    assert share == {"border": pytest.approx(100 * 112 / 384), "centre": 0.0}


def test_comparison_table_reports_raw_and_what_the_release_would_print():
    from snn_edu.paper import comparison_markdown

    metrics = {"test_accuracy": 91.234, "diverged": False, "epochs": 8, "pruned_architecture": "700-250-80",
               "params_removed_pct": 25.0, "config": {"model": "mlp", "strategy": "neuron", "data": "mnist5k"}}
    row = comparison_markdown("mlp", {"SNN": metrics}).splitlines()[-1]
    assert "| 91.23 |" in row and row.endswith("| 98.42 |")


def test_the_whole_network_count_keeps_every_ungated_weight():
    from snn_edu.analysis import network_params_removed_pct, ungated_weights
    from snn_edu.nets import build_network

    model = build_network("vgg-cov2", switcher="lite", in_shape=(1, 28, 28), classes=10)
    assert ungated_weights(model) == 1 * 64 * 9 + 64 * 64 * 9  # its two convolutions, gated only with --gate-convs
    gates = {name: torch.ones(layer.weight.shape[0]) for name, layer in model.gated_layers().items()}
    first = next(iter(gates))
    gates[first][: len(gates[first]) // 2] = 0
    kept, total = param_counts(model, gates)
    ungated = ungated_weights(model)
    assert network_params_removed_pct(model, gates) == pytest.approx(100 * (1 - (kept + ungated) / (total + ungated)))
    assert network_params_removed_pct(model, gates) < params_removed_pct(model, gates)
    mlp = build_model("mlp", "neuron", "lite")
    assert ungated_weights(mlp) == 0
