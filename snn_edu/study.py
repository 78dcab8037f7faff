"""A study as independent jobs: training runs (the ablation variants), the magnitude baselines
and the frontier, per model and seed. Jobs run in N worker processes with the cores split between
them, are skipped once finished (so a stopped study continues), or are printed as one
self-contained command each for a cluster.

Measurements: `magnitude` and `frontier` need the seed's AL and dense runs; `peers` needs its
direct and L0 runs (snn_edu.peers).

Layout: OUT/MODEL/KIND/seedS/ (metrics.json, history.pt, model.pt), OUT/frontier.csv and
OUT/MANIFEST.json. A job is finished when its metrics.json exists; a running job holds its
folder's lock (snn_edu.runfolder), so no two processes ever run the same job.
"""
from __future__ import annotations

import json
import multiprocessing
import re
import shlex
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from . import frontier, machine, peers
from . import precision as numeric
from .ablation import magnitude_metrics
from .errors import ConfigError, DataError, SnnEduError, first_line
from .models import MODELS
from .nets import NETWORKS
from .presets import preset
from .runfolder import (CHECKPOINT, METRICS, RunStopped, folder_lock, read_file, read_metrics, stopping_on_signals,
                        write_metrics)
from .runs import MANIFEST, WEIGHTS, load_model, write_run_files
from .memory import check_shared
from .metrics import result_line
from .training import TrainConfig, Trainer, load_data
from .variants import MEASURE_REGISTRY, MEASURES, RUNS, VARIANTS, variant_config

ALL_MODELS = MODELS + NETWORKS  # the MNIST networks, then the papers' CIFAR ones

NEEDS = {name: m.needs for name, m in MEASURE_REGISTRY.items()}  # the runs each measurement reads
POINTS = tuple(name for name, m in MEASURE_REGISTRY.items() if m.points)  # measurements whose rows go into frontier.csv
STAGES = ("train", "measure")


@dataclass(frozen=True)
class Job:
    """One independent unit of work: a training run, or a measurement of some of the seed's runs."""

    model: str
    kind: str  # a RUNS name (a training run) or a MEASURES name
    seed: int

    @property
    def id(self) -> str:
        return f"{self.model}/{self.kind}/seed{self.seed}"

    @property
    def stage(self) -> str:
        return "measure" if self.kind in MEASURES else "train"

    @property
    def needs(self) -> tuple["Job", ...]:
        return tuple(Job(self.model, kind, self.seed) for kind in NEEDS.get(self.kind, ()))

    def folder(self, out: Path, kind: str | None = None) -> Path:
        return Path(out) / self.model / (kind or self.kind) / f"seed{self.seed}"

    def metrics_path(self, out: Path) -> Path:
        """The metrics.json whose existence marks the job finished (the magnitude job writes
        'magnitude', then 'magnitude_ft')."""
        return self.folder(out, "magnitude_ft" if self.kind == "magnitude" else None) / METRICS

    def finished(self, out: Path) -> bool:
        return self.metrics_path(out).exists()

    @classmethod
    def parse(cls, text: str) -> "Job":
        m = re.fullmatch(r"([a-z0-9-]+)/([a-z0-9_.-]+)/seed(\d+)", text)
        if not m or m[1] not in ALL_MODELS or m[2] not in (*RUNS, *MEASURES):
            raise ConfigError(f"unknown run {text!r}: expected MODEL/KIND/seedN with MODEL in {', '.join(ALL_MODELS)} "
                              f"and KIND in {', '.join((*RUNS, *MEASURES))}, e.g. mlp/al/seed0")
        return cls(m[1], m[2], int(m[3]))


def plan(models=MODELS, variants=None, seeds: int = 3, measures=MEASURES) -> list[Job]:
    """The jobs of a study, each after the jobs it needs: every seed's AL and dense runs first,
    then the `measures` that need them (when both are in `variants`), then the other variants
    (default: the ablation's; the peers, direct and l0-*, when named), then `peers` (when every
    peer is in `variants`)."""
    variants = list(variants or VARIANTS)
    unknown = [v for v in variants if v not in RUNS]
    if unknown or seeds < 1:
        raise ConfigError(f"unknown variant(s) {unknown}; choose from {', '.join(RUNS)}" if unknown
                          else f"--seeds must be at least 1, got {seeds}")
    first = [v for v in ("al", "dense") if v in variants]
    jobs = [Job(m, v, s) for s in range(seeds) for m in models for v in first]
    ready = [k for k in MEASURES if k in measures and all(v in variants for v in NEEDS[k])]
    jobs += [Job(m, k, s) for s in range(seeds) for m in models for k in ready if NEEDS[k] == ("al", "dense")]
    jobs += [Job(m, v, s) for s in range(seeds) for m in models for v in variants if v not in first]
    return jobs + [Job(m, k, s) for s in range(seeds) for m in models for k in ready if NEEDS[k] != ("al", "dense")]


def command(job: Job, level: str, out: Path, threads: int | None = None, precision: str = "fp32",
            data: str | None = None, device: str | None = None) -> str:
    """The self-contained command that runs `job` (and records itself in the job's metrics)."""
    cmd = f"python -m snn_edu reproduce --level {level} --out {shlex.quote(str(out))} --run {job.id}"
    return cmd + (f" --threads {threads}" if threads else "") + (f" --precision {precision}" if precision != "fp32" else "") \
        + (f" --data {shlex.quote(data)}" if data else "") + (f" --device {device}" if device else "")


# -- one job ---------------------------------------------------------------------------------------
def _provenance(job: Job, level: str, out: Path, threads: int | None, precision: str, seconds: float,
                data: str | None, device: str | None = None) -> dict:
    return {"job": job.id, "command": command(job, level, out, threads, precision, data, device), "level": level,
            "precision": precision, **({"data": data} if data else {}), **machine.provenance(), "seconds": seconds}


def _trained(job: Job, out: Path) -> tuple[dict, TrainConfig, Path]:
    """Metrics, config and folder of a finished training run that a measurement needs."""
    folder = job.folder(out)
    if not (folder / METRICS).exists():
        raise DataError(f"{job.id} has not finished (no {folder / METRICS}); run it first")
    metrics = read_metrics(folder)
    if metrics["test_accuracy"] is None:
        raise DataError(f"{job.id} diverged before its first epoch ended, so there is no model to measure")
    if not (folder / WEIGHTS).exists():
        raise DataError(f"{job.id} has no trained weights ({folder / WEIGHTS}; shipped results keep them for "
                        "seed 0 only); retrain it into a fresh --out")
    return metrics, TrainConfig(**metrics["config"]), folder


def _train(job: Job, level: str, out: Path, progress: bool, precision: str, data: str | None,
           device: str | None = None) -> tuple[dict, str]:
    """A training run: the variant's config at `level` (on `data` instead of the level's data set,
    on `device` instead of the level's, when given); returns ({None: metrics}, line)."""
    base = preset(job.model, level, precision=precision, **({"device": device} if device else {}))
    config = replace(variant_config(replace(base, data=data) if data else base, job.kind, job.seed),
                     record_images=False)
    folder = job.folder(out)
    trainer = Trainer(config, *load_data(config), out=folder, progress=progress)
    trainer.fit(resume=(folder / CHECKPOINT).exists())
    if trainer.history.diverged and (folder / CHECKPOINT).exists():  # keep the last completed epoch's weights
        trainer.model.load_state_dict(read_file(folder / CHECKPOINT)["model"])
    write_run_files(folder, trainer)
    metrics = trainer.metrics()
    metrics["total_seconds"] = sum(metrics["seconds_per_epoch"])
    return {None: metrics}, result_line(metrics)


def _magnitude(job: Job, level: str, out: Path, progress: bool) -> tuple[dict, str]:
    al_metrics, _, _ = _trained(Job(job.model, "al", job.seed), out)
    _, dense_config, dense_folder = _trained(Job(job.model, "dense", job.seed), out)
    epochs = frontier.settings_for(level, job.model).finetune_epochs
    config = replace(dense_config, epochs=max(1, epochs))
    results = magnitude_metrics(load_model(dense_folder, dense_config), al_metrics, config, *load_data(config), epochs)
    return ({kind: {**m, "config": asdict(config)} for kind, m in results.items()},
            result_line(results["magnitude_ft"]))


def _frontier(job: Job, level: str, out: Path, progress: bool) -> tuple[dict, str]:
    al_metrics, al_config, al_folder = _trained(Job(job.model, "al", job.seed), out)
    _, dense_config, dense_folder = _trained(Job(job.model, "dense", job.seed), out)
    settings = frontier.settings_for(level, job.model)
    rows = frontier.frontier_rows(load_model(al_folder, al_config), load_model(dense_folder, dense_config),
                                  al_metrics, al_config, *load_data(al_config), settings, progress)
    return {None: {"rows": rows, "settings": asdict(settings), "config": asdict(al_config)}}, f"{len(rows)} points"


def _peers(job: Job, level: str, out: Path, progress: bool) -> tuple[dict, str]:
    """The peers' (or, for `scopes`, the joint switcher's) natural points and own-gate curves."""
    trained = {kind: _trained(Job(job.model, kind, job.seed), out) for kind in NEEDS[job.kind]}
    settings = frontier.settings_for(level, job.model)
    # the level's TNN recipe: every peer fine-tunes alike
    config = replace(next(iter(trained.values()))[1], gate="switcher", switcher_scope="layer")
    models = {kind: load_model(folder, c) for kind, (_, c, folder) in trained.items()}
    rows = peers.peer_rows(models, config, *load_data(config), settings)
    return {None: {"rows": rows, "settings": asdict(settings), "config": asdict(config)}}, f"{len(rows)} points"


MEASURE_BODIES = {"magnitude": _magnitude, "frontier": _frontier, "peers": _peers, "scopes": _peers}


def run_job(job_id: str, level: str, out: str | Path, threads: int | None = None, progress: bool = False,
            precision: str = "fp32", data: str | None = None, device: str | None = None) -> str:
    """Run one job (skipping it when finished) and return a one-line summary; `precision` is the
    switcher's in training runs (measurements use each trained run's own)."""
    job, out = Job.parse(job_id), Path(out)
    if job.finished(out):
        return "already finished (use a fresh --out to run it again)"
    with folder_lock(job.folder(out)):  # never two workers on one job
        if job.finished(out):  # another process finished it while this one waited to start
            return "already finished (use a fresh --out to run it again)"
        return _run_locked(job, level, out, threads, progress, precision, data, device)


def _run_locked(job: Job, level: str, out: Path, threads: int | None, progress: bool, precision: str,
                data: str | None, device: str | None) -> str:
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        if job.stage == "train":
            results, line = _train(job, level, out, progress, precision, data, device)
        else:
            results, line = MEASURE_BODIES[job.kind](job, level, out, progress)
        provenance = _provenance(job, level, out, threads, precision, time.perf_counter() - start, data, device)
        for kind, metrics in results.items():  # in order: the last one marks the job finished
            write_metrics(job.folder(out, kind), {**metrics, "command": provenance["command"],
                                                  "provenance": provenance})
        return line
    finally:
        torch.set_num_threads(previous)


# -- a whole study ---------------------------------------------------------------------------------
@dataclass
class _Ledger:
    """What became of each job in one run of a study, logged and counted as it happens."""

    out: Path
    level: str
    threads: int
    todo: list[Job]
    log: Callable[[str], None]
    bar: tqdm
    precision: str = "fp32"
    data: str | None = None
    device: str | None = None
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def blocked(self, job: Job) -> list[str]:
        """The jobs `job` needs that failed, were skipped, or will not run in this study."""
        return [n.id for n in job.needs if n.id in self.failed or n.id in self.skipped
                or (not n.finished(self.out) and n not in self.todo)]

    def done(self, job: Job, line: str) -> None:
        self.ran.append(job.id)
        self.log(f"{job.id:<24} {line}")
        self.bar.update()

    def fail(self, job: Job, error: str) -> None:
        self.failed[job.id] = error
        self.log(f"{job.id:<24} FAILED: {error} (rerun alone: {command(job, self.level, self.out, self.threads, self.precision, self.data, self.device)})")
        self.bar.update()

    def skip(self, job: Job, needs: list[str]) -> None:
        self.skipped.append(job.id)
        self.log(f"{job.id:<24} skipped: needs {', '.join(needs)}")
        self.bar.update()


def _run_here(ledger: _Ledger, progress: bool) -> None:
    for job in ledger.todo:
        needs = ledger.blocked(job)
        if needs:
            ledger.skip(job, needs)
            continue
        try:
            ledger.done(job, run_job(job.id, ledger.level, ledger.out, ledger.threads, progress, ledger.precision,
                                     ledger.data, ledger.device))
        except RunStopped:
            raise  # a signal stops the study, not just this job
        except SnnEduError as exc:
            ledger.fail(job, first_line(exc))


def _run_in_workers(ledger: _Ledger, workers: int) -> None:
    """Keep `workers` processes busy, starting each job once the jobs it needs have finished."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            _keep_busy(ledger, workers, pool)
        except RunStopped:
            for child in multiprocessing.active_children():
                child.terminate()  # SIGTERM: each worker's run stops between saves, as this one did
            raise


def _keep_busy(ledger: _Ledger, workers: int, pool: ProcessPoolExecutor) -> None:
    waiting, running = list(ledger.todo), {}
    while waiting or running:
        for job in list(waiting):
            if len(running) >= workers:
                break
            needs = ledger.blocked(job)
            if needs:
                waiting.remove(job)
                ledger.skip(job, needs)
            elif all(n.finished(ledger.out) for n in job.needs):
                waiting.remove(job)
                running[pool.submit(run_job, job.id, ledger.level, str(ledger.out), ledger.threads, False,
                                    ledger.precision, ledger.data, ledger.device)] = job
        if not running:  # nothing can start: what is left waits on jobs outside this plan
            for job in waiting:
                ledger.skip(job, [n.id for n in job.needs if not n.finished(ledger.out)])
            break
        for future in wait(running, return_when=FIRST_COMPLETED).done:
            job = running.pop(future)
            try:
                ledger.done(job, future.result())
            except Exception as exc:  # a worker's error arrives here: one line per job
                ledger.fail(job, first_line(exc))


def run_study(jobs_planned: list[Job], level: str, out: str | Path, workers: int = 1, threads: int | None = None,
              progress: bool = True, log=tqdm.write, argv: str | None = None, precision: str = "fp32",
              data: str | None = None, device: str | None = None, time_budget: float | None = None) -> dict:
    """Run every unfinished job of the plan, `workers` at a time (each with `threads` threads,
    default: the usable cores split between the workers); then write frontier.csv and MANIFEST.json.
    With `time_budget` (seconds) the study stops cleanly once that long has passed, as on SIGTERM:
    the running jobs keep their last good epoch and the same call goes on from there.
    Returns {'ran': [...], 'failed': {id: reason}, 'skipped': [...], 'budget_reached': bool}."""
    if workers < 1:
        raise ConfigError(f"--jobs must be at least 1, got {workers}")
    numeric.check(precision)
    if device and device.startswith("cuda") and workers > 1:  # the jobs share one card: do they fit together?
        check_shared([variant_config(preset(j.model, level, device=device, **({"data": data} if data else {})),
                                     j.kind, j.seed) for j in jobs_planned if j.stage == "train"], device, workers)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or max(1, machine.available_cpus() // workers)
    todo = [j for j in jobs_planned if not j.finished(out)]
    started, start = datetime.now(timezone.utc), time.perf_counter()
    bar = tqdm(total=len(todo), desc=f"{level} study ({workers} x {threads} threads)", disable=not progress)
    ledger = _Ledger(out, level, threads, todo, log, bar, precision, data, device)
    budget_reached = False
    try:
        with stopping_on_signals(time_budget):
            _run_here(ledger, progress) if workers == 1 else _run_in_workers(ledger, workers)
    except RunStopped as stop:
        if stop.signal_name == "SIGALRM":
            budget_reached = True
            log(f"time budget of {time_budget:g} s reached: {len(ledger.ran)} jobs finished in this call, a stopped "
                "training job keeps its last good epoch; the same command goes on from there")
        else:
            raise RunStopped(f"study stopped by {stop.signal_name}: {len(ledger.ran)} jobs finished in this run are kept "
                         "and a stopped training job keeps its last good epoch; the same command goes on from "
                         "there", stop.signal_name) from None
    finally:
        bar.close()
    session = {"command": argv, "started": started.isoformat(timespec="seconds"),
               "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "wall_seconds": time.perf_counter() - start, "jobs_run": len(ledger.ran),
               "jobs_failed": len(ledger.failed), "workers": workers, "threads_per_worker": threads,
               "cpu": machine.cpu_model(), "cores_available": machine.available_cpus()}
    collect(out, jobs_planned, level, session if ledger.ran or ledger.failed else None)
    return {"ran": ledger.ran, "failed": ledger.failed, "skipped": ledger.skipped, "budget_reached": budget_reached}


def live_study(level: str, variants=None, measures=MEASURES, name: str = "study", data: str | None = None,
               models=None) -> Path:
    """A study trained here, as a notebook's TRAIN_LIVE runs it, into a fresh temporary folder:
    the MLP with 2 seeds at the smoke level, `models` (default: both MNIST ones) with 3 seeds
    otherwise, on `data` instead of the level's data set when given; it uses the kernel's torch
    threads (OMP_NUM_THREADS when set)."""
    out = Path(tempfile.mkdtemp(prefix=f"snn_edu_{level}_{name}_"))
    models, seeds = (["mlp"], 2) if level == "smoke" else (list(models or MODELS), 3)
    run_study(plan(models, variants, seeds, measures), level, out, threads=torch.get_num_threads(),
              log=lambda line: None, data=data)
    return out


def _one_or_all(values):
    values = sorted({v for v in values if v is not None}, key=str)
    return values[0] if len(values) == 1 else values


def finished_jobs(out: str | Path) -> list[Job]:
    """Every finished job in a results folder, in plan order (model, then seed)."""
    found = set()
    for path in Path(out).glob(f"*/*/seed*/{METRICS}"):
        model, kind, seed = path.parent.parent.parent.name, path.parent.parent.name, path.parent.name
        kind = "magnitude" if kind == "magnitude_ft" else kind
        if model in ALL_MODELS and kind in (*RUNS, *MEASURES):
            found.add(Job(model, kind, int(seed[4:])))
    order = (*RUNS, *MEASURES)
    return sorted(found, key=lambda j: (ALL_MODELS.index(j.model), j.seed, order.index(j.kind)))


def collect(out: str | Path, jobs_planned: list[Job], level: str, session: dict | None = None) -> None:
    """Write OUT/frontier.csv from every finished frontier and peers job and OUT/MANIFEST.json from every
    finished job's provenance (plus `session`, appended to the sessions already recorded).
    Files that nothing changed are left byte for byte as they were."""
    out = Path(out)
    done = finished_jobs(out)
    metrics = {j.id: read_metrics(j.metrics_path(out).parent) for j in done}
    rows = [r for j in done if j.kind in POINTS for r in metrics[j.id]["rows"]]
    if rows:
        frontier.write_csv(rows, out / "frontier.csv")
    old = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).exists() else {}
    sessions = old.get("sessions", []) + ([session] if session else [])
    planned = sorted(set(old.get("plan", [])) | {j.id for j in jobs_planned})
    finished = {j.id for j in done}
    prov = [m["provenance"] for m in metrics.values() if "provenance" in m]
    manifest = {
        "level": level, "snn_edu": _one_or_all(p["snn_edu"] for p in prov),
        "git_commit": _one_or_all(p["git_commit"] for p in prov), "git_dirty": any(p["git_dirty"] for p in prov),
        "torch": _one_or_all(p["torch"] for p in prov), "python": _one_or_all(p["python"] for p in prov),
        "cpu": _one_or_all(p["cpu"] for p in prov),
        "precision": _one_or_all(p.get("precision", "fp32") for p in prov),
        "cpu_bf16_flags": _one_or_all(",".join(p["cpu_bf16_flags"]) or "none" for p in prov),
        "threads_per_job": _one_or_all(p["threads"] for p in prov),
        "date": max((p["date"] for p in prov), default=None),
        "wall_seconds": sum(s["wall_seconds"] for s in sessions),
        "job_seconds": sum(p["seconds"] for p in prov),
        "sessions": sessions,
        "jobs_finished": len(done), "complete": set(planned) <= finished,
        "missing": [j for j in planned if j not in finished],
        "plan": planned,
    }
    text = json.dumps(manifest, indent=2) + "\n"
    if not (out / MANIFEST).exists() or (out / MANIFEST).read_text() != text:
        (out / MANIFEST).write_text(text)
