"""`reproduce --slurm` against a real one-node SLURM (Debian's slurm-wlm and munge) started for
this module in a temporary folder; and its one-line refusal where SLURM is missing."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snn_edu.cli import main
from snn_edu.slurm import study_name

DAEMONS = ("sbatch", "squeue", "scancel", "sinfo", "slurmctld", "slurmd", "munged", "munge")
MISSING = [tool for tool in DAEMONS if not shutil.which(tool)]
STUDY = ["reproduce", "--level", "smoke", "--models", "mlp", "--variants", "al", "dense", "--seeds", "1",
         "--threads", "1", "--no-progress"]
TIMING = {"seconds_per_epoch", "mean_seconds_per_epoch", "total_seconds", "command", "provenance"}

needs_slurm = pytest.mark.skipif(bool(MISSING) or os.geteuid() != 0,
                                 reason=f"a one-node SLURM needs root and {', '.join(MISSING) or 'nothing else'} "
                                 "(apt-get install slurm-wlm munge)")

CONF = """ClusterName=snnedu
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=5
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True)
    return encoded.returncode == 0 and subprocess.run(["unmunge"], input=encoded.stdout,
                                                      capture_output=True).returncode == 0


def _start_munge() -> bool:
    """munged as the munge user, with the key Debian's package made; True when this test started it."""
    if _munge_works():
        return False
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.write_bytes(os.urandom(1024))
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged"], check=True)
    deadline = time.monotonic() + 20
    while not _munge_works():
        assert time.monotonic() < deadline, "munged did not start"
        time.sleep(0.2)
    return True


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s waiting for {what}"
        time.sleep(0.5)


def squeue(name: str) -> list[str]:
    out = subprocess.run(["squeue", "--noheader", f"--name={name}", "--format=%i %T"], capture_output=True,
                         text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """munged, slurmctld and slurmd for one node (this machine), configured in a temporary folder."""
    root = tmp_path_factory.mktemp("slurm")
    (root / "state").mkdir()
    (root / "spool").mkdir()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 ** 20
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
    conf = root / "slurm.conf"
    conf.write_text(CONF.format(host=host, root=root, cpus=os.cpu_count(), memory=int(memory * 0.9)))
    started_munge = _start_munge()
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    subprocess.run(["slurmctld", "-f", str(conf)], check=True)
    subprocess.run(["slurmd", "-f", str(conf)], check=True)
    try:
        wait_for(lambda: "idle" in subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True,
                                                  text=True).stdout, 60, "the node to be idle")
        yield root
    finally:
        for daemon in ("slurmd", "slurmctld"):
            pid_file = root / f"{daemon}.pid"
            if pid_file.exists():
                subprocess.run(["kill", pid_file.read_text().strip()])
        if started_munge:
            subprocess.run(["pkill", "-x", "munged"])
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMING}


def all_metrics(out: Path) -> dict:
    return {str(p.relative_to(out)): without_timing(json.loads(p.read_text())) for p in out.glob("*/*/seed*/metrics.json")}


@needs_slurm
def test_a_study_on_slurm_equals_the_same_study_run_here_even_after_a_cancelled_task(cluster, tmp_path, capsys):
    """The first submission's tasks run a Python that waits for a go-file, so the AL task is
    surely running when scancel reaches it; the dense task and the measurements then go on
    (the measure array waits with afterany, the measurements that need AL fail in one line),
    and the same command reports the cancelled task, resubmits what is unfinished, and ends
    with the local study's results."""
    here, there, go = tmp_path / "here", tmp_path / "slurm", tmp_path / "go"
    waiting_python = tmp_path / "python"
    waiting_python.write_text(f"#!/bin/sh\ntouch {tmp_path}/started-$$\nwhile [ ! -e {go} ]; do sleep 0.2; done\n"
                              f"exec {sys.executable} \"$@\"\n")
    waiting_python.chmod(0o755)
    slurm = [*STUDY, "--out", str(there), "--slurm", "--python", str(waiting_python)]
    assert main(slurm) == 0
    submitted = capsys.readouterr().out
    assert "submitted the train stage: array" in submitted and "submitted the measure stage" in submitted
    assert f"squeue --name={study_name(there)}" in submitted
    wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, 60, "both training tasks to start")
    queue = squeue(study_name(there))
    assert sum("RUNNING" in line for line in queue) == 2 and any("PENDING" in line for line in queue), queue
    assert main(slurm) == 2  # a second submission while the first is queued is refused, in one line
    assert "still has tasks in the queue" in capsys.readouterr().err
    al_task = next(line.split()[0] for line in queue if line.endswith("RUNNING") and line.split()[0].endswith("_1"))
    subprocess.run(["scancel", al_task], check=True)
    go.touch()
    wait_for(lambda: not squeue(study_name(there)), 180, "the first submission to leave the queue")
    assert not (there / "mlp" / "al" / "seed0" / "metrics.json").exists()
    assert (there / "mlp" / "dense" / "seed0" / "metrics.json").exists()

    assert main([*STUDY, "--out", str(here)]) == 0  # the same study, here (meanwhile nothing runs there)
    capsys.readouterr()
    assert main(slurm) == 0
    resubmitted = capsys.readouterr().out.splitlines()
    assert resubmitted[0].startswith("mlp/al/seed0") and f"did not finish in task {al_task}" in resubmitted[0]
    assert "rerun alone: " in resubmitted[0] and "--run mlp/al/seed0" in resubmitted[0]
    assert "submitted the train stage: array" in "\n".join(resubmitted)
    wait_for(lambda: not squeue(study_name(there)), 180, "the resubmission to finish")
    assert main(slurm) == 0
    assert "all 4 jobs have finished" in capsys.readouterr().out

    assert (there / "frontier.csv").read_bytes() == (here / "frontier.csv").read_bytes()
    ours, theirs = all_metrics(there), all_metrics(here)
    assert sorted(ours) == sorted(theirs) and len(ours) == 5  # al, dense, magnitude (+ fine-tuned), frontier
    assert ours == theirs
    manifest = json.loads((there / "MANIFEST.json").read_text())
    assert manifest["complete"] and manifest["threads_per_job"] == 1
    submissions = json.loads((there / "slurm" / "submissions.json").read_text())
    assert [s["stage"] for s in submissions] == ["train", "measure", "train", "measure"]
    assert f"--dependency=afterany:{submissions[0]['array']}" in submissions[1]["sbatch"]


def test_slurm_without_sbatch_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main([*STUDY, "--out", str(tmp_path / "study"), "--slurm"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--slurm needs SLURM's squeue on the PATH" in err
