from snn_edu.bench import format_report, run_bench


def test_bench_measures_every_configuration():
    lines = []
    result = run_bench("mlp", steps=1, train_size=128, test_size=128, memory=False, log=lines.append)
    modes = [(r["switcher"], r["mode"]) for r in result["rows"]]
    assert modes == [("dense", "ours"), ("lite", "ours"), ("lite", "reference"),
                     ("paper", "ours"), ("paper", "reference")]
    for row in result["rows"]:
        assert row["tnn_step_ms"] > 0 and row["eval_batch_ms"] > 0 and row["epoch_s"] > 0
    for r in result["ratios"].values():
        assert set(r) == {"tnn_step", "snn_step", "epoch", "eval_speedup", "eval_speedup_10k",
                          "tnn_step_vs_dense"}
        assert r["eval_speedup"] > 1.0  # one gate per pass beats one per batch
    assert result["device"] == "cpu" and len(lines) == 5
    assert "ratios measured in this run" in format_report(result)
