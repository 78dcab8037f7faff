"""One sitting of the paper-scale study on a GPU lent for a few minutes at a time.

Each call benchmarks the device once (bench --profile, written to RESULTS/bench-DEVICE/), then
works on the resumable study (snn_edu.paperscale) with all its jobs sharing the device until the
time budget is spent, stops cleanly and writes RESULTS/paper-fashion/progress.json; the next
call goes on where this one stopped. The data travel beside the command: a `fashion-mnist/`
folder with the four IDX files in $SNN_EDU_DATA (snn_edu.data), never committed.

    SNN_EDU_DATA=data python -m snn_edu gpu-sitting --budget 480 --jobs 6
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import torch

from .bench import run_bench
from .models import MODELS
from .paperscale import write_progress
from .study import plan, run_study
from .training import resolve_device

STUDY = "paper-fashion"
# bench rows per level: the paper level times both switchers in fp32 and bf16; smoke checks the path
BENCH = {"paper": dict(steps=8, train_size=1024, switchers=("lite", "paper"), precisions=("fp32", "bf16")),
         "smoke": dict(steps=1, train_size=128, test_size=128, switchers=("lite",), precisions=("fp32",),
                       memory=False)}


def device_name(device: str) -> str:
    dev = resolve_device(device)
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"


def sitting(results: str | Path = "results", budget: float = 480, jobs: int = 4, device: str = "cuda",
            level: str = "paper", data: str = "fashion-mnist", seeds: int = 3, log=print,
            argv: str | None = None) -> dict:
    """Bench once per device, then the study within what is left of `budget` seconds; returns
    {'bench': path, 'study': run_study's result or None, 'progress': path}."""
    start = time.perf_counter()
    results = Path(results)
    name = device_name(device)
    bench_path = results / f"bench-{resolve_device(device).type}" / (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
                                                                      + ".json")
    if not bench_path.exists():
        bench = run_bench("mlp", device=device, profile=True, log=log, command=argv,
                          **BENCH["smoke" if level.startswith("smoke") else "paper"])
        bench_path.parent.mkdir(parents=True, exist_ok=True)
        bench_path.write_text(json.dumps(bench, indent=2) + "\n")
        log(f"wrote {bench_path}")
    jobs_planned = plan(list(MODELS), ["al"], seeds, ())
    out = results / STUDY
    left = budget - (time.perf_counter() - start)
    study = None
    if left >= 1:
        study = run_study(jobs_planned, level, out, workers=jobs, progress=False, log=log, argv=argv, data=data,
                          device=device, time_budget=max(1, int(left)))
    else:
        log(f"the bench spent the budget of {budget:g} s; the study waits for the next sitting")
    return {"bench": bench_path, "study": study, "progress": write_progress(out, jobs_planned, name)}
