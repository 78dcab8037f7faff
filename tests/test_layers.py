import pytest
import torch
import torch.nn.functional as F

from snn_edu.errors import ConfigError
from snn_edu.layers import GatedConv2d, GatedLinear, cached_gates
from snn_edu.models import build_model
from snn_edu.training import evaluate


def test_gradient_reaches_tnn_weight_through_the_switcher():
    torch.manual_seed(0)
    layer = GatedLinear(12, 5, "neuron", "lite", init_std=0.5)
    x, y = torch.randn(16, 12), torch.randint(0, 5, (16,))
    F.cross_entropy(layer(x), y).backward()
    with_switcher = layer.weight.grad.clone()

    # The same forward with the gate treated as a constant: only the direct path remains.
    layer.weight.grad = None
    gate = layer.compute_gate().detach()
    F.cross_entropy((x * gate) @ layer.weight, y).backward()
    direct_only = layer.weight.grad
    assert with_switcher.abs().sum() > 0
    assert not torch.allclose(with_switcher, direct_only, atol=1e-6)


@pytest.mark.parametrize("strategy, linear_gate, conv_gate", [
    ("neuron", (30,), (8,)), ("connection", (30, 7), (8, 3))])
def test_gate_shapes(strategy, linear_gate, conv_gate):
    linear = GatedLinear(30, 7, strategy, "lite")
    conv = GatedConv2d(3, 8, 5, strategy, "lite")
    assert linear.compute_gate().shape == linear_gate
    assert conv.compute_gate().shape == conv_gate
    assert conv.switcher_image().shape == (8, 3)
    assert linear(torch.randn(4, 30)).shape == (4, 7)
    assert conv(torch.randn(4, 3, 12, 12)).shape == (4, 8, 8, 8)


def test_wrong_input_shapes_are_clear():
    with pytest.raises(ConfigError, match="expects 30 input features, got 29"):
        GatedLinear(30, 7, "neuron", "lite")(torch.randn(2, 29))
    with pytest.raises(ConfigError, match=r"expects \(N, 3, H, W\)"):
        GatedConv2d(3, 8, 5, "neuron", "lite")(torch.randn(2, 4, 12, 12))
    with pytest.raises(ConfigError, match="unknown strategy"):
        GatedLinear(3, 3, "synapse")


def test_switched_off_layer_is_the_plain_tnn():
    layer = GatedLinear(10, 4, "neuron", "lite")
    layer.gated = False
    x = torch.randn(3, 10)
    assert torch.equal(layer(x), x @ layer.weight)


@pytest.mark.parametrize("name", ["mlp", "lenet5"])
def test_cached_evaluation_gate_equals_per_batch_recompute(name, tiny):
    torch.manual_seed(0)
    model = build_model(name, "neuron", "lite")
    model.train()
    for _ in range(3):  # move the BatchNorm running statistics off their initial values
        model(torch.rand(8, 1, 28, 28))
    x, y = tiny[1].tensors
    cached = evaluate(model, x, y, batch_size=50)
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(xb) for xb in x.split(50)])  # gate recomputed every batch
    assert cached["test_accuracy"] == pytest.approx(100.0 * float((logits.argmax(1) == y).float().mean()))
    assert cached["test_loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    for layer_name, gate in cached["gates"].items():
        assert torch.equal(gate, model.gated_layers()[layer_name].gate_in_mode("eval"))


def test_gate_modes_differ_and_leave_state_alone():
    torch.manual_seed(0)
    model = build_model("mlp", "neuron", "lite")
    model.train()
    for _ in range(3):
        model(torch.rand(8, 1, 28, 28))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_gates, eval_gates = model.gates("train"), model.gates("eval")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training
    assert any(not torch.equal(train_gates[k], eval_gates[k]) for k in train_gates)
    # with image statistics in eval mode too, evaluation uses the training-mode gate
    model.set_gate_stats("image")
    assert all(torch.allclose(model.gates("eval")[k], train_gates[k]) for k in train_gates)


def test_switcher_input_controls():
    layer = GatedLinear(12, 5, "neuron", "lite", init_std=0.5)
    w = layer.weight.detach().clone()
    layer.set_switcher_input("shuffled", seed=1)
    shuffled = layer.switcher_source().detach()
    assert not torch.equal(shuffled, w) and torch.equal(shuffled.flatten().sort().values, w.flatten().sort().values)
    layer.set_switcher_input("noise", seed=1)
    noise = layer.switcher_source()
    assert noise.std() == pytest.approx(float(w.std()), rel=0.6) and not noise.requires_grad
    layer.set_switcher_input("constant")
    assert torch.equal(layer.switcher_source(), torch.zeros_like(w))
    with pytest.raises(ConfigError, match="unknown switcher input"):
        layer.set_switcher_input("labels")


def test_fixed_gate_replaces_the_switcher():
    layer = GatedLinear(4, 3, "neuron", None, init_std=0.5)
    assert not layer.active
    mask = torch.tensor([1.0, 0.0, 1.0, 0.0])
    layer.set_fixed_gate(mask)
    x = torch.randn(2, 4)
    assert layer.active
    torch.testing.assert_close(layer(x), (x * mask) @ layer.weight)
    assert torch.equal(layer.gate_in_mode("eval"), mask) and torch.equal(layer.gate_in_mode("train"), mask)


def test_magnitude_masks_keep_the_largest_units():
    from snn_edu.ablation import magnitude_masks

    model = build_model("mlp", "neuron", None)
    model.fc1.weight.data[:10] *= 100  # ten pixels with much larger weights
    masks = magnitude_masks(model, [10, 300, 50])
    assert torch.equal(masks["fc1"].nonzero().flatten(), torch.arange(10))
    assert int(masks["fc2"].sum()) == 300 and int(masks["fc3"].sum()) == 50
