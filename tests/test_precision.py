"""Mixed precision of the switcher: bf16 gates against fp32 ones, bf16 and fp16 runs, fallbacks."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from snn_edu import machine
from snn_edu import precision as numeric
from snn_edu.cli import main
from snn_edu.errors import ConfigError
from snn_edu.study import Job, command
from snn_edu.switcher import SwitcherConv
from snn_edu.training import Trainer, TrainConfig

CPU = torch.device("cpu")


@pytest.fixture
def bf16_cpu(monkeypatch):
    """This CPU reported as having AVX512-BF16 (oneDNN computes bf16 on any x86-64 CPU; only the
    speed differs), so the bf16 path runs on every CI machine."""
    monkeypatch.setattr(machine, "cpu_bf16_flags", lambda: ["avx512_bf16"])


@pytest.fixture
def no_bf16_cpu(monkeypatch):
    monkeypatch.setattr(machine, "cpu_bf16_flags", lambda: [])


@pytest.fixture(scope="module")
def trained(mnist5k):
    """An MLP with lite switchers after two epochs of 16 steps (one per phase), in fp32."""
    from snn_edu.data import subset
    config = TrainConfig(switcher="lite", epochs=2, max_steps=16, init_std=None, lr=0.05, momentum=0.9)
    trainer = Trainer(config, subset(mnist5k[0], 512, seed=3), subset(mnist5k[1], 100, seed=3), progress=False)
    trainer.fit()
    return trainer.model


# Tolerances, stated: on the same weights a bf16 gate differs from the fp32 gate by at most 8 % of
# the largest gate, in eval mode (BatchNorm on running statistics) and in training mode (BatchNorm
# over the image, whose statistics come from bf16 maps too); the ranking of units holds (Spearman
# >= 0.95, ties at 0 included) and at most 5 % of a layer's units are pruned in one precision only.
# Observed (here and in bench): 0.7-5.6 %, Spearman 0.97-1.0, 0-10 of 784 units and 4 of 100.
TOLERANCE = 0.08


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_bf16_gates_are_close_to_fp32_gates(trained, mode):
    agreement = numeric.gate_agreement(trained, "bf16", mode)
    assert set(agreement) == {"fc1", "fc2", "fc3"}
    assert all(layer.precision == "fp32" for layer in trained.gated_layers().values())  # left as it was
    assert any(a["max_abs_diff"] > 0 for a in agreement.values())  # bf16 really computed something else
    for name, a in agreement.items():
        assert a["max_rel_diff"] <= TOLERANCE, (name, a)
        assert a["pruned_disagree"] <= 0.05 * a["units"], (name, a)
        # nan: both gates constant, e.g. a layer pruned whole (fc3 in eval mode, on this CPU), so no ranking
        assert a["spearman"] >= 0.95 or (math.isnan(a["spearman"]) and a["max_abs_diff"] == 0), (name, a)


def test_gate_agreement_uses_the_one_spearman():
    from snn_edu import attribution, stats
    assert numeric.spearman is stats.spearman is attribution.spearman
    a = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0])
    assert numeric.spearman(a, a ** 3 + 5) == pytest.approx(1.0)
    assert math.isnan(numeric.spearman(torch.ones(4), torch.ones(4)))  # two identical constant gates


def test_fast_conv_under_autocast_matches_the_stock_conv():
    torch.manual_seed(0)
    conv = SwitcherConv(4, 3, 3, padding=1)
    x = torch.randn(1, 4, 20, 12, requires_grad=True)
    grads = {}
    for fast in (True, False):
        conv.fast = fast
        conv.zero_grad()
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(x)
        assert y.dtype == torch.bfloat16
        (y.float() * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        assert x.grad.dtype == torch.float32 and conv.weight.grad.dtype == torch.float32
        grads[fast] = (y.float(), x.grad.clone(), conv.weight.grad.clone())
    for ours, stock in zip(grads[True], grads[False]):
        assert torch.allclose(ours, stock, rtol=0.02, atol=0.02 * stock.abs().max().item())
    reference = F.conv2d(x.detach(), conv.weight.detach(), padding=1)
    assert (grads[True][0] - reference).abs().max() <= 0.02 * reference.abs().max()


def test_smoke_run_in_bf16(bf16_cpu, tiny, tmp_path):
    config = TrainConfig(switcher="lite", epochs=2, max_steps=3, precision="bf16")
    trainer = Trainer(config, *tiny, out=tmp_path, progress=False)
    history = trainer.fit()
    metrics = trainer.metrics()
    assert metrics["precision"] == "bf16" and metrics["config"]["precision"] == "bf16"
    assert not metrics["diverged"] and len(history.epochs) == 2
    for record in history.epochs:  # the gates the package records and counts stay fp32
        assert all(g.dtype == torch.float32 for g in record["gates_eval"].values())
        assert all(g.dtype == torch.float32 for g in record["gates_train"].values())
    # the optimiser state and the BatchNorm statistics stay fp32
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert all(b.dtype == torch.float32 for name, b in trainer.model.named_buffers() if "running" in name)
    assert all(s["momentum_buffer"].dtype == torch.float32
               for s in trainer.optimizer.state.values() if s.get("momentum_buffer") is not None)
    # and the switcher did run in bf16: its gate differs from the fp32 gate of the same weights
    assert all(layer.precision == "bf16" for layer in trainer.model.gated_layers().values())
    assert any(a["max_abs_diff"] > 0 for a in numeric.gate_agreement(trainer.model, "bf16").values())


def test_lenet5_smoke_run_in_bf16(bf16_cpu, tiny):
    """The conv switchers (a kernel reducer before the U-Net) under autocast too."""
    config = TrainConfig(model="lenet5", switcher="lite", epochs=2, warmup_epochs=0, max_steps=2, precision="bf16")
    trainer = Trainer(config, *tiny, progress=False)
    trainer.fit()
    metrics = trainer.metrics()
    assert metrics["precision"] == "bf16" and not metrics["diverged"]
    assert len(metrics["pruned_architecture"].split("-")) == 4
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in trainer.model.parameters())


def test_cpu_without_bf16_falls_back_with_one_line(no_bf16_cpu, tiny, capsys):
    trainer = Trainer(TrainConfig(switcher="lite", precision="bf16"), *tiny, progress=False)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bf16" in err[0] and "fp32" in err[0] and "avx512_bf16" in err[0]
    assert trainer.precision == "fp32" and trainer.metrics()["precision"] == "fp32"
    assert numeric.resolve("auto", CPU) == "fp32"
    assert capsys.readouterr().err == ""  # auto picks quietly


def test_auto_and_fp16_resolution(bf16_cpu):
    lines = []
    assert numeric.resolve("auto", CPU, warn=lines.append) == "bf16"
    assert numeric.resolve("fp32", CPU, warn=lines.append) == "fp32"
    assert lines == []
    assert numeric.resolve("fp16", CPU, warn=lines.append) == "fp32"
    assert len(lines) == 1 and "CUDA" in lines[0]


def test_unknown_precision_is_one_clear_error():
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        TrainConfig(precision="fp8")


def test_fp16_loss_scaler_steps_and_resumes(monkeypatch, tiny, tmp_path):
    """The fp16 path (CUDA's) with its loss scaler, run on the CPU so that it is tested here."""
    import snn_edu.training as training
    monkeypatch.setattr(training.numeric, "resolve", lambda precision, device, warn=None: "fp16")
    config = TrainConfig(switcher="lite", epochs=1, max_steps=2, precision="fp16", init_std=None, lr=0.05)
    trainer = Trainer(config, *tiny, out=tmp_path, progress=False)
    assert trainer.scaler.is_enabled()
    before = [p.detach().clone() for p in trainer.model.tnn_parameters()]
    trainer.fit()
    assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.tnn_parameters()))
    scale = trainer.scaler.get_scale()
    resumed = Trainer(TrainConfig(**{**config.__dict__, "epochs": 2}), *tiny, out=tmp_path, progress=False)
    resumed.restore()
    assert resumed.scaler.get_scale() == scale and resumed.epoch == 1


def test_cli_train_in_bf16(bf16_cpu, tmp_path, capsys):
    code = main(["train", "--preset", "smoke", "--precision", "bf16", "--epochs", "1", "--max-steps", "1", "--no-progress",
                 "--out", str(tmp_path)])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["precision"] == "bf16"
    assert "switcher in bf16" in capsys.readouterr().out


def test_study_commands_carry_the_precision(tmp_path):
    job = Job("mlp", "al", 0)
    assert command(job, "cpu", tmp_path).endswith("--run mlp/al/seed0")
    assert command(job, "cpu", tmp_path, precision="bf16").endswith("--run mlp/al/seed0 --precision bf16")
