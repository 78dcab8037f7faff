"""One rule of which units are alive: counting equals what compact() keeps, on random gates."""
import pytest
import torch

from snn_edu.analysis import alive_masks, compact, nonzero_counts, param_counts, pruned_architecture
from snn_edu.models import build_model


def random_gates(model, strategy: str, seed: int, empty: str | None = None) -> dict[str, torch.Tensor]:
    """Random gates, some zero, on every gated layer (the `empty` layer fully pruned)."""
    g = torch.Generator().manual_seed(seed)
    shapes = {k: v.shape for k, v in model.gates("eval").items()}
    gates = {}
    for name, shape in shapes.items():
        share = float(torch.rand(1, generator=g)) * 0.9 + 0.05  # 5 to 95 % of gates closed
        gate = torch.rand(shape, generator=g) * 2
        gate[torch.rand(shape, generator=g) < share] = 0
        if strategy == "connection" and gate.dim() == 2:  # some whole units closed too
            gate[torch.rand(shape[0], generator=g) < share / 2] = 0
        gates[name] = torch.zeros(shape) if name == empty else gate
    return gates


def with_gates(model, gates):
    for name, layer in model.gated_layers().items():
        layer.compute_gate = lambda g=gates[name]: g
    return model.eval()


def compact_shape(small) -> list[int]:
    """Surviving units per gated layer as compact() built them (linear inputs, conv filters)."""
    return [m.in_features if isinstance(m, torch.nn.Linear) else m.out_channels
            for m in small if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


CASES = [(name, strategy, seed, empty) for name, layers in (("mlp", ("fc1", "fc2", "fc3")),
                                                           ("lenet5", ("conv1", "conv2", "fc1", "fc2")))
         for strategy in ("neuron", "connection") for seed in range(4)
         for empty in (None,) + ((layers[seed % len(layers)],) if seed >= 2 else ())]


@pytest.mark.parametrize("name, strategy, seed, empty", CASES)
def test_counting_equals_the_compact_model(name, strategy, seed, empty):
    torch.manual_seed(seed)
    model = build_model(name, strategy, "lite")
    for layer in model.gated_layers().values():
        layer.weight.data.normal_(0, 0.2)
    gates = random_gates(model, strategy, seed, empty)
    model = with_gates(model, gates)
    small = compact(model)
    kept, total = param_counts(model, gates)
    nonzero, _ = nonzero_counts(model, gates)
    assert kept == sum(p.numel() for p in small.parameters())  # removed: gone from compact()'s matrices
    assert nonzero == sum(int((p != 0).sum()) for p in small.parameters())  # zeroed: zero or gone
    if strategy == "neuron":  # a neuron gate zeroes nothing it does not remove
        assert nonzero == kept
    arch = [int(n) for n in pruned_architecture(model, gates).split("-")]
    if kept == 0:
        assert sum(p.numel() for p in small.parameters()) == 0 and arch[-1] == 0
    else:
        assert arch == compact_shape(small)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-5)


def test_a_pruned_filter_kills_the_linear_inputs_it_feeds():
    model = build_model("lenet5", "neuron", "lite")
    gates = {name: torch.ones(shape) for name, shape in
             (("conv1", (20,)), ("conv2", (50,)), ("fc1", (800,)), ("fc2", (500,)))}
    gates["conv2"][5:] = 0  # 5 filters left: 5 x 16 fc1 inputs can still be fed
    assert pruned_architecture(model, gates) == "20-5-80-500"
    gates["fc1"][:16] = 0  # all of filter 0's inputs: nothing reads filter 0 any more
    assert pruned_architecture(model, gates) == "20-4-64-500"
    assert param_counts(model, gates)[0] == 20 * 25 + 20 * 4 * 25 + 64 * 500 + 500 * 10


def test_a_linear_output_nobody_reads_is_removed():
    model = build_model("mlp", "neuron", "lite")
    gates = {"fc1": torch.ones(784), "fc2": torch.ones(300), "fc3": torch.ones(100)}
    gates["fc2"][:200] = 0
    masks = alive_masks(model, gates)
    assert int(masks["fc1"][1].sum()) == 100  # fc1 keeps the 100 outputs that fc2 reads
    assert param_counts(model, gates)[0] == 784 * 100 + 100 * 100 + 100 * 10


def test_lenet5_has_a_named_relu_between_each_conv_and_its_pool():
    names = [name for name, _ in build_model("lenet5").named_children()]
    modules = dict(build_model("lenet5").named_children())
    for conv in ("conv1", "conv2"):
        relu, pool = names[names.index(conv) + 1], names[names.index(conv) + 2]
        assert isinstance(modules[relu], torch.nn.ReLU) and not modules[relu].inplace
        assert isinstance(modules[pool], torch.nn.MaxPool2d)


def test_the_mask_inspectors_architecture_follows_the_same_rule():
    from snn_edu.analysis import architecture_of

    gates = {"conv1": torch.ones(20), "conv2": torch.cat([torch.ones(5), torch.zeros(45)]),
             "fc1": torch.ones(800), "fc2": torch.ones(500)}
    assert architecture_of(gates) == pruned_architecture(build_model("lenet5", switcher=None), gates) == "20-5-80-500"
    assert architecture_of({"a": torch.tensor([0.0, 1.0, 2.0])}) == "2"  # not a package network: layer by layer


@pytest.mark.parametrize("name", ["mlp", "lenet5"])
def test_the_sparse_export_stores_only_the_non_zero_weights_and_computes_the_same(name):
    from snn_edu.analysis import compact_sparse, stored_weights

    torch.manual_seed(0)
    model = build_model(name, "connection", "lite")
    for layer in model.gated_layers().values():
        layer.weight.data.normal_(0, 0.2)
    gates = random_gates(model, "connection", 1)
    model = with_gates(model, gates)
    dense, sparse = compact(model), compact_sparse(model)
    conv = sum(m.weight.numel() for m in dense.modules() if isinstance(m, torch.nn.Conv2d))
    conv_nonzero = sum(int((m.weight != 0).sum()) for m in dense.modules() if isinstance(m, torch.nn.Conv2d))
    assert stored_weights(dense) == param_counts(model, gates)[0]  # removed: what compact() drops
    assert stored_weights(sparse) == nonzero_counts(model, gates)[0] - conv_nonzero + conv  # conv layers stay dense
    assert stored_weights(sparse) < stored_weights(dense)
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(sparse(x), dense(x), rtol=1e-4, atol=1e-5)
