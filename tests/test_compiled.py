"""--compile: the switchers under torch.compile, with inductor's cache in a folder of our choosing."""
import shutil

import pytest
import torch

from snn_edu import compiled
from snn_edu.errors import ConfigError
from snn_edu.models import build_model
from snn_edu.switcher import Switcher
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


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="inductor needs a C++ compiler on the CPU")
def test_compiled_run_matches_the_eager_run(tiny, tmp_path, monkeypatch):
    """A real compiled training run (cold cache: about a minute and a half on 2 cores): both phases,
    the evaluation gate and the training-mode gate, against the same run without --compile."""
    monkeypatch.setenv(compiled.CACHE_ENV, str(tmp_path / "cache"))
    runs = {}
    for compile_ in (True, False):
        config = TrainConfig(switcher="lite", epochs=2, max_steps=2, init_std=None, lr=0.05, compile=compile_)
        trainer = Trainer(config, *tiny, progress=False)
        trainer.fit()
        runs[compile_] = trainer
    assert any((tmp_path / "cache").iterdir())  # inductor wrote its kernels where we said
    compiled_m, eager_m = runs[True].metrics(), runs[False].metrics()
    assert compiled_m["config"]["compile"] and not eager_m["config"]["compile"]
    assert compiled_m["test_accuracy"] == pytest.approx(eager_m["test_accuracy"], abs=1.0)
    for name, gate in runs[False].history.epochs[-1]["gates_eval"].items():
        other = runs[True].history.epochs[-1]["gates_eval"][name]
        assert torch.allclose(gate, other, atol=1e-3 * max(1.0, gate.abs().max().item())), name
