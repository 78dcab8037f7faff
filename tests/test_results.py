"""The shipped results in results/cpu are complete, traceable, small, consistent with themselves,
and the page generated from them (docs/ablation.md) is current."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snn_edu import frontier
from snn_edu.variants import PEERS
from snn_edu.analysis import pruned_architecture
from snn_edu.ablationdoc import report_markdown
from snn_edu.runs import load_run, read_manifest
from snn_edu.study import POINTS, Job, finished_jobs
from snn_edu.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "cpu"


@pytest.fixture(scope="module")
def rows():
    return frontier.read_csv(RESULTS / "frontier.csv")


def test_frontier_covers_both_models_every_criterion_and_target(rows):
    assert (RESULTS / "frontier.csv").read_text().splitlines()[0] == ",".join(frontier.COLUMNS)
    for model in ("mlp", "lenet5"):
        mine = [r for r in rows if r["model"] == model]
        assert len({r["seed"] for r in mine}) >= 3
        assert {(r["criterion"], r["source"]) for r in mine} == {
            *frontier.CURVES, ("natural", "switcher"), ("direct", "direct"), *(("natural", p) for p in PEERS),
            ("joint", "joint"), ("natural", "joint")}
        assert set(frontier.settings_for("cpu", model).targets) <= {r["target_removed_pct"] for r in mine}
        assert {r["finetune_epochs"] for r in mine} == {0, 2}
    vgg = [r for r in rows if r["model"] == "vgg-cov2"]  # its cheaper cpu-level frontier (frontier.CHEAPER)
    assert {r["seed"] for r in vgg} == {0, 1, 2} and {r["finetune_epochs"] for r in vgg} == {0}
    assert {r["target_removed_pct"] for r in vgg} == {None, *frontier.settings_for("cpu", "vgg-cov2").targets}
    assert all(0 <= r["test_accuracy"] <= 100 and 0 <= r["params_removed_pct"] <= 100 for r in rows)


def test_frontier_csv_is_the_frontier_jobs_rows(rows):
    jobs = [j for j in finished_jobs(RESULTS) if j.kind in POINTS]
    from_jobs = [r for j in jobs for r in json.loads((j.folder(RESULTS) / "metrics.json").read_text())["rows"]]
    assert len(from_jobs) == len(rows)
    for a, b in zip(from_jobs, rows):
        assert a["test_accuracy"] == b["test_accuracy"] and a["params_removed_pct"] == b["params_removed_pct"]


def test_the_switcher_criterion_at_zero_is_the_trained_model(rows):
    for r in rows:
        if r["criterion"] == "natural" and r["source"] == "switcher":
            (zero,) = [z for z in rows if (z["model"], z["seed"], z["criterion"], z["target_removed_pct"],
                                           z["finetune_epochs"]) == (r["model"], r["seed"], "switcher", 0, 0)]
            assert zero["params_removed_pct"] == r["params_removed_pct"]
            assert abs(zero["test_accuracy"] - r["test_accuracy"]) <= 0.1  # folding rounds; one digit of 1,000


def test_each_peer_point_as_trained_is_its_run(rows):
    """A peer run's natural point (gates folded, units at 0 removed) scores what the run recorded."""
    for r in rows:
        if r["criterion"] == "natural" and r["source"] in PEERS and r["finetune_epochs"] == 0:
            metrics = json.loads((RESULTS / r["model"] / r["source"] / f"seed{r['seed']}" / "metrics.json").read_text())
            assert r["params_removed_pct"] == pytest.approx(metrics["params_removed_pct"])
            assert abs(r["test_accuracy"] - metrics["test_accuracy"]) <= 0.1  # folding rounds; one digit of 1,000


@pytest.mark.parametrize("study", ["cpu", "cpu-fashion5k"])
def test_every_run_records_its_config_command_and_machine(study):
    results = ROOT / "results" / study
    manifest = read_manifest(results)
    assert manifest["complete"] and not manifest["missing"] and manifest["level"] == "cpu"
    for key in ("snn_edu", "git_commit", "torch", "cpu", "threads_per_job", "date", "wall_seconds"):
        assert manifest[key] not in (None, "", []), key
    for job_id in manifest["plan"]:
        job = Job.parse(job_id)
        metrics = json.loads(job.metrics_path(results).read_text())
        assert metrics["command"].startswith(f"python -m snn_edu reproduce --level cpu --out results/{study} --run {job_id}")
        assert metrics["command"].endswith(" --data fashion5k") == (study == "cpu-fashion5k")
        assert metrics["config"]["seed"] == job.seed and metrics["config"]["model"] == job.model
        assert metrics["provenance"]["cpu"] and metrics["provenance"]["git_commit"]
        if job.stage == "train":
            assert (job.folder(results) / "history.pt").exists()


def test_results_stay_under_20_mb():
    try:
        tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard", "results"], capture_output=True,
                                 check=True, text=True).stdout.split("\0")
        paths = [ROOT / p for p in tracked if p]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: everything there counts
        paths = [p for p in (ROOT / "results").rglob("*") if p.is_file()]
    assert paths and sum(p.stat().st_size for p in paths) < 20 * 2**20


@pytest.mark.parametrize("study", ["cpu", "cpu-fashion5k"])
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_shipped_weights_give_the_recorded_numbers(model, study):
    run = load_run(ROOT / "results" / study / model / "al" / "seed0")
    x, y = run.test_set().tensors
    result = evaluate(run.model, x, y)
    assert abs(result["test_accuracy"] - run.metrics["test_accuracy"]) <= 0.1
    assert pruned_architecture(run.model, result["gates"]) == run.metrics["pruned_architecture"]
    last = run.history.epochs[-1]["gates_eval"]
    for name, gate in result["gates"].items():
        assert torch.equal(gate != 0, last[name] != 0)


def test_docs_page_is_generated_from_the_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    page = report_markdown(Path("results/cpu"), figure=Path("docs/frontier.png"), page=Path("docs/ablation.md"))
    assert page == (ROOT / "docs" / "ablation.md").read_text(), (
        "docs/ablation.md is stale: python -m snn_edu report results/cpu --out docs/ablation.md "
        "--figure docs/frontier.png")
    assert (ROOT / "docs" / "frontier.png").exists()


def test_lenet5_counts_follow_the_network():
    """fc1 keeps no input whose conv2 filter is gone, and a shipped model's count is its compact() model's."""
    from snn_edu.analysis import compact, param_counts

    checked = 0
    for path in sorted(RESULTS.glob("lenet5/*/seed*/metrics.json")):
        metrics = json.loads(path.read_text())
        if "pruned_architecture" not in metrics:
            continue
        _, conv2, fc1, _ = (int(n) for n in metrics["pruned_architecture"].split("-"))
        assert fc1 <= 16 * conv2, path
        checked += 1
        if (path.parent / "model.pt").exists():
            run = load_run(path.parent)
            run.model.eval()
            kept, total = param_counts(run.model)
            assert sum(int((p != 0).sum()) for p in compact(run.model).parameters()) == kept
            assert 100 * (1 - kept / total) == pytest.approx(metrics["params_removed_pct"])
    assert checked >= 30


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_a_fine_tuned_baseline_is_compared_with_the_switcher_fine_tuned_alike(model):
    from snn_edu import ablation

    summary = frontier.summarise(frontier.read_csv(RESULTS / "frontier.csv"))
    runs = ablation.load_runs(RESULTS / model)
    tuned = ablation.tuned_al(summary, model, runs["magnitude_ft"][0]["epochs"])
    sentence = next(s for s in ablation.findings(runs, summary) if s.startswith("The same, then fine-tuned"))
    al = [tuned[m["config"]["seed"]]["test_accuracy"] for m in runs["magnitude_ft"]]
    assert "AL fine-tuned alike (2 epochs)" in sentence and f"{ablation.mean_std(al)} %" in sentence
    untuned = ablation.mean_std([m["test_accuracy"] for m in runs["al"]])
    assert f"against AL fine-tuned alike (2 epochs), {untuned} %" not in sentence


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_a_headline_mean_over_a_seed_near_chance_says_so_seed_by_seed(model):
    """The switcher's mean accuracy, on the ablation and frontier pages, names every seed's accuracy
    whenever one of them ended near chance, and only then."""
    from snn_edu import ablation
    from snn_edu.metrics import CHANCE_LEVEL

    summary = frontier.summarise(frontier.read_csv(RESULTS / "frontier.csv"))
    runs = ablation.load_runs(RESULTS / model)
    accs = [m["test_accuracy"] for _, m in sorted(ablation.by_seed(runs, "al").items())]
    said = [next(s for s in ablation.findings(runs, summary) if s.startswith("SNN-AL reaches")),
            next(s for s in frontier.findings(summary, model) if "the switcher model as trained scores" in s)]
    low = sum(a < CHANCE_LEVEL for a in accs)
    note = frontier.chance_note(summary, model)  # the frontier figure's title
    assert (note != "") == (low > 0) and all(f"seed {s}" in note for s, a in enumerate(accs) if a < CHANCE_LEVEL)
    for sentence in said:
        assert ("near chance level: " + ", ".join(f"{a:.1f}" for a in accs) in sentence) == (low > 0), sentence
        assert (f"{low} of them near chance" in sentence) == (low > 0)


def test_every_shipped_connection_run_counts_removed_and_zeroed_weights_as_compact_keeps_them():
    """Both numbers of each connection run, recounted independently from its compact() model: built
    from the run's config with its last evaluation gates (weights drawn away from 0)."""
    from snn_edu.analysis import compact
    from snn_edu.training import make_model

    folders = sorted(p.parent for p in RESULTS.glob("*/connection/seed*/metrics.json"))
    assert len(folders) == 6
    for folder in folders:
        run = load_run(folder, with_model=False)
        gates = run.history.epochs[-1]["gates_eval"]
        model = make_model(run.config)
        for name, layer in model.gated_layers().items():
            layer.weight.data.uniform_(0.5, 1.0)
            layer.compute_gate = lambda g=gates[name]: g
        small = compact(model.eval())
        total = sum(layer.weight.numel() for layer in model.gated_layers().values())
        kept = sum(p.numel() for n, p in small.named_parameters() if n.endswith("weight"))
        nonzero = sum(int((p != 0).sum()) for n, p in small.named_parameters() if n.endswith("weight"))
        assert run.metrics["params_removed_pct"] == pytest.approx(100 * (1 - kept / total)), folder
        assert run.metrics["weights_zeroed_pct"] == pytest.approx(100 * (1 - nonzero / total)), folder


def test_a_shipped_run_regenerates_from_its_command_exactly_on_its_kind_of_cpu(tmp_path):
    """The MLP's dense seed 0 (seconds to train): its recorded command, run here into a fresh folder,
    gives every epoch's accuracy exactly where this machine is the recorded kind of CPU, and lands
    within three standard deviations of the shipped seeds elsewhere."""
    import shlex
    import statistics

    from snn_edu import machine

    folder = RESULTS / "mlp" / "dense" / "seed0"
    shipped = json.loads((folder / "metrics.json").read_text())
    argv = shlex.split(shipped["command"])[3:]  # after `python -m snn_edu`
    argv[argv.index("--out") + 1] = str(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "snn_edu", *argv, "--no-progress"], check=True, env=env, cwd=ROOT,
                   capture_output=True, timeout=300)
    again = json.loads((tmp_path / "mlp" / "dense" / "seed0" / "metrics.json").read_text())
    if machine.same_cpu_kind(shipped["provenance"], again["provenance"]):
        assert again["test_accuracy_per_epoch"] == shipped["test_accuracy_per_epoch"]
    else:
        seeds = [json.loads(p.read_text())["test_accuracy"] for p in sorted(folder.parent.glob("seed*/metrics.json"))]
        assert abs(again["test_accuracy"] - shipped["test_accuracy"]) <= 3 * statistics.stdev(seeds)


def test_every_shipped_frontier_verdict_rests_on_its_inputs():
    """Each ahead or behind that a page draws from the shipped frontier: every seed of both curves was
    read there, the seeds' paired differences give a 95 % interval that excludes 0, and the
    difference is larger than any accuracy drop a straight-line read spanned."""
    from snn_edu.matched import GRID
    from snn_edu.stats import paired_interval

    summary = frontier.summarise(frontier.read_csv(RESULTS / "frontier.csv"))
    decided = 0
    for model in ("mlp", "lenet5"):
        for a, b, *_ in frontier.COMPARISONS:
            for epochs in sorted({s["finetune_epochs"] for s in summary}):
                for removed in GRID:
                    m = frontier.verdict(summary, model, a, b, epochs, removed)
                    if m is None or m.verdict not in ("ahead", "behind"):
                        continue
                    decided += 1
                    mean, low, high = paired_interval([x for x, _ in m.pairs], [y for _, y in m.pairs])
                    assert (low > 0 if m.verdict == "ahead" else high < 0), (model, a, b, epochs, removed)
                    assert m.drop < abs(m.diff) and len(m.pairs) == 3
    assert decided > 0


def test_the_readme_names_the_shipped_switcher_runs_that_collapsed():
    """The README's sentence on the shipped study's collapsed al and sl runs says what the runs say."""
    from snn_edu import ablation

    fell = {(model, kind): [m["config"]["seed"] for m in ablation.load_runs(RESULTS / model, kinds=(kind,)).get(kind, [])
                            if ablation.collapsed(m)]
            for model in ("mlp", "lenet5") for kind in ("al", "sl")}
    assert not fell[("mlp", "al")] and not fell[("mlp", "sl")]
    kinds = [kind for kind in ("al", "sl") if fell[("lenet5", kind)]]
    seeds = sorted({s for kind in kinds for s in fell[("lenet5", kind)]})
    readme = " ".join((ROOT / "README.md").read_text().split())
    said = f"LeNet5's {' and '.join(f'`{k}`' for k in kinds)} runs of seed {', '.join(map(str, seeds))} collapse"
    assert kinds and said in readme
