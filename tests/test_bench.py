import math

import pytest

from snn_edu import machine
from snn_edu.bench import format_report, run_bench
from snn_edu.errors import ConfigError


def positive(value) -> bool:
    """A measured number: finite and above zero."""
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_bench_measures_every_configuration(monkeypatch):
    """Every mode and precision of one switcher (lite: the paper switcher runs the same code at
    about 10x the cost per step, 6 s per bf16 step on a 2-core CPU without AMX)."""
    monkeypatch.setattr(machine, "cpu_bf16_flags", lambda: ["avx512_bf16"])  # bf16 timed on any CI CPU
    lines = []
    result = run_bench("mlp", steps=1, train_size=128, test_size=128, memory=False, log=lines.append,
                       switchers=("lite",))
    modes = [(r["switcher"], r["mode"], r["precision"]) for r in result["rows"]]
    assert modes == [("dense", "ours", "fp32"),
                     ("lite", "ours", "fp32"), ("lite", "ours", "bf16"), ("lite", "reference", "fp32")]
    # timings are measured, never compared: how fast a step runs is the benchmark's finding, not a test's
    for row in result["rows"]:
        assert all(positive(row[key]) for key in ("tnn_step_ms", "eval_batch_ms", "epoch_s")), row
    assert set(result["ratios"]) == {"lite/fp32", "lite/bf16"}
    for r in result["ratios"].values():
        assert set(r) == {"tnn_step", "snn_step", "epoch", "eval_speedup", "eval_speedup_10k",
                          "tnn_step_vs_dense"}
        assert all(positive(value) for value in r.values()), r
    assert result["device"] == "cpu" and len(lines) == 4
    for switcher in ("lite",):  # bf16 gates against fp32 gates of the same weights, per layer
        layers = result["gate_agreement"][switcher]["bf16"]["eval"]
        assert set(layers) == {"fc1", "fc2", "fc3"}
        for a in layers.values():  # nan: two identical constant gates, no ranking to compare
            assert -1 <= a["spearman"] <= 1 or (math.isnan(a["spearman"]) and a["max_abs_diff"] == 0), a
            assert a["max_abs_diff"] >= 0
    report = format_report(result)
    assert "ratios against the fp32 reference, measured in this run" in report and "lite/bf16" in report
    assert "bf16 against fp32, eval mode" in report


def test_bench_times_bf16_once_where_it_falls_back_and_profiles_every_row(monkeypatch):
    monkeypatch.setattr(machine, "cpu_bf16_flags", lambda: [])
    lines = []
    result = run_bench("mlp", steps=1, train_size=128, test_size=64, memory=False, log=lines.append,
                       precisions=("fp32", "bf16"), switchers=("lite",), profile=True)
    assert result["precisions"] == ["fp32"] and result["gate_agreement"] == {"lite": {}}
    assert "bf16 not timed" in lines[0]
    dense, ours, reference = result["rows"]
    assert set(k for k in dense if k.endswith(("aten_ops", "cpu_ms", "launches"))) == {"tnn_aten_ops", "tnn_cpu_ms"}
    for row in (ours, reference):  # on the CPU: aten ops and CPU time per step of both phases, no launches
        assert all(positive(row[f"{p}_{k}"]) for p in ("tnn", "snn") for k in ("aten_ops", "cpu_ms")), row
        assert not any(k.endswith("launches") for k in row)
    # a switcher step runs many more aten ops than the dense TNN's (counts, not timings)
    assert ours["tnn_aten_ops"] > 5 * dense["tnn_aten_ops"]
    profiled = [line for line in format_report(result).splitlines() if "aten ops," in line]
    assert len(profiled) == 3 and not any("launches" in line for line in profiled)


def test_bench_rejects_a_training_set_no_larger_than_a_batch():
    with pytest.raises(ConfigError, match="--train-size above the batch size"):
        run_bench("mlp", steps=1, train_size=64, memory=False)


def test_bench_rejects_an_unknown_switcher():
    with pytest.raises(ConfigError, match="unknown switcher 'huge' for bench"):
        run_bench("mlp", steps=1, train_size=128, memory=False, switchers=("huge",))
