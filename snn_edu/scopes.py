"""One switcher per layer (`al`) against one switcher for all layers (`joint`, snn_edu.joint):
accuracy, pruned architecture and weights removed, which units each keeps, and the accuracy
at matched weights removed (snn_edu.matched's rule), computed from a study's runs."""
from __future__ import annotations

import statistics
from pathlib import Path

from .ablation import by_seed, paired_word, load_histories, load_runs, mean_architecture, mean_std
from .frontier import MODEL_NAMES, curves_of, describe_ranges, tuning_text
from .matched import verdict_ranges
from .variants import REGISTRY
from .metrics import near_chance_clause

RUNS_COMPARED = {name: v.scope_name for name, v in REGISTRY.items() if v.scope_name}  # {variant: its name here}


def scope_markdown(results: str | Path, models) -> str:
    """The table: each network's `al` and `joint` runs, mean ± std over seeds."""
    lines = ["| network | switchers | seeds | test acc % | pruned arch (mean) | params removed % |",
             "|---|---|---|---|---|---|"]
    for model in models:
        runs = load_runs(Path(results) / model, kinds=tuple(RUNS_COMPARED))
        for kind, name in RUNS_COMPARED.items():
            ms = [m for m in runs.get(kind, []) if m["test_accuracy"] is not None]
            if ms:
                lines.append(f"| {MODEL_NAMES.get(model, model)} | {name} | {len(ms)} | "
                             f"{mean_std([m['test_accuracy'] for m in ms])} | {mean_architecture(ms)} | "
                             f"{mean_std([m['params_removed_pct'] for m in ms])} |")
    return "\n".join(lines)


def kept_overlap(results: str | Path, model: str) -> dict[str, list[float]]:
    """Per gated layer, seed by seed: the units both runs keep at the end of training, as a share
    of the units either keeps (Jaccard; 1 = the same units)."""
    histories = load_histories(Path(results) / model, kinds=tuple(RUNS_COMPARED))
    out: dict[str, list[float]] = {}
    for name, history in sorted(histories.items()):
        kind, seed = name.split("/")
        other = histories.get(f"joint/{seed}")
        if kind != "al" or other is None:
            continue
        for layer, gate in history.epochs[-1]["gates_eval"].items():
            a, b = gate > 0, other.epochs[-1]["gates_eval"][layer] > 0
            either = int((a | b).sum())
            out.setdefault(layer, []).append(int((a & b).sum()) / either if either else 1.0)
    return out


def scope_sentences(results: str | Path, models, summary: list[dict]) -> list[str]:
    """Per network: does reading all layers together change how much is pruned, which units,
    and the accuracy at the joint runs' own weights removed?"""
    out = []
    for model in models:
        runs = load_runs(Path(results) / model, kinds=tuple(RUNS_COMPARED))
        al, joint = by_seed(runs, "al"), by_seed(runs, "joint")
        if not al or not joint:
            out.append(f"{MODEL_NAMES.get(model, model)}: the joint switcher was not run.")
            continue
        removed = {k: [r["params_removed_pct"] for r in v.values()] for k, v in (("al", al), ("joint", joint))}
        accuracy = {k: [r["test_accuracy"] for r in v.values()] for k, v in (("al", al), ("joint", joint))}
        how_much = paired_word({s: r["params_removed_pct"] for s, r in joint.items()},
                               {s: r["params_removed_pct"] for s, r in al.items()},
                               "more (95 % interval over seeds, paired by seed, above 0)",
                               "less (95 % interval over seeds, paired by seed, below 0)",
                               "no differently as far as the seeds show (95 % interval over seeds includes 0)")
        overlap = kept_overlap(results, model)
        which = ", ".join(f"{layer} {statistics.mean(v):.2f}" for layer, v in overlap.items())
        sentence = (f"{MODEL_NAMES.get(model, model)}: the joint switcher removed {mean_std(removed['joint'])} % of "
                    f"the weights against {mean_std(removed['al'])} % with one switcher per layer: it prunes "
                    f"{how_much}; test accuracy {mean_std(accuracy['joint'])} % against "
                    f"{mean_std(accuracy['al'])} %{near_chance_clause([al[s]['test_accuracy'] for s in sorted(al)])}. "
                    "Units kept by both, as a share of those kept by either "
                    f"(mean over seeds): {which or 'not recorded'}.")
        epochs_all = sorted({s["finetune_epochs"] for s in summary if (s["model"], s["source"]) == (model, "joint")})
        parts = [f"{tuning_text(e)}, {describe_ranges(verdict_ranges(curves_of(summary, model, 'joint', 'joint', e), curves_of(summary, model, 'switcher', 'switcher', e)))}"
                 for e in epochs_all]
        if parts:
            sentence += (" Each model pruned further by its own gate and compared at matched weights removed, the "
                         "joint switcher's model against the per-layer one's is: " + "; ".join(parts) + ".")
        out.append(sentence)
    return out
