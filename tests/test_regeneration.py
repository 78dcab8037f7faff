"""One study trained on two kinds of CPU: the comparison reads both sides' run folders, and
docs/regeneration.md is generated from the shipped comparison."""
import json
from pathlib import Path

from snn_edu.cli import main
from snn_edu.regeneration import collect, regeneration_page

ROOT = Path(__file__).resolve().parents[1]


def _run(study: Path, key: str, accs: list[float], cpu: str, command: str | None = None):
    folder = study / key
    folder.mkdir(parents=True)
    phases = ["warmup"] + ["tnn", "snn"] * ((len(accs) - 1) // 2) + ["tnn"] * ((len(accs) - 1) % 2)
    (folder / "metrics.json").write_text(json.dumps({
        "test_accuracy_per_epoch": accs, "test_accuracy": accs[-1], "phases": phases[:len(accs)],
        "params_removed_pct": 50.0, "pruned_architecture": "10-20", "config": {"model": key.split("/")[0], "seed": 0},
        "command": command or f"python -m snn_edu reproduce --run {key}",
        "provenance": {"cpu": cpu, "cpu_simd_flags": [], "threads": 1, "git_commit": "abc1234"}}))


def test_a_run_that_collapses_on_one_cpu_only_is_named_with_the_epoch_where_the_two_part(tmp_path):
    shipped, again = tmp_path / "first", tmp_path / "again"
    _run(shipped, "lenet5/al/seed0", [66.2, 67.5, 90.0], "AMD EPYC")
    _run(again, "lenet5/al/seed0", [66.2, 10.0, 10.0], "Intel Xeon")
    _run(shipped, "lenet5/dense/seed0", [97.0], "AMD EPYC")
    _run(again, "lenet5/dense/seed0", [97.0], "Intel Xeon")
    _run(shipped, "lenet5/sl/seed0", [90.0], "AMD EPYC")
    _run(again, "lenet5/sl/seed0", [91.0], "Intel Xeon", command="another command")  # not the same run
    data = collect(shipped, again, "the old study")
    assert set(data["runs"]) == {"lenet5/al/seed0", "lenet5/dense/seed0"}
    path = tmp_path / "cc.json"
    path.write_text(json.dumps(data))
    page = regeneration_page(path)
    assert "2 training runs finished on both machines; 1 of them match" in page
    assert ("- `lenet5/al/seed0`: 90.0 % first, 10.0 % regenerated; they part at epoch 1 (TNN phase: 67.5 "
            "against 10.0 %); the regenerated run collapsed.") in page
    assert "The first study (the old study) was trained on AMD EPYC" in page and "run again on Intel Xeon" in page
    assert f"which made {again}:" in page


def test_the_regeneration_page_is_generated_from_the_shipped_comparison(capsys):
    assert main(["regeneration", "--results", str(ROOT / "results" / "cross-cpu" / "cpu.json")]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "regeneration.md").read_text()


def test_one_seed_on_two_machines_is_drawn_and_told_seed_by_seed(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    from snn_edu import plots
    from snn_edu.regeneration import cpu_name, machine_names, two_machines, two_machines_sentence

    first, again = tmp_path / "first", tmp_path / "again"
    for seed, (a, b) in enumerate([([66.2, 67.5, 95.8], [66.2, 10.0, 10.0]), ([70.0, 80.0, 94.0], [70.0, 80.0, 94.0])]):
        _run(first, f"lenet5/al/seed{seed}", a, "AMD EPYC")
        _run(again, f"lenet5/al/seed{seed}", b, "Intel(R) Xeon(R) Processor")
    path = tmp_path / "cc.json"
    path.write_text(json.dumps(collect(first, again)))
    pairs = two_machines(path, "lenet5", "al")
    assert list(pairs) == [0, 1] and two_machines(path, "lenet5", "sl") == {}
    names = machine_names(pairs)
    assert names == ("AMD EPYC", "Intel Xeon") and cpu_name(pairs[0]["regenerated"]) == "Intel Xeon"
    sentence = two_machines_sentence(pairs)
    assert sentence.startswith("seed 0: 95.8 % on the AMD EPYC and 10.0 % on the Intel Xeon (the two runs part at "
                               "epoch 1, TNN phase: 67.5 against 10.0 %), collapsed on the Intel Xeon; seed 1: 94.0 % "
                               "on the AMD EPYC and 94.0 % on the Intel Xeon (the two runs match in every epoch).")
    assert "the largest gap between one seed's two runs is 85.80 points" in sentence
    fig, ax = plots.new_figure()
    plots.plot_two_machines(ax, pairs, names)
    assert [line.get_label() for line in ax.get_lines()] == [
        "seed 0, AMD EPYC", "seed 0, Intel Xeon", "seed 1, AMD EPYC", "seed 1, Intel Xeon"]
    assert list(ax.get_lines()[1].get_ydata()) == [66.2, 10.0, 10.0] and ax.get_lines()[1].get_linestyle() == "--"
