"""Tables and sentences about a results folder written by `python -m snn_edu reproduce`: the
frontier table, the recipe in words, durations and counts. The page that assembles them is
`ablationdoc` (a tool); this module draws nothing."""
from __future__ import annotations

import json
from pathlib import Path

from . import ablation, peers
from .criteria import CRITERIA
from .frontier import CURVES, MODEL_NAMES, curve_label, format_pm, point
from .training import TrainConfig


TARGET_HEADS = {"units": "units removed per layer", "weights": "target: weights removed"}


def frontier_table(summary: list[dict], model: str, epochs: int, unit: str = "units") -> str:
    """Markdown: one row per curve, one column per target (test accuracy, mean ± std over seeds);
    `unit` says what the targets count (snn_edu.frontier.TARGET_UNITS)."""
    targets = sorted({s["target_removed_pct"] for s in summary if s["model"] == model and s["target_removed_pct"] is not None})
    head = f"| {TARGET_HEADS[unit]} | " + " | ".join(f"{t:g} %" for t in targets) + " |"
    lines = [head, "|---" * (len(targets) + 1) + "|",
             *(f"| *weights removed, {name} (%)* | "
               + " | ".join(format_pm(point(summary, model, criterion, source, t, epochs), "removed", "-")
                            for t in targets) + " |"
               for name, criterion, source in (("switcher model by its gate", "switcher", "switcher"),
                                               (f"dense model by {CRITERIA['magnitude'].label}", "magnitude", "dense")))]
    own = tuple((name, name) for name in peers.OWN_RANKING
                if targets and point(summary, model, name, name, targets[0], epochs))
    for criterion, source in CURVES + own:
        lines.append(f"| {curve_label(criterion, source)} | "
                     + " | ".join(format_pm(point(summary, model, criterion, source, t, epochs), missing="-")
                                  for t in targets) + " |")
    return "\n".join(lines)


def _optimizer(c: dict) -> str:
    if c.get("optimizer", "sgd") == "adam":
        return f"Adam at lr {c['lr']:g}"
    momentum = f" with momentum {c['momentum']:g}" if c["momentum"] else ""
    return f"SGD{momentum} at lr {c['lr']:g}"


def recipe_text(results: Path, models: list[str]) -> str:
    """The recipe of each model's switcher runs (seed 0), from its recorded config and data sizes."""
    parts = []
    for model in models:
        runs = ablation.load_runs(results / model, ("al",)).get("al")
        if not runs:
            continue
        m = runs[0]
        c, n = m["config"], m.get("examples") or {}
        data = c["data"] + (f" ({n['train']:,} training and {n['test']:,} test digits)" if n else "")
        warm = TrainConfig(**c).warmup
        parts.append(f"{MODEL_NAMES[model]}: the `{c['switcher']}` switcher on {data}, {c['epochs']} epochs, "
                     f"{_optimizer(c)}, batch {c['batch_size']}"
                     + (f", {count_text(warm, 'warm-up epoch')} without gates" if warm else "")
                     + (", evaluation gates from each weight image's own BatchNorm statistics"
                        if c.get("gate_stats") == "image" else "")
                     + (f", gradients clipped at norm {c['clip_grad_norm']:g}" if c.get("clip_grad_norm") else ""))
    return "; ".join(parts)


def frontier_settings(results: Path) -> dict:
    """The frontier settings recorded by the first finished frontier job ({} when there is none)."""
    found = sorted(results.glob("*/frontier/seed*/metrics.json"))
    return json.loads(found[0].read_text())["settings"] if found else {}


def count_text(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def minutes(seconds: float) -> str:
    """'8 min 60 s' never: the seconds are rounded before they are split (539.6 s -> '9 min 00 s')."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60:02d} s"


