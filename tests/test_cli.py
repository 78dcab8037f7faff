import json

import pytest

from snn_edu.cli import main
from snn_edu.runs import load_run


def run_main(capsys, *args) -> tuple[int, str]:
    """The command as a user types it, run in this process (no interpreter start): its exit
    code and stderr (tests/test_study.py and tests/test_saving.py start real processes)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's refusals
        code = exc.code
    return code, capsys.readouterr().err


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
    assert sorted(p.name for p in (tmp_path / "epochs").iterdir()) == ["0000.pt", "0001.pt"]
    run = load_run(tmp_path)  # the folder reads back: history from the epoch records, weights from the checkpoint
    assert run.history.column("test_accuracy") == metrics["test_accuracy_per_epoch"]
    assert run.model is not None
    out = capsys.readouterr().out
    assert "test accuracy" in out and metrics["pruned_architecture"] in out


def test_dense_schedule_and_resume(tmp_path):
    args = ["train", "--schedule", "dense", *SMOKE, "--out", str(tmp_path)]
    assert main(args) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["pruned_architecture"] == "784-300-100"
    assert main([*args, "--epochs", "3", "--resume"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 3


def test_unknown_model_is_rejected(capsys):
    code, err = run_main(capsys, "train", "--model", "resnet", "--out", "x")
    assert code == 2
    assert "invalid choice: 'resnet'" in err


def test_missing_idx_folder_is_one_clear_line(tmp_path, capsys):
    code, err = run_main(capsys, "train", "--data", f"idx:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "nowhere" in err and "Traceback" not in err


def test_corrupted_checkpoint_on_resume(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "history.pt").write_bytes(b"nor this")
    code, err = run_main(capsys, "train", *SMOKE, "--out", str(tmp_path), "--resume")
    assert code == 2
    assert "corrupted" in err and err.count("\n") == 1
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"not a checkpoint"


def test_mnist_without_network_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNN_EDU_DATA", str(tmp_path))
    code, err = run_main(capsys, "train", "--data", "mnist", "--out", str(tmp_path / "out"))
    assert code == 2
    assert "data download mnist" in err and err.count("\n") == 1


@pytest.mark.parametrize("flags, message", [
    (["--lr", "-1"], "--lr must be a positive number, got -1.0"),
    (["--lr", "nan"], "--lr must be a positive number, got nan"),
    (["--momentum", "1.5"], "--momentum must be a number in [0, 1), got 1.5"),
    (["--max-steps", "0"], "--max-steps must be a whole number >= 1, got 0"),
    (["--epochs", "0"], "--epochs must be a whole number >= 1, got 0"),
    (["--clip-grad-norm", "0"], "--clip-grad-norm must be a positive number, got 0.0"),
    (["--seed", "-1"], "--seed must be a whole number >= 0, got -1"),
    (["--train-size", "999999"], "--train-size 999999 is larger than mnist5k's 4,000 training digits"),
    (["--test-size", "5000"], "--test-size 5000 is larger than mnist5k's 1,000 test digits"),
])
def test_bad_train_flags_are_one_line_before_any_work(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "smoke", *flags, "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {message}"
    assert not out.exists()  # nothing was written


@pytest.mark.parametrize("args, flag", [
    (["train", "--init", "-3", "--out", "x"], "--init"),
    (["bench", "--steps", "0"], "--steps"),
    (["reproduce", "--jobs", "0"], "--jobs"),
    (["reproduce", "--threads", "-2"], "--threads"),
    (["reproduce", "--seeds", "0"], "--seeds"),  # (--jobs and --seeds are also checked by run_study and plan)
    (["ablation", "--seeds", "0"], "--seeds"),
    (["book", "--timeout", "0"], "--timeout"),
])
def test_bad_counts_are_refused_by_the_parser(args, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err


def test_bench_train_size_beyond_the_data_is_one_line(capsys):
    assert main(["bench", "--train-size", "5000", "--no-memory"]) == 2
    assert capsys.readouterr().err.strip() == "error: --train-size 5000 is larger than mnist5k's 4,000 training digits"
