"""One save is one unit: a failed write (full disk, signal) keeps the last good epoch, leaves no
temporary file, says so in one line, and --resume then ends on the numbers of an uninterrupted run."""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict

import pytest
import torch

from snn_edu import runfolder
from snn_edu.cli import main
from snn_edu.errors import CheckpointError
from snn_edu.runfolder import CHECKPOINT, HISTORY, RunFolder, RunStopped, SaveError, read_file, write_file
from snn_edu.training import History, Trainer, TrainConfig


def lite(**kw):
    return TrainConfig(**{"switcher": "lite", "epochs": 4, "max_steps": 2, **kw})


@pytest.fixture(scope="module")
def straight(tiny):
    """The uninterrupted 4-epoch run every interrupted one must end on."""
    trainer = Trainer(lite(), *tiny, progress=False)
    trainer.fit()
    return trainer


def same_run(trainer, reference):
    assert trainer.history.column("test_accuracy") == reference.history.column("test_accuracy")
    assert trainer.history.column("phase") == reference.history.column("phase")
    for key, value in reference.model.state_dict().items():
        assert torch.equal(value, trainer.model.state_dict()[key]), key


def leftovers(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.tmp"))


def full_disk_at(monkeypatch, epoch_file: str):
    """Fail the write of `epoch_file` (a record such as 'epochs/0002.pt', or 'checkpoint.pt' at its
    n-th write given as 'checkpoint.pt#3') with ENOSPC, after half its bytes reached the disk."""
    name, _, nth = epoch_file.partition("#")
    seen = {"count": 0}
    store = runfolder._store

    def failing(path, data):
        if str(path).endswith(name + ".tmp"):
            seen["count"] += 1
            if seen["count"] == int(nth or 1):
                with open(path, "wb") as f:
                    f.write(bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        store(path, data)

    monkeypatch.setattr(runfolder, "_store", failing)


@pytest.mark.parametrize("failing", ["epochs/0002.pt", "checkpoint.pt#3"])
def test_a_full_disk_keeps_the_last_good_epoch_and_resume_matches(failing, tiny, tmp_path, straight, monkeypatch):
    full_disk_at(monkeypatch, failing)
    with pytest.raises(SaveError) as info:
        Trainer(lite(), *tiny, out=tmp_path, progress=False).fit()
    target = tmp_path / failing.partition("#")[0]
    assert str(info.value) == (f"could not save epoch 2: writing {target} failed (No space left on device); the "
                               f"last good epoch is 1 ({tmp_path} holds epochs 0-1): --resume continues from it "
                               "once the cause is fixed")
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in (tmp_path / "epochs").iterdir()) == ["0000.pt", "0001.pt"]
    assert read_file(tmp_path / CHECKPOINT)["epoch"] == 2
    monkeypatch.undo()  # space freed
    resumed = Trainer(lite(), *tiny, out=tmp_path, progress=False)
    resumed.fit(resume=True)
    same_run(resumed, straight)


def test_a_full_disk_on_the_first_epoch_leaves_a_folder_a_plain_run_accepts(tiny, tmp_path, monkeypatch):
    full_disk_at(monkeypatch, "checkpoint.pt")
    with pytest.raises(SaveError, match=f"nothing is saved in {tmp_path} yet: run it again once the cause"):
        Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()
    assert leftovers(tmp_path) == [] and not (tmp_path / CHECKPOINT).exists()
    monkeypatch.undo()
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()  # not refused as "holding a run"


def test_a_full_disk_when_writing_metrics_keeps_every_epoch(tiny, tmp_path, monkeypatch, capsys):
    args = ["train", "--preset", "smoke", "--epochs", "2", "--max-steps", "2", "--no-progress", "--out", str(tmp_path)]
    full_disk_at(monkeypatch, "metrics.json")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: could not write {tmp_path / 'metrics.json'} (No space left on device); the last good "
                   f"epoch is 1 ({tmp_path} holds epochs 0-1): --resume continues from it once the cause is fixed")
    assert leftovers(tmp_path) == [] and not (tmp_path / "metrics.json").exists()
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"] == 2


def test_a_save_costs_the_same_at_every_epoch(tiny, tmp_path, monkeypatch):
    written = []
    store = runfolder._store
    monkeypatch.setattr(runfolder, "_store", lambda path, data: (written.append((path.name, len(data))),
                                                                store(path, data)))
    epochs = 6
    Trainer(lite(epochs=epochs), *tiny, out=tmp_path, progress=False).fit()
    records = [n for name, n in written if name[:4].isdigit()]
    checkpoints = [n for name, n in written if name == "checkpoint.pt.tmp"]
    assert len(records) == len(checkpoints) == epochs
    saves = [r + c for r, c in zip(records, checkpoints)]
    assert max(saves) < 1.05 * min(saves), saves  # the 6th save writes what the 1st did


def test_a_signal_during_a_save_waits_for_the_save(tiny, tmp_path, monkeypatch):
    store = runfolder._store

    def interrupted(path, data):
        if path.name == "checkpoint.pt.tmp" and not (tmp_path / CHECKPOINT).exists():
            os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-save of epoch 0
        store(path, data)

    monkeypatch.setattr(runfolder, "_store", interrupted)
    with pytest.raises(RunStopped) as info:
        Trainer(lite(), *tiny, out=tmp_path, progress=False).fit()
    assert str(info.value) == (f"stopped by SIGTERM during epoch 1; the last good epoch is 0 ({tmp_path} holds "
                               "epoch 0): --resume continues from it")
    assert info.value.exit_code == 143
    assert read_file(tmp_path / CHECKPOINT)["records"] == 1 and leftovers(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


EPOCHS = 6  # enough that the run is still going when the signal lands, right after epoch 1's line
TRAIN = [sys.executable, "-m", "snn_edu", "train", "--preset", "smoke", "--epochs", str(EPOCHS), "--max-steps", "1",
         "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The same run, never stopped (shared by the three signals)."""
    folder = tmp_path_factory.mktemp("straight") / "run"
    assert main([*TRAIN[3:], "--out", str(folder)]) == 0  # in this process: the same command, no interpreter start
    return folder


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_stopped_run_ends_cleanly_and_resume_matches(sig, tmp_path, uninterrupted):
    stopped, straight = tmp_path / "stopped", uninterrupted
    proc = subprocess.Popen([*TRAIN, "--out", str(stopped)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})  # each epoch line as it is written
    # epoch 1's line comes after epoch 0's save: no sleep that has to outlast a save
    assert proc.stdout.readline().startswith("epoch   0") and proc.stdout.readline().startswith("epoch   1")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    saved = read_file(stopped / CHECKPOINT)["epoch"]
    assert 1 <= saved < EPOCHS and not (stopped / "metrics.json").exists()
    if sig != signal.SIGKILL:  # SIGKILL cannot be caught; the folder is still consistent
        name = signal.Signals(sig).name
        assert proc.returncode == 128 + sig, err
        assert err.startswith(f"stopped by {name} during epoch ") and err.count("\n") == 1, err
        assert "Traceback" not in err and leftovers(stopped) == []
        assert f"the last good epoch is {saved - 1}" in err
        assert len(list((stopped / "epochs").iterdir())) == saved
    assert main([*TRAIN[3:], "--out", str(stopped), "--resume"]) == 0
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (stopped, straight))
    assert a["test_accuracy_per_epoch"] == b["test_accuracy_per_epoch"] and len(a["phases"]) == EPOCHS
    wa, wb = (read_file(f / CHECKPOINT)["model"] for f in (stopped, straight))
    assert all(torch.equal(wa[k], wb[k]) for k in wb)


def test_records_without_a_checkpoint_are_no_run(tiny, tmp_path):
    (tmp_path / "epochs").mkdir()
    write_file({"epoch": 0}, tmp_path / "epochs" / "0000.pt")  # killed between the first record and checkpoint
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()  # a plain run may start here
    assert RunFolder(tmp_path).records()[0]["epoch"] == 0 and "test_accuracy" in RunFolder(tmp_path).records()[0]


def legacy_folder(trainer, folder, history: History):
    """What snn_edu wrote before layout 2: the whole history in history.pt, a checkpoint without layout."""
    state = trainer.state_dict()
    write_file(history.to_dict(), folder / HISTORY)
    write_file(state, folder / CHECKPOINT)


def test_a_folder_in_the_older_layout_resumes(tiny, tmp_path, straight):
    first = Trainer(lite(epochs=2), *tiny, progress=False)
    first.fit()
    first.config = lite()  # its checkpoint, as the 4-epoch run would have saved it after epoch 1
    legacy_folder(first, tmp_path, first.history)
    resumed = Trainer(lite(), *tiny, out=tmp_path, progress=False)
    resumed.fit(resume=True)
    same_run(resumed, straight)
    assert not (tmp_path / HISTORY).exists()  # migrated: the epoch records replace it
    assert len(RunFolder(tmp_path).records()) == 4


def test_an_older_folder_that_cannot_resume_says_why(tiny, tmp_path):
    first = Trainer(lite(epochs=2), *tiny, progress=False)
    first.fit()
    first.config = lite()
    legacy_folder(first, tmp_path, History(first.history.epochs[:1]))  # the old two-file save went half-way
    with pytest.raises(CheckpointError) as info:
        Trainer(lite(), *tiny, out=tmp_path, progress=False).fit(resume=True)
    assert str(info.value) == (f"{tmp_path} is too old to resume: its history.pt holds 1 epochs but its checkpoint "
                               "2 (older snn_edu saved them apart); use a fresh --out")


def test_a_checkpoint_from_a_newer_layout_is_refused(tiny, tmp_path):
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()
    state = read_file(tmp_path / CHECKPOINT)
    write_file({**state, "layout": 99}, tmp_path / CHECKPOINT)
    with pytest.raises(CheckpointError, match="written by a newer snn_edu \\(layout 99\\)"):
        Trainer(lite(), *tiny, out=tmp_path, progress=False).fit(resume=True)


def test_the_checkpoint_names_the_records_it_covers(tiny, tmp_path):
    trainer = Trainer(lite(epochs=2), *tiny, out=tmp_path, progress=False)
    trainer.fit()
    write_file({"stale": True}, tmp_path / "epochs" / "0002.pt")  # a record a failed save left behind
    assert [r["epoch"] for r in RunFolder(tmp_path).records()] == [0, 1]
    assert read_file(tmp_path / CHECKPOINT)["config"] == asdict(trainer.config)


def test_a_signal_stops_the_whole_study_not_one_job(tmp_path, monkeypatch):
    import snn_edu.study as study

    started = []

    def job_stopped_by_scheduler(job_id, *args):
        started.append(job_id)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        return "finished"

    monkeypatch.setattr(study, "run_job", job_stopped_by_scheduler)
    jobs = study.plan(["mlp"], ["al", "dense"], 1, measures=())
    with pytest.raises(RunStopped, match="^study stopped by SIGTERM: 0 jobs finished in this run are kept") as info:
        study.run_study(jobs, "smoke", tmp_path, progress=False, log=lambda line: None)
    assert started == ["mlp/al/seed0"] and info.value.exit_code == 143


def test_a_time_budget_stops_the_study_cleanly_and_the_same_call_goes_on(tmp_path):
    """reproduce --time-budget: the study stops as on SIGTERM once the budget is spent (running jobs
    keep their last good epoch), and calling it again finishes it with the same numbers as a study
    that was never stopped."""
    import snn_edu.study as study

    jobs = study.plan(["mlp"], ["al", "dense"], 1, measures=())
    straight, budgeted = tmp_path / "straight", tmp_path / "budgeted"
    assert not study.run_study(jobs, "smoke", straight, progress=False, log=lambda line: None)["budget_reached"]
    lines, calls = [], 0
    while not json.loads((budgeted / "MANIFEST.json").read_text() if (budgeted / "MANIFEST.json").exists()
                         else '{"complete": false}')["complete"]:
        calls += 1
        assert calls <= 20, "the budgeted study never finished"
        result = study.run_study(jobs, "smoke", budgeted, progress=False, log=lines.append,
                                 time_budget=1 if calls == 1 else None)
        assert result["failed"] == {} and result["skipped"] == []
    # a machine that trains both smoke jobs within 1 s would finish in one call: no timing is asserted
    assert (calls == 2) == any(line.startswith("time budget of 1 s reached") for line in lines)
    timing = {"seconds_per_epoch", "mean_seconds_per_epoch", "total_seconds", "command", "provenance"}

    def numbers(out):
        return {str(p.relative_to(out)): {k: v for k, v in json.loads(p.read_text()).items() if k not in timing}
                for p in out.glob("*/*/seed*/metrics.json")}

    assert numbers(budgeted) == numbers(straight) and len(numbers(straight)) == 2
