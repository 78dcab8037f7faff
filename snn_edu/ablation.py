"""The ablation study: SNN-AL vs SNN-SL vs dense, magnitude pruning at matched sparsity,
controls that feed the switcher something other than the weights, and the connection strategy.

`snn_edu.study` runs the variants (`python -m snn_edu reproduce` or `ablation`); this module
defines them, prunes the dense run to the AL run's architecture, and summarises the runs.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from . import analysis
from .attribution import kernel_l1
from .frontier import ranked_masks
from .models import GatedNet
from .metrics import CHANCE_LEVEL, collapse_of, near_chance_clause
from .paper import REPORTED
from .runfolder import HISTORY, METRICS, read_file
from .training import History, Trainer, TrainConfig, evaluate
from .stats import paired_verdict
from .variants import VARIANTS

# the variants themselves live in snn_edu.variants, beside the jobs that run them
DERIVED = {
    "magnitude": "dense run pruned by L1 norm to the AL run's surviving units per layer, no fine-tuning",
    "magnitude_ft": "the same, then fine-tuned with the mask fixed",
}
PAPER_ROWS = {"al": "SNN (AL, neuron)", "sl": "SNN-SL (neuron)", "dense": "dense baseline",
              "connection": "SNN (connection, 2nd paper)"}




def magnitude_masks(model: GatedNet, alive_counts: list[int]) -> dict[str, torch.Tensor]:
    """Per gated layer, a 0/1 mask keeping the units with the largest L1 norm (linear inputs:
    their weight rows; conv filters: their kernels), as many as `alive_counts` says, chosen among
    the units the layers before still feed (frontier.ranked_masks)."""
    layers = model.gated_layers()
    scores = {name: kernel_l1(layer) for name, layer in layers.items()}
    masks = ranked_masks(model, scores, dict(zip(layers, alive_counts)))
    return {name: m.float() for name, m in masks.items()}


def _metrics_for(trainer: Trainer, seconds: float, epochs: int) -> dict:
    result = evaluate(trainer.model, trainer.test_x, trainer.test_y, trainer.config.batch_size)
    return {"test_accuracy": result["test_accuracy"], "diverged": False, "divergence": None,
            **analysis.gate_summary(trainer.model, result["gates"]), "epochs": epochs,
            "seconds_per_epoch": [seconds / max(epochs, 1)] * epochs, "total_seconds": seconds}


def magnitude_metrics(dense_model: GatedNet, al_metrics: dict, config: TrainConfig, train, test,
                      finetune_epochs: int) -> dict[str, dict]:
    """{'magnitude': ..., 'magnitude_ft': ...}: the dense model pruned by L1 norm to the AL run's
    surviving units per layer, evaluated, then fine-tuned with the mask fixed and evaluated."""
    counts = [int(n) for n in al_metrics["pruned_architecture"].split("-")]
    trainer = Trainer(config, train, test, model=dense_model, progress=False)
    for name, mask in magnitude_masks(trainer.model, counts).items():
        trainer.model.gated_layers()[name].set_fixed_gate(mask)
    trainer.model.set_gated(True)
    out = {"magnitude": _metrics_for(trainer, 0.0, 0)}
    start = time.perf_counter()
    for epoch in range(finetune_epochs):
        trainer.train_epoch(epoch, phase="tnn")  # the mask is a fixed gate: TNN phase with it on
    out["magnitude_ft"] = _metrics_for(trainer, time.perf_counter() - start, finetune_epochs)
    return out


def load_runs(out: str | Path, kinds=(*VARIANTS, *DERIVED)) -> dict[str, list[dict]]:
    """{kind: [metrics of each seed]} for every finished run of `kinds` under `out` (default: the ablation's)."""
    runs: dict[str, list[dict]] = {}
    for path in sorted(Path(out).glob(f"*/seed*/{METRICS}")):
        if path.parent.parent.name in kinds:
            runs.setdefault(path.parent.parent.name, []).append(json.loads(path.read_text()))
    return runs


def load_histories(out: str | Path, kinds=tuple(VARIANTS)) -> dict[str, History]:
    """{'kind/seedK': History} for every trained run of `kinds` under `out` (for the widgets)."""
    return {f"{p.parent.parent.name}/{p.parent.name}": History.from_dict(read_file(p))
            for p in sorted(Path(out).glob(f"*/seed*/{HISTORY}")) if p.parent.parent.name in kinds}


def mean_std(values: list[float], fmt: str = ".2f") -> str:
    """'mean ± std' of `values` (the value alone for one, '-' for none)."""
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{statistics.mean(values):{fmt}} ± {statistics.stdev(values):{fmt}}"


def mean_architecture(metrics: list[dict]) -> str:
    """The pruned architecture averaged layer by layer over runs ('-' for none)."""
    archs = [[int(n) for n in m["pruned_architecture"].split("-")] for m in metrics]
    return "-".join(str(round(statistics.mean(col))) for col in zip(*archs)) or "-"


def collapsed(metrics: dict) -> bool:
    """Whether a run collapsed (snn_edu.metrics.collapse_of), judged from its per-epoch accuracies."""
    if "phases" not in metrics or not metrics.get("test_accuracy_per_epoch"):  # derived runs (magnitude)
        return False
    return collapse_of(metrics["test_accuracy_per_epoch"], metrics["phases"]) is not None


def zeroed_pct(metrics: dict) -> float | None:
    """A run's weights zeroed (%): recorded, or, for a neuron-strategy run counted before the field
    existed, its params removed (a neuron gate zeroes exactly what it removes); None otherwise."""
    if "weights_zeroed_pct" in metrics:
        return metrics["weights_zeroed_pct"]
    return metrics["params_removed_pct"] if metrics["config"].get("strategy", "neuron") == "neuron" else None


def summary_rows(runs: dict[str, list[dict]]) -> list[dict]:
    """Mean ± std over the seeds that finished (diverged ones are counted apart, collapsed ones
    are counted in and named), with the paper's numbers where it has them."""
    model = next(iter(runs.values()))[0]["config"]["model"]
    paper = {row[0]: row for row in REPORTED[model]}
    rows = []
    for variant in [v for v in list(VARIANTS) + list(DERIVED) if v in runs]:
        ms = runs[variant]
        finished = [m for m in ms if m["test_accuracy"] is not None]
        p = paper.get(PAPER_ROWS.get(variant, ""), ("", "", "", ""))
        rows.append({
            "variant": variant, "seeds": len(ms), "diverged": sum(bool(m.get("diverged")) for m in ms),
            "collapsed": sum(collapsed(m) for m in finished),
            "accuracy": mean_std([m["test_accuracy"] for m in finished]),
            "architecture": mean_architecture(finished),
            "params_removed": mean_std([m["params_removed_pct"] for m in finished]),
            "weights_zeroed": mean_std([z for m in finished if (z := zeroed_pct(m)) is not None])
            if all(zeroed_pct(m) is not None for m in finished) else "n/a",
            "seconds": mean_std([m.get("total_seconds", sum(m["seconds_per_epoch"])) for m in finished], ".0f"),
            "paper_accuracy": p[1], "paper_architecture": p[2], "paper_removed": p[3],
        })
    return rows


def summary_markdown(runs: dict[str, list[dict]]) -> str:
    """The results table (mean ± std over seeds) as markdown."""
    lines = ["| variant | seeds | test acc % | pruned arch (mean) | params removed % | weights zeroed % | train s | "
             "paper acc % | paper arch | paper removed % |", "|---" * 10 + "|"]
    for r in summary_rows(runs):
        div = "".join(f" ({r[k]} {k})" for k in ("diverged", "collapsed") if r.get(k))
        lines.append(f"| {r['variant']} | {r['seeds']}{div} | {r['accuracy']} | {r['architecture']} | "
                     f"{r['params_removed']} | {r['weights_zeroed']} | {r['seconds']} | {r['paper_accuracy']} | "
                     f"{r['paper_architecture']} | {r['paper_removed']} |")
    return "\n".join(lines)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


MATCHED_WITHIN = 1.0  # points of params removed within which two runs of a seed count as matched


def _values(runs: dict[str, list[dict]], variant: str, key: str) -> list[float]:
    return [m[key] for m in runs.get(variant, []) if m.get(key) is not None and m.get("test_accuracy") is not None]


def by_seed(runs: dict[str, list[dict]], variant: str) -> dict[int, dict]:
    return {m["config"]["seed"]: m for m in runs.get(variant, []) if m.get("test_accuracy") is not None}


def paired_word(a: dict[int, float], b: dict[int, float], more: str, less: str, same: str) -> str:
    """`more`, `less` or `same`: a ({seed: value}) against b over the seeds both ran, paired by seed,
    by the 95 % t-interval of the differences (stats.paired_verdict)."""
    seeds = sorted(set(a) & set(b))
    return {"more": more, "less": less, "same": same}[paired_verdict([a[s] for s in seeds], [b[s] for s in seeds])]


def tuned_al(summary: list[dict] | None, model: str, epochs: int) -> dict[int, dict]:
    """{seed: {'test_accuracy', 'params_removed_pct'}} of the AL model as trained and then fine-tuned
    for `epochs` with its mask fixed, from the frontier's summary ({} when it was not measured)."""
    from .frontier import point

    found = point(summary or [], model, "switcher", "switcher", 0, epochs)
    return {seed: {"test_accuracy": acc, "params_removed_pct": removed}
            for seed, (removed, acc) in (found or {}).get("per_seed", {}).items()}


def findings(runs: dict[str, list[dict]], summary: list[dict] | None = None) -> list[str]:
    """Plain sentences comparing the variants, computed from the runs themselves; a fine-tuned
    baseline is compared with AL fine-tuned alike (from the frontier's `summary`), never with AL as trained."""
    def mean(variant, key):
        values = _values(runs, variant, key)
        return statistics.mean(values) if values else None

    out = []
    al_acc, al_removed = mean("al", "test_accuracy"), mean("al", "params_removed_pct")
    if al_acc is not None and mean("dense", "test_accuracy") is not None:
        gap = al_acc - mean("dense", "test_accuracy")
        mixed = near_chance_clause([m["test_accuracy"] for _, m in sorted(by_seed(runs, "al").items())])
        out.append(f"SNN-AL reaches {al_acc:.2f} %{mixed} against {al_acc - gap:.2f} % for the dense baseline "
                   f"({gap:+.2f} points) while removing {al_removed:.1f} % of the weights.")
    if mean("connection", "test_accuracy") is not None:
        zeroed = [zeroed_pct(m) for m in runs["connection"] if m.get("test_accuracy") is not None]
        zeroed_text = (f"{statistics.mean(zeroed):.1f} % of the weights zeroed (a gate of 0 on single weights "
                       f"inside kept matrices)" if None not in zeroed else "the weights zeroed not counted")
        out.append(f"Connection strategy (one gate per weight): {mean('connection', 'test_accuracy'):.2f} % with "
                   f"{zeroed_text}, but only {mean('connection', 'params_removed_pct'):.1f} % removed: the rows and "
                   "columns that compact() drops.")
    if al_acc is not None and mean("sl", "test_accuracy") is not None:
        sl, al = _values(runs, "sl", "params_removed_pct"), _values(runs, "al", "params_removed_pct")
        word = paired_word({s: m["params_removed_pct"] for s, m in by_seed(runs, "sl").items()},
                           {s: m["params_removed_pct"] for s, m in by_seed(runs, "al").items()},
                           "SL prunes more than AL", "SL prunes less than AL",
                           "no difference shown (95 % interval over seeds, paired by seed, includes 0)")
        model = next(iter(runs.values()))[0]["config"]["model"]
        paper = {row[0]: row[3] for row in REPORTED[model]}
        said = (f"; the paper: SL {paper['SNN-SL (neuron)']} % against AL {paper['SNN (AL, neuron)']} % removed"
                if "SNN-SL (neuron)" in paper else "")
        sl_each = near_chance_clause([m["test_accuracy"] for _, m in sorted(by_seed(runs, "sl").items())])
        out.append(f"SNN-SL: {mean('sl', 'test_accuracy'):.2f} %{sl_each} with {mean_std(sl, '.1f')} % of the weights removed, "
                   f"against AL's {mean_std(al, '.1f')} %: {word}{said}.")
    for variant in ("magnitude", "magnitude_ft"):
        pruned = by_seed(runs, variant)
        if not pruned:
            continue
        tuning = next(iter(pruned.values())).get("epochs", 0) if variant == "magnitude_ft" else 0
        model = next(iter(pruned.values()))["config"]["model"]
        al_seeds = tuned_al(summary, model, tuning) if tuning else by_seed(runs, "al")
        al_name = f"AL fine-tuned alike ({tuning} epochs)" if tuning else "AL"
        seeds = sorted(set(pruned) & set(al_seeds))
        if not seeds:
            acc = [m["test_accuracy"] for m in pruned.values()]
            removed = mean_std([m["params_removed_pct"] for m in pruned.values()], ".1f")
            out.append(f"{_sentence(DERIVED[variant])}: {mean_std(acc)} % with {removed} % removed (not compared "
                       f"with AL: {al_name} was not measured).")
            continue
        acc = [pruned[s]["test_accuracy"] for s in seeds]
        gaps = [pruned[s]["params_removed_pct"] - al_seeds[s]["params_removed_pct"] for s in seeds]
        removed = mean_std([pruned[s]["params_removed_pct"] for s in seeds], ".1f")
        if max(abs(g) for g in gaps) <= MATCHED_WITHIN:
            word = paired_word({s: pruned[s]["test_accuracy"] for s in seeds},
                               {s: al_seeds[s]["test_accuracy"] for s in seeds}, f"ahead of {al_name}",
                               f"behind {al_name}", f"no difference from {al_name} shown (95 % interval over "
                               "seeds, paired by seed, includes 0)")
            al_acc_seeds = [al_seeds[s]["test_accuracy"] for s in seeds]
            diff = statistics.mean(acc) - statistics.mean(al_acc_seeds)
            verdict = (f"{diff:+.2f} points against {al_name}, {mean_std(al_acc_seeds)} %, at matched weights removed "
                       f"(within {MATCHED_WITHIN:g} point in every seed): {word}")
        else:
            al_removed_text = mean_std([al_seeds[s]["params_removed_pct"] for s in seeds], ".1f")
            verdict = f"not at AL's sparsity, {al_removed_text} %, so not compared with {al_name}"
        out.append(f"{_sentence(DERIVED[variant])}: {mean_std(acc)} %{near_chance_clause(acc)} with {removed} % removed "
                   f"({verdict}).")
    chance = [f"{v} seed {m['config']['seed']} ({m['test_accuracy']:.2f} %)" for v in VARIANTS if v != "constant"
              for m in runs.get(v, []) if m.get("test_accuracy") is not None and m["test_accuracy"] < CHANCE_LEVEL]
    if chance:
        out.append(f"Runs that ended near chance level (below {CHANCE_LEVEL:g} %), which a mean ± std hides: "
                   f"{', '.join(chance)}.")
    for variant in ("shuffled", "noise", "constant"):
        if mean(variant, "params_removed_pct") is not None:
            acc = mean(variant, "test_accuracy")
            acc_text = "no finished run" if acc is None else f"{acc:.2f} %"
            out.append(f"{_sentence(VARIANTS[variant][1])}: {mean(variant, 'params_removed_pct'):.1f} % "
                       f"removed, {acc_text}.")
    return out
