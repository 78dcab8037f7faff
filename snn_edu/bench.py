"""Benchmark: step, evaluation and epoch times of the dense TNN and both switchers, against a
reference mode that does the release's redundant work, all measured side by side in one run.

Reference mode (our own re-creation of what the authors' code does):
* the gate is recomputed for every batch, in training and in evaluation;
* gradients are computed for every parameter in both phases, and the frozen network's
  gradients are then thrown away;
* the switcher computes with PyTorch's stock modules (ConvTranspose2d, a (1, W) Conv2d, the
  stock conv backward, BatchNorm2d without folding), as the release does.
The maths is the same as ours; only the work differs. The reference always computes in fp32;
ours is timed in each precision asked for (fp32 and bf16 by default), all interleaved.
"""
from __future__ import annotations

import multiprocessing as mp
import statistics
import time

import torch

from . import machine
from . import precision as numeric
from .compiled import cache_dir as compiled_cache_dir
from .data import load_dataset, subset
from .errors import ConfigError
from .stats import format_rho
from .training import Trainer, TrainConfig, evaluate, resolve_device

SWITCHERS = ("dense", "lite", "paper")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def make_trainer(model: str, switcher: str, reference: bool, data, device: str, seed: int,
                 precision: str = "fp32", compiled: bool = False, scope: str = "layer") -> Trainer:
    config = TrainConfig(model=model, switcher="lite" if switcher == "dense" else switcher,
                         schedule="dense" if switcher == "dense" else "alternate", warmup_epochs=0,
                         record_images=False, device=device, seed=seed, precision=precision, compile=compiled,
                         switcher_scope=scope)
    return Trainer(config, *data, progress=False, reference=reference)


def step_ms(trainers: list[Trainer], phase: str, steps: int, warmup: int = 2) -> list[tuple[float, float]]:
    """(median milliseconds of one SGD step in `phase`, seconds of the first step, which includes
    any compiling) for each trainer; the trainers take turns step by step, so that a noisy
    neighbour slows them alike."""
    for trainer in trainers:
        trainer.enter_phase(phase)
    times: list[list[float]] = [[] for _ in trainers]
    for i in range(warmup + steps):
        for trainer, record in zip(trainers, times):
            x, y, bs = trainer.train_x, trainer.train_y, trainer.config.batch_size
            lo = (i * bs) % (len(y) - bs)
            record.append(_timed(lambda: trainer.step(x[lo:lo + bs], y[lo:lo + bs]), trainer.device))
    return [(1000 * statistics.median(record[warmup:]), record[0]) for record in times]


LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")


def profile_steps(trainer: Trainer, phase: str, steps: int = 4) -> dict:
    """Per step of `phase`, from torch.profiler: aten op calls (nested ones included), the CPU's
    self time, and on CUDA the kernel launches and the GPU's kernel time. An aten op is not a
    launch: the CPU runs its own convolution path, so each figure stands with its device."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = trainer.device.type == "cuda"
    trainer.enter_phase(phase)
    x, y, bs = trainer.train_x, trainer.train_y, trainer.config.batch_size
    trainer.step(x[:bs], y[:bs])  # warm-up: lazy initialisation stays out of the count
    _sync(trainer.device)
    with profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * cuda) as prof:
        for i in range(steps):
            lo = (i * bs) % (len(y) - bs)
            trainer.step(x[lo:lo + bs], y[lo:lo + bs])
        _sync(trainer.device)
    events = prof.events()
    key = "tnn" if phase == "dense" else phase
    out = {f"{key}_aten_ops": sum(e.name.startswith("aten::") for e in events) / steps,
           f"{key}_cpu_ms": sum(e.self_cpu_time_total for e in events if e.device_type == DeviceType.CPU) / 1000 / steps}
    if cuda:
        device_time = lambda e: getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)  # noqa: E731
        out[f"{key}_launches"] = sum(e.name in LAUNCHES for e in events) / steps
        out[f"{key}_gpu_ms"] = sum(device_time(e) for e in events if e.device_type == DeviceType.CUDA) / 1000 / steps
    return out


def eval_ms(trainer: Trainer, n_digits: int | None = None, repeats: int = 3) -> float:
    """Milliseconds per evaluation batch over a pass of `n_digits` test digits (the test set
    repeated as needed; default: the test set once), best of `repeats`."""
    x, y = trainer.test_x, trainer.test_y
    if n_digits:
        reps = -(-n_digits // len(y))
        x, y = x.repeat(reps, 1, 1, 1)[:n_digits], y.repeat(reps)[:n_digits]
    bs = trainer.config.batch_size
    run = lambda: evaluate(trainer.model, x, y, bs, cache_gates=not trainer.reference)  # noqa: E731
    run()  # warm-up
    return 1000 * min(_timed(run, trainer.device) for _ in range(repeats)) / -(-len(y) // bs)


def epoch_s(trainer: Trainer) -> float:
    """Seconds for one TNN-phase epoch over the training subset plus its evaluation."""
    return _timed(lambda: (trainer.train_epoch(0), trainer.evaluate()), trainer.device)


def _exercise(model, switcher, reference, train_size, device, precision, compiled, before=lambda: None) -> None:
    """A few steps in each phase and one evaluation; `before` runs once everything is loaded."""
    train, test = load_dataset("mnist5k")
    trainer = make_trainer(model, switcher, reference, (subset(train, train_size), test), device, 0, precision,
                           compiled)
    before()
    for phase in (("dense",) if switcher == "dense" else ("tnn", "snn")):
        step_ms([trainer], phase, steps=2, warmup=0)
    trainer.evaluate()


def _peak_child(model, switcher, reference, train_size, precision, compiled, queue):
    baseline = []
    _exercise(model, switcher, reference, train_size, "cpu", precision, compiled,
              lambda: baseline.append(machine.reset_peak_rss()))
    queue.put((machine.peak_rss_mb(), baseline[0]))


def peak_memory_mb(model, switcher, reference, train_size, device, precision="fp32",
                   compiled=False) -> tuple[float, float]:
    """(peak, baseline) memory in MB of a few steps and an evaluation: GPU allocations on CUDA
    (baseline 0), else the resident set of a fresh CPU process while it trains, and before it
    started (torch, the model and the data set loaded)."""
    if device.type == "cuda":
        _exercise(model, switcher, reference, train_size, str(device), precision, compiled,
                  lambda: torch.cuda.reset_peak_memory_stats(device))
        return torch.cuda.max_memory_allocated(device) / 2**20, 0.0
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(model, switcher, reference, train_size, precision, compiled, queue))
    proc.start()
    value = queue.get(timeout=600)
    proc.join()
    return value


def _precisions(requested, dev: torch.device, log) -> list[str]:
    """The effective precisions to time, each once (a fallback to fp32 is logged, not timed twice)."""
    out = []
    for p in requested:
        effective = numeric.resolve(p, dev, warn=lambda line: log(f"{line}; {p} not timed"))
        if effective not in out:
            out.append(effective)
    return out


def run_bench(model: str = "mlp", steps: int = 8, train_size: int = 1024, device: str = "auto",
              seed: int = 0, memory: bool = True, log=print, test_size: int | None = None,
              precisions=("fp32", "bf16"), command: str | None = None, compiled: bool = False,
              switchers=SWITCHERS, joint: bool = False, profile: bool = False) -> dict:
    """Measure every configuration in one run; returns rows, the ours/reference ratios and, per
    lower precision, how its gates agree with fp32's for the same weights. `compiled` adds ours
    with torch.compile'd switchers in each precision; their first step (compiling) is reported.
    `switchers` picks among dense, lite and paper (the dense TNN is always timed: the ratios use it).
    `joint` adds ours in fp32 with one joint switcher per family (snn_edu.joint; mode 'joint').
    `profile` adds each row's aten ops, CPU time and (CUDA) kernel launches per step (profile_steps)."""
    unknown = [s for s in switchers if s not in SWITCHERS]
    if unknown:
        raise ConfigError(f"unknown switcher {unknown[0]!r} for bench; choose among {', '.join(SWITCHERS)}")
    switchers = [s for s in SWITCHERS if s == "dense" or s in switchers]
    if steps < 1 or train_size <= 64:
        raise ConfigError(f"bench needs --steps >= 1 and --train-size above the batch size (64), "
                          f"got {steps} and {train_size}")
    dev = resolve_device(device)
    precisions = _precisions(precisions, dev, log)
    cache = None
    if compiled:  # whether inductor's cache held kernels already: a cold or a warm compile
        folder = compiled_cache_dir()
        cache = {"dir": str(folder), "files_before": sum(1 for p in folder.rglob("*") if p.is_file())
                 if folder.exists() else 0}
    train, test = load_dataset("mnist5k")
    if train_size > len(train):
        raise ConfigError(f"--train-size {train_size} is larger than mnist5k's {len(train):,} training digits")
    test = subset(test, test_size, seed) if test_size else test
    data = (subset(train, train_size, seed), test)
    rows, agreement = [], {}
    for switcher in switchers:
        # (reference, precision, compiled, scope) of each trainer, timed side by side
        modes = [(False, "fp32", False, "layer")] if switcher == "dense" else (
            [(False, p, False, "layer") for p in precisions] + [(False, p, True, "layer") for p in precisions if compiled]
            + [(False, "fp32", False, "joint")] * joint + [(True, "fp32", False, "layer")])
        trainers = []
        for reference, precision, comp, scope in modes:
            torch.manual_seed(seed)
            trainers.append(make_trainer(model, switcher, reference, data, str(dev), seed, precision, comp, scope))
        group = [{"switcher": switcher, "precision": p,
                  "mode": "reference" if r else "compiled" if c else "joint" if scope == "joint" else "ours"}
                 for r, p, c, scope in modes]
        for phase in (("dense",) if switcher == "dense" else ("tnn", "snn")):
            key = "tnn" if phase == "dense" else phase
            for row, (ms, first), (_, _, comp, _) in zip(group, step_ms(trainers, phase, steps), modes):
                row[f"{key}_step_ms"] = ms
                if comp:
                    row[f"first_{key}_step_s"] = first
        for row, trainer, (reference, precision, comp, scope) in zip(group, trainers, modes):
            row["eval_batch_ms"] = eval_ms(trainer)
            # the reference recomputes the gate for every batch, so its cost per batch does not
            # depend on the pass length; ours is amortised over the whole pass
            row["eval_batch_ms_10k"] = row["eval_batch_ms"] if reference else eval_ms(trainer, 10_000)
            if comp:
                epoch_s(trainer)  # an epoch's mix of phases and gate modes compiles a few more graphs
            row["epoch_s"] = epoch_s(trainer)
            if profile:
                for phase in (("dense",) if switcher == "dense" else ("tnn", "snn")):
                    row.update(profile_steps(trainer, phase))
            if memory and scope == "layer":
                row["peak_mb"], row["baseline_mb"] = peak_memory_mb(model, switcher, reference, train_size, dev,
                                                                     precision, comp)
            rows.append(row)
            log(format_row(row))
        if switcher != "dense":
            # the fp32 trainer's weights after its timed steps: gates in every precision from them
            agreement[switcher] = {p: {mode: numeric.gate_agreement(trainers[0].model, p, mode)
                                       for mode in ("eval", "train")} for p in precisions if p != "fp32"}
    return {"model": model, "device": str(dev), "device_name": _device_name(dev), "torch": torch.__version__,
            "cpu_bf16_flags": machine.cpu_bf16_flags() if dev.type == "cpu" else None,
            "threads": torch.get_num_threads(), "train_size": train_size, "test_size": len(test.tensors[1]),
            "batch_size": 64, "steps": steps, "precisions": precisions, "command": command,
            "compile_cache": cache, "provenance": machine.provenance(), "rows": rows, "ratios": ratios(rows),
            "gate_agreement": agreement}


def _row(rows, switcher, mode, precision="fp32") -> dict | None:
    return next((r for r in rows if r["switcher"] == switcher and r["mode"] == mode
                 and r.get("precision", "fp32") == precision), None)


def ratios(rows: list[dict]) -> dict:
    """Per 'switcher/precision': ours / reference for training steps and epochs, reference / ours
    for evaluation (the reference computes in fp32)."""
    out = {}
    dense = _row(rows, "dense", "ours")
    for ours in rows:
        if ours["switcher"] == "dense" or ours["mode"] == "reference":
            continue
        ref = _row(rows, ours["switcher"], "reference")
        suffix = {"compiled": "+compile", "joint": "+joint"}.get(ours["mode"], "")
        out[f"{ours['switcher']}/{ours.get('precision', 'fp32')}{suffix}"] = {
            "tnn_step": ours["tnn_step_ms"] / ref["tnn_step_ms"],
            "snn_step": ours["snn_step_ms"] / ref["snn_step_ms"],
            "epoch": ours["epoch_s"] / ref["epoch_s"],
            "eval_speedup": ref["eval_batch_ms"] / ours["eval_batch_ms"],
            "eval_speedup_10k": ref["eval_batch_ms_10k"] / ours["eval_batch_ms_10k"],
            "tnn_step_vs_dense": ours["tnn_step_ms"] / dense["tnn_step_ms"],
        }
    return out


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return machine.cpu_model()


def format_row(row: dict) -> str:
    cell = lambda key, fmt: format(row[key], fmt) if key in row else "-"  # noqa: E731
    first = (f"  first steps (compiling) {row['first_tnn_step_s']:.1f} s + {row['first_snn_step_s']:.1f} s"
             if "first_tnn_step_s" in row else "")
    return (f"{row['switcher']:<6} {row['mode']:<9} {row.get('precision', 'fp32'):<5} "
            f"tnn step {cell('tnn_step_ms', '8.1f')} ms  "
            f"snn step {cell('snn_step_ms', '8.1f')} ms  eval/batch {cell('eval_batch_ms', '7.2f')} ms  "
            f"(10k pass {cell('eval_batch_ms_10k', '7.2f')} ms)  epoch {cell('epoch_s', '6.2f')} s  "
            f"peak {cell('peak_mb', '5.0f')} MB (before training {cell('baseline_mb', '5.0f')} MB)" + first)


def format_profile(row: dict) -> str:
    """One line: a row's profiled work per step, phase by phase."""
    parts = []
    for key in ("tnn", "snn"):
        if f"{key}_aten_ops" in row:
            parts.append(f"{key} {row[f'{key}_aten_ops']:.0f} aten ops, {row[f'{key}_cpu_ms']:.1f} ms CPU"
                         + (f", {row[f'{key}_launches']:.0f} launches, {row[f'{key}_gpu_ms']:.2f} ms GPU"
                            if f"{key}_launches" in row else ""))
    return f"{row['switcher']:<6} {row['mode']:<9} {row.get('precision', 'fp32'):<5} " + "; ".join(parts)


def format_agreement(name: str, a: dict) -> str:
    """One line: how a layer's lower-precision gate agrees with its fp32 gate."""
    return (f"{name:<5} max |diff| {a['max_abs_diff']:.4f} ({100 * a['max_rel_diff']:.2f} % of the largest gate), "
            f"Spearman {format_rho(a['spearman'])}, pruned {a['pruned_fp32']} (fp32) vs {a['pruned_low']}, "
            f"{a['pruned_disagree']} of {a['units']} units pruned in one only")


def format_report(result: dict) -> str:
    flags = result.get("cpu_bf16_flags")
    hardware = result["device_name"] + (f", bf16 flags: {', '.join(flags) or 'none'}" if flags is not None else "")
    lines = [f"{result['model']} on {result['device']} ({hardware}; torch {result['torch']}, "
             f"{result['threads']} threads); epoch = {result['train_size']} training digits + "
             f"{result['test_size']} test digits, batch {result['batch_size']}"]
    lines += [format_row(r) for r in result["rows"]]
    lines.append("ratios against the fp32 reference, measured in this run (targets: training step <= 0.5x "
                 "reference, evaluation >= 20x faster):")
    for key, r in result["ratios"].items():
        lines.append(f"  {key:<19} tnn step {r['tnn_step']:.2f}x  snn step {r['snn_step']:.2f}x  "
                     f"epoch {r['epoch']:.2f}x  evaluation {r['eval_speedup']:.1f}x faster "
                     f"({r['eval_speedup_10k']:.1f}x over a 10,000-digit pass)  "
                     f"(tnn step {r['tnn_step_vs_dense']:.0f}x the dense TNN's)")
    profiled = [r for r in result["rows"] if "tnn_aten_ops" in r]
    if profiled:
        lines.append("per step, from torch.profiler (aten op calls, nested ones included; CPU self time; on CUDA, "
                     "kernel launches and GPU kernel time):")
        lines += [f"  {format_profile(r)}" for r in profiled]
    for switcher, per_precision in result.get("gate_agreement", {}).items():
        for precision, modes in per_precision.items():
            for mode, layers in modes.items():
                lines.append(f"gates, {switcher} switcher, {precision} against fp32, {mode} mode, same weights:")
                lines += [f"  {format_agreement(name, a)}" for name, a in layers.items()]
    return "\n".join(lines)
