"""--compile: the switchers under torch.compile, with inductor's cache in a folder of our choosing."""
import copy
import shutil

import pytest
import torch
import torch.nn.functional as F

from snn_edu import compiled, training
from snn_edu.errors import ConfigError
from snn_edu.models import build_model
from snn_edu.switcher import Switcher, SwitcherSpec
from snn_edu.training import Trainer, TrainConfig


def test_compile_switchers_in_place_keeps_the_state_dict(monkeypatch, tmp_path):
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path))
    model = build_model("mlp", "neuron", "lite")
    keys = list(model.state_dict())
    assert compiled.compile_switchers(model, torch.device("cpu")) == 3
    assert list(model.state_dict()) == keys  # checkpoints stay loadable by an uncompiled model
    assert all(m._compiled_call_impl is not None for m in model.modules() if isinstance(m, Switcher))


def test_cache_defaults_to_a_folder_that_outlives_tmp(monkeypatch, tmp_path):
    monkeypatch.delenv(compiled.CACHE_ENV, raising=False)
    assert compiled.cache_dir().parts[-3:] == (".cache", "snn_edu", "inductor")
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)  # torch sets its /tmp default here
    assert compiled.cache_dir().parts[-3:] == (".cache", "snn_edu", "inductor")
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path))  # the user's choice wins
    assert compiled.cache_dir() == tmp_path


def test_missing_cpp_compiler_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="--compile needs a C\\+\\+ compiler"):
        compiled.compile_switchers(build_model("mlp", "neuron", "lite"), torch.device("cpu"))


def test_compile_in_the_config_compiles_the_trainers_switchers(tiny, monkeypatch):
    """compile=True reaches compile_switchers with the trainer's model (the compile itself is tested below)."""
    calls = []
    monkeypatch.setattr(training, "compile_switchers", lambda model, device: calls.append((model, device)))
    trainer = Trainer(TrainConfig(switcher="lite", compile=True), *tiny, progress=False)
    assert calls == [(trainer.model, trainer.device)]
    Trainer(TrainConfig(switcher="lite"), *tiny, progress=False)
    assert len(calls) == 1


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="inductor needs a C++ compiler on the CPU")
def test_compiled_switcher_matches_the_eager_switcher(tmp_path, monkeypatch):
    """A real inductor compile (cold cache), kept cheap: one gated layer whose switcher is a
    one-pool U-Net of 2 and 4 channels. One training step (forward and backward, BatchNorm on
    the image) and then the evaluation gate (no grad, BatchNorm folded) against an eager copy
    of the same weights. Under a minute on 2 cores with a cold cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(compiled.CACHE_ENV, str(cache))
    torch.manual_seed(0)
    eager = build_model("mlp", "neuron", SwitcherSpec((2, 4), row_channels=2), sizes=(16, 4), init_std=None)
    model = copy.deepcopy(eager)
    assert compiled.compile_switchers(model, torch.device("cpu")) == 1
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    close = dict(rtol=1e-4, atol=1e-5)
    losses = []
    for m in (model, eager):
        m.train()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], **close)
    params = dict(eager.named_parameters())
    for name, p in model.named_parameters():  # the TNN weight and every switcher parameter
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, params[name].grad, **close, msg=name)
    buffers = dict(eager.named_buffers())
    for name, b in model.named_buffers():  # BatchNorm running statistics, updated in the step
        torch.testing.assert_close(b, buffers[name], **close, msg=name)
    gate, eager_gate = model.fc1.gate_in_mode("eval"), eager.fc1.gate_in_mode("eval")
    assert gate.shape == (16,) and bool((gate >= 0).all()) and bool((gate > 0).any())  # not a trivial gate
    torch.testing.assert_close(gate, eager_gate, **close)
    assert any(cache.iterdir())  # inductor wrote its kernels where we said
