"""reproduce: independent jobs, restarts that skip finished work, worker processes, printed
commands, the manifest, and the compact run folders they leave."""
import json
import shlex
import subprocess
import sys

import pytest
import torch

from snn_edu.analysis import gate_categories, pruned_architecture
from snn_edu.cli import main
from snn_edu.frontier import COLUMNS, read_csv
from snn_edu.runs import half_gate, load_run
from snn_edu.study import Job, plan
from snn_edu.errors import ConfigError

STUDY = ["reproduce", "--level", "smoke", "--seeds", "1", "--variants", "al", "dense", "noise", "--no-progress"]


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_job_ids_and_plan_order():
    assert Job.parse("lenet5/frontier/seed2") == Job("lenet5", "frontier", 2)
    for bad in ("mlp/al", "resnet/al/seed0", "mlp/bogus/seed0"):
        with pytest.raises(ConfigError, match="MODEL/KIND/seedN"):
            Job.parse(bad)
    jobs = plan(["mlp"], ["al", "dense", "sl"], seeds=2)
    ids = [j.id for j in jobs]
    for job in jobs:
        assert all(ids.index(n.id) < ids.index(job.id) for n in job.needs)
    assert {"mlp/frontier/seed1", "mlp/magnitude/seed0", "mlp/sl/seed1"} <= set(ids)
    assert not [j for j in plan(["mlp"], ["al", "sl"], seeds=1) if j.stage == "measure"]  # no dense run to compare


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A smoke study of both models run with two worker processes."""
    out = tmp_path_factory.mktemp("study")
    assert main([*STUDY, "--out", str(out), "--jobs", "2"]) == 0
    return out


def test_study_writes_runs_frontier_and_manifest(study):
    rows = read_csv(study / "frontier.csv")
    assert (study / "frontier.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert {(r["model"], r["seed"]) for r in rows} == {("mlp", 0), ("lenet5", 0)}
    assert {r["criterion"] for r in rows} == {"natural", "switcher", "magnitude", "random", "conductance"}
    manifest = json.loads((study / "MANIFEST.json").read_text())
    assert manifest["complete"] and manifest["jobs_finished"] == 10 and manifest["missing"] == []
    for key in ("snn_edu", "git_commit", "torch", "cpu", "threads_per_job", "date", "wall_seconds"):
        assert manifest[key] not in (None, "", []), key
    (session,) = manifest["sessions"]
    assert session["workers"] == 2 and session["threads_per_worker"] >= 1 and "--jobs 2" in session["command"]
    for job in plan(["mlp", "lenet5"], ["al", "dense", "noise"], seeds=1):
        metrics = json.loads(job.metrics_path(study).read_text())
        assert metrics["config"]["seed"] == 0 and f"--run {job.id}" in metrics["command"]
        assert metrics["provenance"]["threads"] == session["threads_per_worker"]


def test_restart_skips_finished_runs_and_changes_nothing(study, capsys):
    before = files(study)
    assert main([*STUDY, "--out", str(study)]) == 0
    assert "0 jobs run, 10 already finished" in capsys.readouterr().out
    assert files(study) == before


def test_a_printed_command_regenerates_its_run(study, tmp_path, capsys):
    # a fresh folder: every job is unfinished, and --stage train lists only the training runs
    assert main([*STUDY, "--out", str(tmp_path), "--variants", "al", "dense", "--models", "mlp", "--print-commands",
                 "--stage", "train", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("--run ")[1].split()[0] for line in out] == ["mlp/al/seed0", "mlp/dense/seed0"]
    args = shlex.split(out[0])
    assert args[:3] == ["python", "-m", "snn_edu"]
    subprocess.run([sys.executable, *args[1:]], check=True, capture_output=True)  # as a user types it
    again = json.loads((tmp_path / "mlp/al/seed0/metrics.json").read_text())
    shipped = json.loads((study / "mlp/al/seed0/metrics.json").read_text())
    assert again["test_accuracy"] == shipped["test_accuracy"]
    assert again["pruned_architecture"] == shipped["pruned_architecture"]


def test_a_measurement_without_its_runs_is_one_clear_line(tmp_path, capsys):
    assert main(["reproduce", "--level", "smoke", "--out", str(tmp_path), "--run", "mlp/frontier/seed0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlp/al/seed0 has not finished" in err


def test_compact_history_keeps_every_category(study):
    gates = torch.cat([torch.zeros(5), torch.rand(500) * 2, torch.tensor([1e-9, 0.99999, 1.0, 1.00001])])
    half = half_gate(gates)
    assert half.dtype == torch.float16
    assert gate_categories(half) == gate_categories(gates)
    run = load_run(study / "mlp" / "al" / "seed0")
    assert run.model is not None and "images" not in run.history.epochs[-1]
    last = run.history.epochs[-1]["gates_eval"]
    assert all(g.dtype == torch.float16 for g in last.values())
    assert pruned_architecture(run.model, last) == run.metrics["pruned_architecture"]
    assert run.origin.startswith(f"loaded {study / 'mlp' / 'al' / 'seed0'}: mlp seed 0")


@pytest.mark.parametrize("flags, message", [(["--run", "mlp/al"], "unknown run 'mlp/al'"),
                                            (["--variants", "al", "--run", "x/al/seed0"], "unknown run 'x/al/seed0'")])
def test_bad_reproduce_flags_are_one_line(flags, message, tmp_path, capsys):
    assert main(["reproduce", "--level", "smoke", "--out", str(tmp_path), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_library_calls_check_their_counts_too(tmp_path):
    from snn_edu.errors import ConfigError
    from snn_edu.study import plan, run_study
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        run_study([], "smoke", tmp_path, workers=0, progress=False)
    with pytest.raises(ConfigError, match="--seeds must be at least 1"):
        plan(seeds=0)


def test_a_study_on_another_data_set_records_it_in_every_command(tmp_path, capsys):
    """--data trains every run of the level on another data set (fashion5k: the harder task);
    each job's command carries it, so --run regenerates the same run (the shipped fashion5k
    study's runs are checked against their commands in tests/test_results.py)."""
    assert main(["reproduce", "--level", "smoke", "--models", "mlp", "--variants", "al", "--seeds", "1",
                 "--no-frontier", "--data", "fashion5k", "--out", str(tmp_path), "--print-commands"]) == 0
    assert capsys.readouterr().out.strip().endswith("--run mlp/al/seed0 --data fashion5k")
    assert main(["reproduce", "--level", "smoke", "--data", "idx:/somewhere", "--print-commands"]) == 2
    assert "--data idx:/somewhere needs its own --out folder" in capsys.readouterr().err


def test_every_registered_measurement_has_a_body_and_needs_registered_runs():
    from snn_edu import study, variants

    assert set(study.MEASURE_BODIES) == set(variants.MEASURES)
    assert all(set(m.needs) <= set(variants.RUNS) for m in variants.MEASURE_REGISTRY.values())


def test_no_frontier_skips_every_job_that_measures_frontier_points(tmp_path, capsys):
    """--no-frontier leaves out the frontier, peers and scopes jobs (their points follow the frontier's
    targets) and keeps the training runs and the magnitude baselines."""
    args = ["reproduce", "--level", "smoke", "--models", "mlp", "--seeds", "1", "--out", str(tmp_path),
            "--variants", "al", "dense", "joint", "--print-commands"]
    assert main(args) == 0
    every = {line.split("--run ")[1].split()[0] for line in capsys.readouterr().out.splitlines()}
    assert main([*args, "--no-frontier"]) == 0
    kept = {line.split("--run ")[1].split()[0] for line in capsys.readouterr().out.splitlines()}
    assert every - kept == {"mlp/frontier/seed0", "mlp/scopes/seed0"}
    assert {"mlp/magnitude/seed0", "mlp/al/seed0", "mlp/joint/seed0"} <= kept
