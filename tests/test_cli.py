import json
import subprocess
import sys

import pytest

from snn_edu.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "snn_edu", *args], capture_output=True, text=True, timeout=600)


SMOKE = ["--switcher", "lite", "--data", "mnist5k", "--epochs", "2", "--max-steps", "2", "--test-size", "100",
         "--no-progress"]


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
@pytest.mark.parametrize("strategy", ["neuron", "connection"])
def test_train_end_to_end_on_mnist5k(model, strategy, tmp_path, capsys):
    extra = ["--warmup-epochs", "1"] if model == "lenet5" else []
    code = main(["train", "--model", model, "--strategy", strategy, *SMOKE, *extra, "--out", str(tmp_path)])
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    n_layers = 3 if model == "mlp" else 4
    assert metrics["epochs"] == 2 and len(metrics["seconds_per_epoch"]) == 2
    assert 0.0 <= metrics["test_accuracy"] <= 100.0
    assert len(metrics["pruned_architecture"].split("-")) == n_layers
    assert 0.0 <= metrics["params_removed_pct"] <= 100.0
    assert len(metrics["gate_categories"]) == n_layers
    for counts in metrics["gate_categories"].values():
        assert set(counts) == {"pruned", "weakened", "strengthened"}
    assert metrics["diverged"] is False
    assert (tmp_path / "checkpoint.pt").exists() and (tmp_path / "history.pt").exists()
    out = capsys.readouterr().out
    assert "test accuracy" in out and metrics["pruned_architecture"] in out


def test_dense_schedule_and_resume(tmp_path):
    args = ["train", "--schedule", "dense", *SMOKE, "--out", str(tmp_path)]
    assert main(args) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["pruned_architecture"] == "784-300-100"
    assert main([*args, "--epochs", "3", "--resume"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 3


def test_unknown_model_is_rejected():
    result = run_cli("train", "--model", "resnet", "--out", "x")
    assert result.returncode == 2
    assert "invalid choice: 'resnet'" in result.stderr


def test_missing_idx_folder_is_one_clear_line(tmp_path):
    result = run_cli("train", "--data", f"idx:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_corrupted_checkpoint_on_resume(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "history.pt").write_bytes(b"nor this")
    result = run_cli("train", *SMOKE, "--out", str(tmp_path), "--resume")
    assert result.returncode == 2
    assert "corrupted" in result.stderr and result.stderr.count("\n") == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_mnist_without_network_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SNN_EDU_DATA", str(tmp_path))
    result = run_cli("train", "--data", "mnist", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "data download mnist" in result.stderr and result.stderr.count("\n") == 1
