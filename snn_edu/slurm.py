"""A study on a SLURM cluster: `reproduce --slurm` submits one job array per stage and returns.

Each array task runs one job's own command (`reproduce --run ID`, the line --print-commands
prints), so a task does exactly what a local worker does: it skips a finished job, resumes a
stopped one from its last checkpoint, and holds the job folder's lock (a second task on the same
job fails at once instead of running it twice). The measure stage waits for the training array
with `afterany` rather than `afterok`: one failed training task then costs only the measurements
of its own seed (each measurement checks its inputs and fails in one line), not every seed's.

Running the same command again reports the tasks of earlier submissions that did not finish
(with their log and the command that reruns one alone), writes frontier.csv and MANIFEST.json
from whatever has finished, and submits only what is unfinished. It refuses while arrays of the
same study are still in the queue. Files: OUT/slurm/{train,measure}.txt (one command per task),
OUT/slurm/task.sh, OUT/slurm/logs/, OUT/slurm/submissions.json.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import ConfigError

TASK_SCRIPT = """#!/bin/bash
# One task of a snn_edu study array: line $SLURM_ARRAY_TASK_ID of the stage's command list.
set -eu
line=$(sed -n "${SLURM_ARRAY_TASK_ID}p" "$1")
echo "snn_edu task ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname): $line"
eval "exec $line"
"""


@dataclass
class SlurmOptions:
    """What every task asks of the scheduler, and the Python it runs."""

    partition: str | None = None
    time: str | None = None            # sbatch --time, e.g. 24:00:00
    cpus_per_task: int = 1
    gpus_per_task: int = 0             # --gres=gpu:N
    sbatch_args: list[str] = field(default_factory=list)
    python: str = sys.executable

    def flags(self) -> list[str]:
        flags = [f"--cpus-per-task={self.cpus_per_task}"]
        flags += [f"--partition={self.partition}"] if self.partition else []
        flags += [f"--time={self.time}"] if self.time else []
        flags += [f"--gres=gpu:{self.gpus_per_task}"] if self.gpus_per_task else []
        return flags + list(self.sbatch_args)


def study_name(out: Path) -> str:
    """The SLURM job name of every array of the study in `out` (unique per results folder)."""
    return "snn_edu-" + hashlib.sha1(str(Path(out).resolve()).encode()).hexdigest()[:10]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(f"--slurm needs SLURM's {name} on the PATH and none is here; on a machine without SLURM, "
                          "run the study locally or print its commands with --print-commands")
    return path


def _run(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise ConfigError(f"{Path(args[0]).name} failed: {message}")
    return done.stdout


def queued(name: str) -> list[str]:
    """'ID STATE' of every queued or running task whose job name is `name`."""
    out = _run([_tool("squeue"), "--noheader", f"--name={name}", "--format=%i %T"])
    return [line.strip() for line in out.splitlines() if line.strip()]


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def _last_line(path: Path) -> str:
    try:
        lines = [x.strip() for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return "no log"
    return lines[-1][:200] if lines else "empty log"


def task_states(arrays: list[str]) -> dict[str, str]:
    """SLURM's final state of each task of `arrays` (CANCELLED, TIMEOUT, FAILED, ...) from sacct;
    empty where the cluster keeps no accounting (sacct then fails, and the logs must do)."""
    sacct = shutil.which("sacct")
    if not sacct or not arrays:
        return {}
    done = subprocess.run([sacct, "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(arrays)}",
                           "--format=JobID,State"], capture_output=True, text=True)
    if done.returncode != 0:
        return {}
    return dict(line.split("|", 1) for line in done.stdout.splitlines() if "|" in line)


def unfinished_tasks(folder: Path, finished: set[str]) -> list[dict]:
    """The tasks of earlier submissions whose job has not finished: id, state (when sacct knows
    it), log and its log's last line; a job submitted twice is told by its latest task."""
    pending = [(sub, index, job_id) for sub in _load(folder / "submissions.json")
               for index, job_id in enumerate(sub["tasks"], start=1) if job_id not in finished]
    states = task_states(sorted({sub["array"] for sub, _, _ in pending}))
    latest = {}
    for sub, index, job_id in pending:
        task = f"{sub['array']}_{index}"
        log = Path(sub["logs"].replace("%A", str(sub["array"])).replace("%a", str(index)))
        state = states.get(task, "").split()
        latest[job_id] = {"job": job_id, "task": task, "state": state[0] if state else None, "log": str(log),
                          "last_line": _last_line(log)}
    return list(latest.values())


def _submit(stage: str, commands: list[str], folder: Path, name: str, options: SlurmOptions,
            after: str | None) -> str:
    listing = folder / f"{stage}.txt"
    listing.write_text("".join(c + "\n" for c in commands))
    logs = folder / "logs" / f"{stage}-%A_%a.out"
    args = [_tool("sbatch"), "--parsable", f"--job-name={name}", f"--array=1-{len(commands)}",
            f"--output={logs}", f"--chdir={Path.cwd()}", *options.flags()]
    if after:
        args.append(f"--dependency=afterany:{after}")
    array = _run(args + [str(folder / "task.sh"), str(listing)]).strip().split(";")[0]
    subs = _load(folder / "submissions.json")
    subs.append({"array": array, "stage": stage, "tasks": [c.split("--run ")[1].split()[0] for c in commands],
                 "logs": str(logs), "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "sbatch": shlex.join(args)})
    (folder / "submissions.json").write_text(json.dumps(subs, indent=2) + "\n")
    return array


def submit_study(jobs, out: Path, command_of, collect, options: SlurmOptions, log=print) -> dict:
    """Report earlier tasks that did not finish, collect what has finished, and submit one array
    per stage for the unfinished `jobs` (`command_of(job)`: its --run command). Returns
    {'arrays': {stage: id}, 'unfinished': [...], 'finished': n}."""
    name, folder = study_name(out), Path(out) / "slurm"
    waiting = queued(name)
    if waiting:
        raise ConfigError(f"this study still has tasks in the queue ({', '.join(waiting[:4])}"
                          f"{', ...' if len(waiting) > 4 else ''}); follow them with `squeue --name={name}` and run "
                          f"this command again when they are done, or cancel them with `scancel --name={name}`")
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    finished = {j.id for j in jobs if j.finished(out)}
    stale = unfinished_tasks(folder, finished)
    for task in stale:
        state = f", {task['state']}" if task["state"] else ""
        log(f"{task['job']:<24} did not finish in task {task['task']}{state} (log {task['log']}: "
            f"{task['last_line']}); rerun alone: {command_of(task['job'])}")
    collect()
    todo = [j for j in jobs if j.id not in finished]
    if not todo:
        log(f"all {len(jobs)} jobs have finished; {out}/frontier.csv and MANIFEST.json are up to date")
        return {"arrays": {}, "unfinished": stale, "finished": len(finished)}
    (folder / "task.sh").write_text(TASK_SCRIPT)
    (folder / "task.sh").chmod(0o755)
    train = [j for j in todo if j.stage == "train"]
    coming = finished | {j.id for j in train}
    measure = [j for j in todo if j.stage == "measure" and all(n.id in coming for n in j.needs)]
    arrays = {}
    if train:
        arrays["train"] = _submit("train", [command_of(j.id) for j in train], folder, name, options, None)
    if measure:
        arrays["measure"] = _submit("measure", [command_of(j.id) for j in measure], folder, name, options,
                                    arrays.get("train"))
    for stage, array in arrays.items():
        count = len(train if stage == "train" else measure)
        after = f", after array {arrays['train']}" if stage == "measure" and "train" in arrays else ""
        log(f"submitted the {stage} stage: array {array}, {count} task(s){after}")
    log(f"follow: squeue --name={name}    logs: {folder / 'logs'}/")
    log("when the arrays are done, run this same command again: it collects frontier.csv and MANIFEST.json "
        "and resubmits anything unfinished")
    return {"arrays": arrays, "unfinished": stale, "finished": len(finished)}
