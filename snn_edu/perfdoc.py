"""The measured tables of docs/performance.md, generated from the results that ship with the package:
benchmark runs (results/bench/*.json, written by `bench --json`) and the precision-parity study
(results/precision/PRECISION/, written by `reproduce --precision`).

Each table sits in the page between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`;
`python -m snn_edu perf-doc` rewrites them and `--check` (and a test) fails when one is stale.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import torch

from .errors import DataError
from .ablation import mean_std
from .report import minutes
from .runfolder import read_metrics
from .runs import load_run, read_manifest
from .stats import format_rho

PRECISION_RUNS = ("fp32", "bf16")


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def read_bench_runs(folder: str | Path) -> list[dict]:
    """Every benchmark JSON in `folder`, oldest first."""
    paths = sorted(Path(folder).glob("*.json"))
    if not paths:
        raise DataError(f"no benchmark runs in {folder}; run 'python -m snn_edu bench --json {folder}/run1.json'")
    runs = [json.loads(p.read_text()) for p in paths]
    return sorted(runs, key=lambda r: r["provenance"]["date"])


def _machine(run: dict) -> str:
    p = run["provenance"]
    flags = ", ".join(p["cpu_bf16_flags"]) or "none"
    return (f"{run['device_name']} ({run['device']}; bf16 flags: {flags}), {p['threads']} threads, torch {p['torch']}, "
            f"commit `{p['git_commit'][:7]}`{' with uncommitted changes' if p['git_dirty'] else ''}, {p['date']}")


def bench_table(run: dict) -> str:
    """One run's rows: step, evaluation and epoch times and peak memory per configuration."""
    lines = [f"`{run['command']}` on {_machine(run)}:", "",
             "| switcher | mode | precision | TNN step | switcher step | eval / batch (1,000 digits) | "
             "eval / batch (10,000 digits) | epoch | peak memory (before training) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in run["rows"]:
        snn = _ms(r["snn_step_ms"]) if "snn_step_ms" in r else "-"
        memory = f"{r['peak_mb']:,.0f} MB ({r['baseline_mb']:,.0f} MB)" if "peak_mb" in r else "-"
        lines.append(f"| {r['switcher']} | {r['mode']} | {r['precision']} | {_ms(r['tnn_step_ms'])} | {snn} | "
                     f"{_ms(r['eval_batch_ms'])} | {_ms(r['eval_batch_ms_10k'])} | {r['epoch_s']:.2f} s | {memory} |")
    return "\n".join(lines)


def ratio_table(runs: list[dict]) -> str:
    """Ours against the fp32 reference, per switcher and precision, for every run."""
    lines = ["| switcher | precision | run | TNN step | switcher step | epoch | evaluation, 1,000 digits | "
             "evaluation, 10,000 digits |", "|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys(k for run in runs for k in run["ratios"]))
    for key in keys:
        switcher, precision = key.split("/")
        for i, run in enumerate(runs, start=1):
            r = run["ratios"].get(key)
            if r:
                lines.append(f"| {switcher} | {precision} | {i} ({run['provenance']['date'][11:16]} UTC) | "
                             f"{r['tnn_step']:.2f}x | {r['snn_step']:.2f}x | {r['epoch']:.2f}x | "
                             f"{r['eval_speedup']:.1f}x faster | {r['eval_speedup_10k']:.1f}x faster |")
    return "\n".join(lines)


def compile_table(runs: list[dict]) -> str:
    """Runs with compiled switchers: eager against compiled steps, the compiled ratios to the
    reference, and the first step of each phase (compiling, cold or warm cache)."""
    lines = ["| run | switcher | precision | TNN step, eager / compiled | switcher step, eager / compiled | "
             "compiled vs reference (TNN, switcher) | first steps, compiling (TNN + switcher) |",
             "|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs, start=1):
        if not run.get("compile_cache"):
            continue
        cache = "cold cache" if run["compile_cache"]["files_before"] == 0 else "warm cache"
        for c in (r for r in run["rows"] if r["mode"] == "compiled"):
            eager = next(r for r in run["rows"] if r["mode"] == "ours" and r["switcher"] == c["switcher"]
                         and r["precision"] == c["precision"])
            ratio = run["ratios"][f"{c['switcher']}/{c['precision']}+compile"]
            lines.append(f"| {i} ({run['provenance']['date'][11:16]} UTC, {cache}) | {c['switcher']} | {c['precision']} | "
                         f"{_ms(eager['tnn_step_ms'])} / {_ms(c['tnn_step_ms'])} | "
                         f"{_ms(eager['snn_step_ms'])} / {_ms(c['snn_step_ms'])} | "
                         f"{ratio['tnn_step']:.2f}x, {ratio['snn_step']:.2f}x | "
                         f"{c['first_tnn_step_s']:.1f} s + {c['first_snn_step_s']:.1f} s |")
    return "\n".join(lines)


def joint_table(runs: list[dict]) -> str:
    """One switcher per layer against one joint switcher per family, step by step, per network."""
    lines = ["| network | switcher | TNN step: per layer / joint | switcher step: per layer / joint | "
             "joint / per layer (TNN, switcher) | machine |", "|---|---|---|---|---|---|"]
    for run in runs:
        for j in (r for r in run["rows"] if r["mode"] == "joint"):
            ours = next(r for r in run["rows"] if r["mode"] == "ours" and r["switcher"] == j["switcher"]
                        and r["precision"] == j["precision"])
            lines.append(f"| {run['model']} | {j['switcher']} | {_ms(ours['tnn_step_ms'])} / {_ms(j['tnn_step_ms'])} | "
                         f"{_ms(ours['snn_step_ms'])} / {_ms(j['snn_step_ms'])} | "
                         f"{j['tnn_step_ms'] / ours['tnn_step_ms']:.2f}x, {j['snn_step_ms'] / ours['snn_step_ms']:.2f}x | "
                         f"{_machine(run)}; `{run['command']}` |")
    return "\n".join(lines)


def agreement_table(run: dict) -> str:
    """How the lower-precision gates agree with the fp32 gates of the same weights."""
    lines = ["| switcher | precision | gate mode | layer | largest difference (% of the largest gate) | "
             "Spearman | pruned, fp32 | pruned, lower | pruned in one only |", "|---|---|---|---|---|---|---|---|---|"]
    for switcher, per_precision in run["gate_agreement"].items():
        for precision, modes in per_precision.items():
            for mode, layers in modes.items():
                for name, a in layers.items():
                    lines.append(f"| {switcher} | {precision} | {mode} | {name} | {a['max_abs_diff']:.4f} "
                                 f"({100 * a['max_rel_diff']:.2f} %) | {format_rho(a['spearman'])} | "
                                 f"{a['pruned_fp32']} | {a['pruned_low']} | {a['pruned_disagree']} of {a['units']} |")
    return "\n".join(lines)


def _pruned_inputs(folder: Path) -> torch.Tensor:
    """fc1's pruned inputs (evaluation gate == 0) after the run's last epoch."""
    return load_run(folder, with_model=False).history.epochs[-1]["gates_eval"]["fc1"] == 0


def _jaccard(a: torch.Tensor, b: torch.Tensor) -> str:
    union = int((a | b).sum())
    return "n/a (neither prunes an input)" if union == 0 else f"{int((a & b).sum()) / union:.2f}"


def precision_table(root: str | Path, model: str = "mlp", variant: str = "al") -> str:
    """Per seed and as mean ± std, for each precision: raw test accuracy, pruned architecture,
    params removed, training seconds and fc1's gate categories; then how far the pruned inputs of
    fc1 overlap between the precisions (and, for scale, between two seeds in fp32)."""
    root = Path(root)
    runs = {}
    for precision in PRECISION_RUNS:
        manifest = read_manifest(root / precision)
        folders = sorted((root / precision / model / variant).glob("seed*"), key=lambda p: int(p.name[4:]))
        runs[precision] = (manifest, [(int(f.name[4:]), f, read_metrics(f)) for f in folders])
    lines = ["| precision | seed | test accuracy | pruned architecture | params removed | training time "
             "| fc1 pruned / weakened / strengthened |", "|---|---|---|---|---|---|---|"]
    for precision, (_, seeds) in runs.items():
        for seed, _, m in seeds:
            c = m["gate_categories"]["fc1"]
            lines.append(f"| {precision} | {seed} | {m['test_accuracy']:.2f} % | {m['pruned_architecture']} | "
                         f"{m['params_removed_pct']:.2f} % | {sum(m['seconds_per_epoch']):.0f} s | "
                         f"{c['pruned']} / {c['weakened']} / {c['strengthened']} |")
    for precision, (_, seeds) in runs.items():
        ms = [m for _, _, m in seeds]
        units = [[int(u) for u in m["pruned_architecture"].split("-")] for m in ms]
        layers = list(zip(*units))
        arch = ("-".join(f"{statistics.mean(u):.0f}" for u in layers)
                + (f" (± {', '.join(f'{statistics.stdev(u):.0f}' for u in layers)})" if len(ms) > 1 else ""))
        lines.append(f"| **{precision}, mean ± std** | {len(ms)} seeds | "
                     f"{mean_std([m['test_accuracy'] for m in ms], '.2f')} % | {arch} | "
                     f"{mean_std([m['params_removed_pct'] for m in ms], '.2f')} % | "
                     f"{mean_std([sum(m['seconds_per_epoch']) for m in ms], '.0f')} s | |")
    pruned = {p: {seed: _pruned_inputs(f) for seed, f, _ in seeds} for p, (_, seeds) in runs.items()}
    common = sorted(set(pruned["fp32"]) & set(pruned["bf16"]))
    overlap = "; ".join(f"seed {s}: {_jaccard(pruned['fp32'][s], pruned['bf16'][s])}" for s in common)
    fp32_seeds = sorted(pruned["fp32"])
    scale = "; ".join(f"seeds {a} and {b}: {_jaccard(pruned['fp32'][a], pruned['fp32'][b])}"
                      for i, a in enumerate(fp32_seeds) for b in fp32_seeds[i + 1:])
    commands = "; ".join(f"`{m['sessions'][-1]['command']}`" for m, _ in runs.values() if m.get("sessions"))
    first = runs["fp32"][0]
    return "\n".join(lines) + (
        f"\n\nOverlap of fc1's pruned inputs (Jaccard index, 1 = the same pixels), bf16 against fp32 run of the same "
        f"seed: {overlap}. For scale, between fp32 runs of different seeds: {scale}.\n\n"
        f"Run by {commands}; {first['cpu']} (bf16 flags: {first['cpu_bf16_flags']}), "
        f"{first['threads_per_job']} threads per job, torch {first['torch']}, commit `{str(first['git_commit'])[:7]}`"
        f"{' with uncommitted changes' if any(m['git_dirty'] for m, _ in runs.values()) else ''}.")


def memory_table(path: Path) -> str:
    """The memory of one training step per CIFAR network and switcher (snn_edu.memory)."""
    from .memory import format_row

    data = json.loads(path.read_text())
    p = data["provenance"]
    lines = ["| network | switcher | estimate | measured step | fits |", "|---|---|---|---|---|"]
    lines += [format_row(r) for r in data["rows"]]
    return "\n".join(lines) + (
        f"\n\nOne TNN step and one switcher step, batch {data['batch_size']} of 32x32 colour images, 10 classes, "
        f"on {data['device']}; measured: the resident set's growth in a fresh process (CPU) over the model and data "
        f"already loaded. Run by `{data['command']}`; {p['cpu']}, torch {p['torch']}, commit "
        f"`{str(p['git_commit'])[:7]}`{' with uncommitted changes' if p.get('git_dirty') else ''}.")


def profile_table(runs: list[dict]) -> str:
    """Each profiled row's work per step (bench --profile): aten ops and CPU time on any device,
    kernel launches and GPU time on CUDA ('-' where a device has none)."""
    lines = ["| device | switcher | mode | precision | TNN step | aten ops / TNN step | CPU / TNN step | "
             "launches / TNN step | GPU / TNN step | switcher step | aten ops / switcher step | CPU / switcher step | "
             "launches / switcher step | GPU / switcher step |", "|---" * 14 + "|"]
    cell = lambda r, k, fmt: format(r[k], fmt) if k in r else "-"  # noqa: E731
    for run in runs:
        for r in (r for r in run["rows"] if "tnn_aten_ops" in r):
            phases = " | ".join(
                f"{_ms(r[f'{p}_step_ms']) if f'{p}_step_ms' in r else '-'} | {cell(r, f'{p}_aten_ops', ',.0f')} | "
                f"{cell(r, f'{p}_cpu_ms', '.1f')} ms | {cell(r, f'{p}_launches', ',.0f')} | "
                + (f"{r[f'{p}_gpu_ms']:.2f} ms" if f"{p}_gpu_ms" in r else "-") for p in ("tnn", "snn"))
            lines.append(f"| {run['device_name']} | {r['switcher']} | {r['mode']} | {r['precision']} | {phases} |")
    commands = "; ".join(f"`{run['command']}` on {_machine(run)}" for run in runs)
    return "\n".join(lines + ["", f"Measured by {commands}."])


def study_sessions_table(root: str | Path, studies=("cpu", "cpu-fashion5k")) -> str:
    """Every recorded session of the shipped cpu-level studies: its command, workers, jobs and wall time."""
    lines = ["| study | command | date | workers x threads | jobs run | wall time |", "|---|---|---|---|---|---|"]
    for study in studies:
        for s in read_manifest(Path(root) / study).get("sessions", []):
            lines.append(f"| `results/{study}` | `{s['command']}` | {s['started'][:10]} | "
                         f"{s['workers']} x {s['threads_per_worker']} | {s['jobs_run']} | {minutes(s['wall_seconds'])} ({s['wall_seconds']:,.0f} s) |")
    return "\n".join(lines)


def blocks(root: str | Path) -> dict[str, str]:
    """Every generated table of the page, by name, from the results under `root`."""
    root = Path(root)
    runs = read_bench_runs(root / "bench")
    plain = [r for r in runs if not r.get("compile_cache")]
    return {"bench-rows": bench_table(plain[0]), "bench-ratios": ratio_table(plain), "bench-compile": compile_table(runs),
            "bench-gates": agreement_table(plain[0]), "precision-parity": precision_table(root / "precision"),
            "memory-networks": memory_table(root / "memory" / "cpu.json"), "study-sessions": study_sessions_table(root),
            "bench-joint": joint_table(read_bench_runs(root / "bench-joint")),
            "bench-profile": profile_table(read_bench_runs(root / "bench-profile")
                                           + (read_bench_runs(root / "bench-cuda") if (root / "bench-cuda").is_dir()
                                              else []))}


def render(page_text: str, tables: dict[str, str]) -> str:
    """`page_text` with each generated block replaced by its table."""
    for name, table in tables.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
        if not pattern.search(page_text):
            raise DataError(f"the page has no block '<!-- generated:{name} -->'")
        page_text = pattern.sub(lambda m: m[1] + table + "\n" + m[2], page_text)
    return page_text


def sync(page: str | Path, root: str | Path, check: bool = False) -> bool:
    """Rewrite the page's generated tables (or, with `check`, only compare); True when it was current."""
    page = Path(page)
    text = page.read_text()
    new = render(text, blocks(root))
    if new != text and not check:
        page.write_text(new)
    return new == text
