"""Joint switchers (snn_edu.joint): one switcher reads all FC layers, one all conv layers."""
import pytest
import torch

from snn_edu.analysis import compact
from snn_edu.cli import main
from snn_edu.errors import ConfigError
from snn_edu.joint import FEATURES, JointSwitcher, joint_images
from snn_edu.training import Trainer, TrainConfig, make_model


def joint(model, **kw):
    return TrainConfig(**{"model": model, "switcher": "lite", "switcher_scope": "joint", "epochs": 2, "max_steps": 3,
                          **kw})


def test_the_fc_image_stacks_each_layer_padded_with_zeros_and_the_conv_image_has_a_row_per_filter():
    mlp = make_model(joint("mlp"))
    image = joint_images(mlp)["fc"]
    assert image.shape == (3, 784, 300)
    for k, layer in enumerate(mlp.gated_layers().values()):
        h, w = layer.weight.shape
        assert torch.equal(image[k, :h, :w], layer.weight.detach())
        assert not image[k, h:].any() and not image[k, :, w:].any()
    images = joint_images(make_model(joint("lenet5")))
    assert images["fc"].shape == (2, 800, 500) and images["conv"].shape == (20 + 50, FEATURES)


@pytest.mark.parametrize("name, units", [("mlp", [784, 300, 100]), ("lenet5", [20, 50, 800, 500])])
def test_each_layer_gets_its_units_gates_and_compact_keeps_the_outputs(name, units):
    model = make_model(joint(name))
    layers = model.gated_layers().values()
    shared = {id(layer.gate.joint) for layer in layers}
    assert len(shared) == (2 if name == "lenet5" else 1)  # one joint switcher per family
    assert len(model.gate_parameters()) == len({id(p) for p in model.gate_parameters()})
    x = torch.rand(16, 1, 28, 28)
    model.train()
    model(x).logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.gate_parameters())
    assert [layer.weight.grad is not None for layer in layers] == [True] * len(units)
    model.eval()
    gates = model.gates("eval")
    assert [g.shape[0] for g in gates.values()] == units
    for layer in layers:  # some units pruned, some kept, so compact() has work to do
        layer.set_fixed_gate((torch.arange(layer.current_gate().shape[0]) % 3 != 0).float() * 1.5)
    assert torch.allclose(compact(model)(x), model(x), atol=1e-5)


def test_the_joint_switcher_runs_once_per_state_of_its_inputs(monkeypatch):
    model = make_model(joint("mlp"))
    calls = []
    original = JointSwitcher.gates

    def counting(self):
        before = self._cache
        result = original(self)
        calls.append(self._cache is not before)
        return result

    monkeypatch.setattr(JointSwitcher, "gates", counting)
    x = torch.rand(8, 1, 28, 28)
    model.train()
    model(x).sum().backward()
    assert calls == [True, False, False]  # fc1 computed it, fc2 and fc3 reused it
    with torch.no_grad():
        model.fc2.weight.add_(0.01)  # any weight it reads changes: computed again
    model(x)
    assert calls[3:] == [True, False, False]


def test_joint_is_refused_where_it_does_not_apply():
    for kw in ({"gate": "direct"}, {"strategy": "connection"}, {"switcher_input": "noise"}):
        with pytest.raises(ConfigError, match="--switcher-scope joint needs"):
            joint("mlp", **kw)
    with pytest.raises(ConfigError, match="unknown --switcher-scope"):
        TrainConfig(switcher_scope="all")


def test_resume_is_exact(tiny, tmp_path):
    straight = Trainer(joint("lenet5", warmup_epochs=0, max_steps=2), *tiny, progress=False)
    straight.fit()
    Trainer(joint("lenet5", epochs=1, warmup_epochs=0, max_steps=2), *tiny, out=tmp_path, progress=False).fit()
    resumed = Trainer(joint("lenet5", warmup_epochs=0, max_steps=2), *tiny, out=tmp_path, progress=False)
    history = resumed.fit(resume=True)
    assert history.column("test_accuracy") == straight.history.column("test_accuracy")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_train_and_reproduce_run_the_joint_switcher(tmp_path, capsys):
    assert main(["train", "--preset", "smoke", "--switcher-scope", "joint", "--epochs", "1", "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 0
    assert '"switcher_scope": "joint"' in (tmp_path / "run" / "metrics.json").read_text()
    out = tmp_path / "study"
    assert main(["reproduce", "--level", "smoke", "--models", "mlp", "--variants", "al", "joint", "--seeds", "1",
                 "--out", str(out), "--no-progress"]) == 0
    rows = (out / "frontier.csv").read_text().splitlines()
    assert any(r.startswith("mlp,natural,joint,") for r in rows) and any(r.startswith("mlp,joint,joint,") for r in rows)


def test_the_readme_states_the_joint_switchers_features_per_filter_as_the_code_has_them():
    from pathlib import Path

    from snn_edu.joint import FEATURES

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert f"the package uses {FEATURES} (`snn_edu.joint.FEATURES`)" in readme
