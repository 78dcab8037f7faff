"""A run folder has one owner and is never overwritten by accident."""
import json
import signal
import subprocess
import sys

import pytest

from snn_edu.cli import main
from snn_edu.runfolder import FolderInUseError, folder_lock
from snn_edu.study import run_job

SMOKE = ["train", "--preset", "smoke", "--epochs", "2", "--max-steps", "2", "--no-progress"]

HOLDER = """
import sys, time
from snn_edu.runfolder import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process that holds the lock on tmp_path/run until killed."""
    folder = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield folder, proc
    proc.kill()
    proc.wait()


def test_a_plain_run_refuses_a_folder_holding_a_run(tmp_path, capsys):
    out = tmp_path / "r1"
    assert main([*SMOKE, "--out", str(out)]) == 0
    before = (out / "metrics.json").read_bytes()
    accuracy = json.loads(before)["test_accuracy"]
    capsys.readouterr()
    assert main([*SMOKE, "--seed", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {out} already holds a finished run (mlp seed 0, 2 of 2 epochs, "
                   f"test accuracy {accuracy:.2f} %): --resume continues it, --overwrite replaces it")
    assert (out / "metrics.json").read_bytes() == before  # nothing lost


def test_overwrite_replaces_and_excludes_resume(tmp_path, capsys):
    out = tmp_path / "r1"
    assert main([*SMOKE, "--out", str(out)]) == 0
    assert main([*SMOKE, "--seed", "1", "--overwrite", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["seed"] == 1
    capsys.readouterr()
    assert main([*SMOKE, "--seed", "1", "--overwrite", "--resume", "--out", str(out)]) == 2
    assert "--resume and --overwrite exclude each other" in capsys.readouterr().err


def test_a_second_process_on_the_folder_stops_at_once(holder, capsys):
    folder, proc = holder
    assert main([*SMOKE, "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {folder.resolve()} is in use by another run (process {proc.pid}); "
                   "wait for it to finish or use another --out")
    assert not (folder / "metrics.json").exists()


def test_a_killed_owner_leaves_no_stale_lock(holder):
    folder, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert main([*SMOKE, "--out", str(folder)]) == 0
    assert (folder / "metrics.json").exists()


def test_study_jobs_take_the_lock_too(tmp_path):
    job_folder = tmp_path / "study" / "mlp" / "al" / "seed0"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(job_folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderInUseError, match=f"process {proc.pid}"):
            run_job("mlp/al/seed0", "smoke", tmp_path / "study")
    finally:
        proc.kill()
        proc.wait()


def test_one_process_may_nest_its_own_lock(tmp_path):
    with folder_lock(tmp_path / "x") as outer:
        with folder_lock(tmp_path / "x") as inner:
            assert inner == outer
        with folder_lock(tmp_path / "x"):  # still held by the outer block, and re-enterable
            pass
