"""The switcher's peers: direct gates (no U-Net) and L0 hard-concrete gates, through the same layers."""
import json
import math

import pytest
import torch

from snn_edu.analysis import compact, pruned_architecture
from snn_edu.cli import main
from snn_edu.errors import ConfigError
from snn_edu.gates import (BC_THRESHOLD, KL_K1, KL_K2, KL_K3, LIMIT_HIGH, LIMIT_LOW, TEMPERATURE, DirectGate,
                           GroupNJGate, HardConcreteGate)
from snn_edu.layers import GatedConv2d
from snn_edu.models import build_model
from snn_edu.training import Trainer, TrainConfig, make_model


def lite(**kw):
    return TrainConfig(**{"switcher": "lite", "epochs": 2, "max_steps": 3, **kw})


def test_expected_l0_matches_the_closed_form():
    gate = HardConcreteGate((5,), group_size=300)
    log_alpha = torch.tensor([-6.0, -2.0, 0.0, 1.5, 4.0])
    gate.log_alpha.data.copy_(log_alpha)
    # P(z > 0) = 1 - Q(s <= 0) with Q the stretched concrete's CDF at 0: sigmoid(beta * logit(-low / (high - low)) - log alpha)
    at_zero = -LIMIT_LOW / (LIMIT_HIGH - LIMIT_LOW)
    q = torch.sigmoid(TEMPERATURE * math.log(at_zero / (1 - at_zero)) - log_alpha)
    torch.testing.assert_close(gate.expected_l0(), 300 * (1 - q).sum())
    # ... and what sampling gives: the share of non-zero draws
    gate.train()
    draws = torch.stack([gate() for _ in range(20_000)])
    torch.testing.assert_close((draws > 0).float().mean(0), 1 - q, atol=0.015, rtol=0)


def test_the_penalty_is_lambda_over_n_per_expected_weight():
    model = build_model("mlp", "neuron", "lite", gate="l0")
    layers = [layer.gate for layer in model.gated_layers().values()]
    assert [g.group_size for g in layers] == [300, 100, 10]
    expected = sum(lam / 4000 * g.expected_l0() for lam, g in zip((0.1, 0.5, 2.0), layers))
    torch.testing.assert_close(model.gate_penalty((0.1, 0.5, 2.0), 4000), expected)
    torch.testing.assert_close(model.gate_penalty((0.1,), 4000), sum(0.1 / 4000 * g.expected_l0() for g in layers))
    lenet = build_model("lenet5", "neuron", "lite", gate="l0")
    assert [layer.gate.group_size for layer in lenet.gated_layers().values()] == [25, 500, 500, 10]


def test_initial_drop_rates_follow_the_l0_authors():
    model = build_model("mlp", "neuron", "lite", gate="l0")
    means = [float(layer.gate.log_alpha.detach().mean()) for layer in model.gated_layers().values()]
    assert means[0] == pytest.approx(math.log(0.8 / 0.2), abs=0.01)  # input layer: drop rate 0.2
    assert means[1] == pytest.approx(0.0, abs=0.01) and means[2] == pytest.approx(0.0, abs=0.01)


def test_the_test_time_gate_is_deterministic(tiny):
    trainer = Trainer(lite(gate="l0", schedule="joint"), *tiny, progress=False)
    trainer.fit()
    first, second = trainer.evaluate(), trainer.evaluate()
    assert first["test_accuracy"] == second["test_accuracy"] and first["test_loss"] == second["test_loss"]
    for name, gate in first["gates"].items():
        assert torch.equal(gate, second["gates"][name])
        layer = trainer.model.gated_layers()[name].gate
        assert torch.equal(gate, layer.deterministic().detach().cpu())
    layer.train()
    assert not torch.equal(layer(), layer())  # training draws a fresh sample


def test_direct_gates_of_ones_are_the_dense_network(tiny):
    direct, dense = Trainer(lite(gate="direct"), *tiny, progress=False), Trainer(lite(schedule="dense"), *tiny,
                                                                                 progress=False)
    for a, b in zip(direct.model.tnn_parameters(), dense.model.tnn_parameters()):
        assert torch.equal(a, b)  # one seed, same weights: a direct gate draws no random numbers
    x, y = tiny[0].tensors[0][:64], tiny[0].tensors[1][:64]
    direct.enter_phase("tnn")  # gates frozen at relu(1) = 1
    dense.enter_phase("dense")
    for _ in range(3):
        assert direct.step(x, y) == dense.step(x, y)
    for a, b in zip(direct.model.tnn_parameters(), dense.model.tnn_parameters()):
        assert torch.equal(a, b)
    assert all(torch.equal(g.value, torch.ones_like(g.value))
               for g in (layer.gate for layer in direct.model.gated_layers().values()))


def test_direct_gates_learn_in_the_switcher_phase(tiny):
    trainer = Trainer(lite(gate="direct"), *tiny, progress=False)
    weights = [p.detach().clone() for p in trainer.model.tnn_parameters()]
    trainer.train_epoch(1)  # an SNN epoch in the release's MLP parity
    assert trainer.phase == "snn"
    assert all(torch.equal(a, b) for a, b in zip(weights, trainer.model.tnn_parameters()))
    assert any(not torch.equal(g.value, torch.ones_like(g.value))
               for g in (layer.gate for layer in trainer.model.gated_layers().values()))


@pytest.mark.parametrize("gate", ["direct", "l0", "bc"])
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_compact_equals_the_gated_model(gate, model):
    net = make_model(TrainConfig(model=model, switcher="lite", gate=gate)).eval()
    generator = torch.Generator().manual_seed(0)
    for layer in net.gated_layers().values():
        g = layer.gate
        param = {DirectGate: "value", HardConcreteGate: "log_alpha", GroupNJGate: "z_logvar"}[type(g)]
        with torch.no_grad():  # about a third of the units pruned (gate 0), the rest weakened or strengthened
            scale = {"direct": 1.0, "l0": 4.0, "bc": 2.0}[gate]
            getattr(g, param).copy_(torch.randn(g.z_mu.shape if gate == "bc" else getattr(g, param).shape,
                                                generator=generator) * scale + (-3.5 if gate == "bc" else 0.0))
    arch = pruned_architecture(net)
    assert arch != "-".join(str(n) for n in ([784, 300, 100] if model == "mlp" else [20, 50, 800, 500]))
    small = compact(net)
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(small(x), net(x), rtol=1e-4, atol=1e-5)


def test_l0_resume_draws_the_same_gates(tiny, tmp_path):
    straight = Trainer(lite(gate="l0", schedule="joint", epochs=3), *tiny, progress=False)
    straight.fit()
    Trainer(lite(gate="l0", schedule="joint", epochs=1), *tiny, out=tmp_path, progress=False).fit()
    resumed = Trainer(lite(gate="l0", schedule="joint", epochs=3), *tiny, out=tmp_path, progress=False)
    resumed.fit(resume=True)
    assert resumed.history.column("test_accuracy") == straight.history.column("test_accuracy")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


@pytest.mark.parametrize("gate", ["direct", "l0", "bc"])
def test_a_smoke_run_of_each_gate_through_train(gate, tmp_path, capsys):
    assert main(["train", "--preset", "smoke", "--gate", gate, "--l0-lambda", "1", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    joint = gate in ("l0", "bc")
    assert metrics["config"]["gate"] == gate and metrics["epochs"] == 3
    assert metrics["config"]["schedule"] == ("joint" if joint else "alternate")
    assert metrics["phases"] == (["joint"] * 3 if joint else ["tnn", "snn", "tnn"])
    name = {"l0": "L0 gates (lambda 1.0 / N)", "direct": "direct gates", "bc": "BC-GNJ gates"}[gate]
    assert name in capsys.readouterr().out


def test_adam_is_an_optimizer_choice(tiny):
    trainer = Trainer(lite(optimizer="adam", lr=0.01), *tiny, progress=False)
    assert isinstance(trainer.optimizer, torch.optim.Adam)
    trainer.fit()
    assert trainer.history.epochs[-1]["lr"] == 0.01


def test_bad_gate_flags_are_one_line(capsys):
    assert main(["train", "--preset", "smoke", "--gate", "l0", "--l0-lambda", "-1", "--out", "/tmp/never"]) == 2
    assert capsys.readouterr().err.strip() == "error: --l0-lambda must be one or more numbers >= 0, got (-1.0,)"


def test_a_smoke_study_of_the_peers_through_reproduce(tmp_path, capsys):
    out = tmp_path / "study"
    args = ["reproduce", "--level", "smoke", "--models", "mlp", "--variants", "direct", "l0-0.1", "--seeds", "1",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    for kind, gate in (("direct", "direct"), ("l0-0.1", "l0")):
        metrics = json.loads((out / "mlp" / kind / "seed0" / "metrics.json").read_text())
        assert metrics["config"]["gate"] == gate and f"--run mlp/{kind}/seed0" in metrics["command"]
    config = json.loads((out / "mlp" / "l0-0.1" / "seed0" / "metrics.json").read_text())["config"]
    assert config["l0_lambda"] == [0.1] and config["optimizer"] == "adam" and config["schedule"] == "joint"
    assert "0 already finished" in capsys.readouterr().out


def test_a_wrong_number_of_lambdas_stops_before_training(tmp_path, capsys):
    assert main(["train", "--preset", "smoke", "--gate", "l0", "--l0-lambda", "1", "2", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == "error: --l0-lambda takes one value or one per gated layer (3), got 2"
    assert not (tmp_path / "r").exists()


def test_bc_kl_matches_the_closed_forms():
    gate = GroupNJGate((4,), (4, 3))
    with torch.no_grad():
        gate.z_mu.copy_(torch.tensor([1.0, 0.5, -2.0, 0.1]))
        gate.z_logvar.copy_(torch.tensor([-9.0, -6.0, 2.0, 0.0]))
        gate.weight_logvar.copy_(torch.linspace(-6, 1, 12).view(4, 3))
    weight = torch.linspace(-1, 1, 12).view(4, 3)
    sigma = (0.5 * gate.weight_logvar).exp()
    exact_w = torch.distributions.kl_divergence(torch.distributions.Normal(weight, sigma),
                                                torch.distributions.Normal(0.0, 1.0)).sum()
    log_alpha = gate.z_logvar - torch.log(gate.z_mu ** 2)
    # Molchanov et al.: KL ~ k1 - k1 sigmoid(k2 + k3 log alpha) + 0.5 log(1 + 1 / alpha)
    approx_z = (KL_K1 - KL_K1 * torch.sigmoid(KL_K2 + KL_K3 * log_alpha) + 0.5 * torch.log1p(torch.exp(-log_alpha))).sum()
    torch.testing.assert_close(gate.kl(weight), exact_w + approx_z)
    torch.testing.assert_close(gate.log_alpha(), log_alpha)
    assert gate.deterministic().tolist() == [1.0, 0.5, 0.0, 0.0]  # log alpha: -9, -4.6, 0.61, 4.6 against -3
    assert BC_THRESHOLD == -3.0
    torch.testing.assert_close(gate.penalty(weight, 123.0), gate.kl(weight))  # lambda plays no part


@pytest.mark.parametrize("kind", ["switcher", "direct", "l0", "bc"])
def test_every_gate_answers_the_one_interface(kind):
    """Layers and models ask a gate what it reads, whether it samples the output, its penalty
    and its step hook; none of them asks for the gate's class."""
    from snn_edu.gates import Gate

    model = build_model("mlp", "neuron", "lite", gate=kind)
    for layer in model.gated_layers().values():
        gate = layer.gate
        assert isinstance(gate, Gate)
        assert gate.reads_weights == (kind == "switcher") and gate.samples_output == (kind == "bc")
        term = gate.penalty(layer.weight, 0.1)
        assert (term is None) == (kind in ("switcher", "direct"))
        gate.after_step()
    penalty = model.gate_penalty((0.1,), 4000)
    assert (penalty is None) == (kind in ("switcher", "direct"))
    if penalty is not None:
        assert penalty.dim() == 0 and float(penalty.detach()) > 0


def test_a_model_saved_under_the_old_switcher_name_loads_into_gate(tmp_path):
    """Run folders written before the gate interface store each layer's gate under `switcher.`;
    they load unchanged (the shipped model, saved again under the old names)."""
    state = torch.load("results/cpu/lenet5/al/seed0/model.pt", weights_only=True)
    assert any(".gate." in k for k in state)
    torch.save({k.replace(".gate.", ".switcher."): v for k, v in state.items()}, tmp_path / "model.pt")
    old = torch.load(tmp_path / "model.pt", weights_only=True)
    model = build_model("lenet5", "neuron", "lite")  # results/cpu's switcher
    model.load_state_dict(old)
    key = next(k for k in old if ".switcher." in k and old[k].dtype.is_floating_point)
    torch.testing.assert_close(model.state_dict()[key.replace(".switcher.", ".gate.")], old[key])


@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_bc_training_output_centres_on_the_test_time_output(layer):
    """With the variances near zero, a training-mode draw equals the deterministic output; with
    them large, draws differ from one another and centre on it."""
    torch.manual_seed(0)
    net = make_model(TrainConfig(model="lenet5", switcher="lite", gate="bc"))
    module = net.conv2 if layer == "conv" else net.fc1
    x = torch.rand(4, 20, 12, 12) if layer == "conv" else torch.rand(4, 800)
    module.eval()
    with torch.no_grad():
        module.gate.z_logvar.fill_(-30.0)
        module.gate.weight_logvar.fill_(-30.0)
        expected = module(x)
        module.train()
        torch.testing.assert_close(module(x), expected, rtol=1e-2, atol=1e-3)
        module.gate.z_logvar.fill_(0.0)
        draws = torch.stack([module(x) for _ in range(200)])
        assert not torch.allclose(draws[0], draws[1])
        torch.testing.assert_close(draws.mean(0), expected, rtol=0, atol=0.25 * float(draws.std(0).max()))


def test_bc_gates_units_only():
    with pytest.raises(ConfigError, match="BC-GNJ gates units"):
        GatedConv2d(1, 20, 5, strategy="connection", switcher="lite", gate="bc")


def test_every_registered_gate_kind_builds_trains_and_describes_itself():
    from snn_edu.gates import GATE_KINDS, Gate

    for name, kind in GATE_KINDS.items():
        model = build_model("mlp", gate=name, switcher="lite")
        gate = model.fc1.gate
        assert isinstance(gate, Gate) and gate.reads_weights == kind.has_switcher, name
        model.train()
        model(torch.randn(2, 1, 28, 28)).sum().backward()
        assert kind.recipe_words({"switcher": "lite", "l0_lambda": (0.1,)}), name
        assert ("BatchNorm" in kind.reported_gate("running")) == kind.has_switcher


def test_the_readme_lists_every_registered_gate_kind():
    import re
    from pathlib import Path

    from snn_edu.gates import GATES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--gate` |"))
    assert re.findall(r"`(\w+)`", row.split("|")[2]) == list(GATES)
