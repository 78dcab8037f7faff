"""The accuracy-versus-sparsity frontier: rank each gated layer's units by a criterion, remove the
lowest-ranked share of every layer, and measure test accuracy before and after a short
fine-tuning of the remaining weights (masks fixed).

Criteria (`criteria.CRITERIA`): `switcher` (the evaluation-mode gate), `magnitude` (L1 norm of the
unit's weights), `random` (seeded) and `conductance` (captum, on training digits). Sources: the `switcher` model
with its gates folded into the weights (as `compact()` does; units the switcher already pruned
stay pruned) and the `dense` model trained without switchers.
"""
from __future__ import annotations

import copy
import csv
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .analysis import alive_unit_masks, params_removed_pct
from .criteria import CRITERIA, RankingInputs, criterion as registered
from .data import subset
from .errors import DivergenceError
from .metrics import CHANCE_LEVEL, near_chance_clause
from .matched import compare_at, read_at, seed_curves, span, verdict_ranges, why_unread
from .models import GatedNet
from .training import TrainConfig, Trainer

SOURCES = ("switcher", "dense")
CURVES = tuple((name, s) for s in SOURCES for name, c in CRITERIA.items() if s in c.sources)  # (criterion, source)
NATURAL = "natural"  # the switcher model as trained: units with gate exactly 0 removed
COLUMNS = ("model", "criterion", "source", "target_removed_pct", "finetune_epochs", "seed", "test_accuracy",
           "params_removed_pct")


TARGET_UNITS = ("units", "weights")  # what a target counts: each layer's units removed, or the gated weights removed


@dataclass(frozen=True)
class FrontierSettings:
    """Targets (%, of each layer's units removed or of the gated weights removed: `unit`),
    fine-tuning epochs and the attribution sample (training digits, integration steps) of the
    conductance criterion. Targets in weights put every curve's points at the same weights
    removed, so that curves are compared where both were measured."""

    targets: tuple[float, ...] = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)  # 10 apart at most: within matched.REACH
    finetune_epochs: int = 2
    attribution_digits: int = 512
    attribution_steps: int = 32
    unit: str = "weights"


SETTINGS = {"smoke": FrontierSettings(targets=(0, 50, 90), finetune_epochs=1, attribution_digits=32,
                                      attribution_steps=4),
            "cpu": FrontierSettings(),
            "paper": FrontierSettings()}
# VGG-cov2 at the cpu level: a fine-tuning epoch of its 4.3M weights on this 2-core CPU costs what
# the MLP's whole frontier does, so its frontier has three targets, no fine-tuning and a smaller
# attribution sample (docs/performance.md gives the cost).
CHEAPER = {("cpu", "vgg-cov2"): FrontierSettings(targets=(0, 50, 90), finetune_epochs=0, attribution_digits=64,
                                                attribution_steps=8)}


def settings_for(level: str, model: str) -> FrontierSettings:
    """The frontier settings of `model` at `level`: the level's, unless CHEAPER names the pair."""
    return CHEAPER.get((level, model), SETTINGS[level])


# -- ranking and masks ----------------------------------------------------------------------------
def n_keep(n_units: int, target_pct: float) -> int:
    """Units left when `target_pct` % of `n_units` are removed (at least one)."""
    return max(1, n_units - round(n_units * target_pct / 100))


def keep_top(scores: torch.Tensor, keep: int, alive: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the `keep` highest-scoring units (ties: lower index first); a unit that
    `alive` marks as removed stays removed."""
    s = scores.detach().float().cpu().clone()
    if alive is not None:
        s[~alive] = -math.inf
    mask = torch.zeros(len(s), dtype=torch.bool)
    mask[torch.argsort(s, descending=True, stable=True)[:keep]] = True
    return mask if alive is None else mask & alive


def ranked_masks(model: GatedNet, scores: dict[str, torch.Tensor], keep: dict[str, int],
                 alive: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Per gated layer, in order, the `keep[name]` highest-scoring units among those the layers
    before still feed (a linear input whose conv filter is gone is never chosen) and `alive` keeps."""
    masks: dict[str, torch.Tensor] = {}
    for name in model.gated_layers():
        fed = alive_unit_masks(model, {n: m.float() for n, m in masks.items()})[name]
        masks[name] = keep_top(scores[name], keep[name], fed if alive is None else fed & alive[name])
    return masks


def target_masks(model: GatedNet, scores: dict[str, torch.Tensor], target: float, unit: str,
                 alive: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The ranked masks (ranked_masks) for `target` %: of each layer's units removed, or, with
    unit "weights", the one share of each layer's units whose masks remove the gated weights
    (params_removed_pct) closest to `target` % (bisection; never fewer than `alive` removes)."""
    if unit not in TARGET_UNITS:
        raise ValueError(f"unknown target unit {unit!r}; choose one of {', '.join(TARGET_UNITS)}")

    def at(share: float) -> dict[str, torch.Tensor]:
        return ranked_masks(model, scores, {n: n_keep(len(s), share) for n, s in scores.items()}, alive)

    if unit == "units":
        return at(target)

    def removed(masks) -> float:
        return params_removed_pct(model, {n: m.float() for n, m in masks.items()})

    low, high = 0.0, 100.0
    best = at(low)
    best_miss = abs(removed(best) - target)
    for _ in range(14):  # 100 / 2**14: finer than one unit of any layer here
        middle = (low + high) / 2
        masks = at(middle)
        share = removed(masks)
        if abs(share - target) < best_miss:
            best, best_miss = masks, abs(share - target)
        low, high = (middle, high) if share < target else (low, middle)
    return best


def folded_copy(model: GatedNet, gates: dict[str, torch.Tensor]) -> tuple[GatedNet, dict[str, torch.Tensor]]:
    """A switcher-free CPU copy of `model` with `gates` (its evaluation gates) folded into the
    weights, and each gated layer's surviving units (snn_edu.analysis.alive_masks' rule)."""
    folded = copy.deepcopy(model).cpu()
    alive = alive_unit_masks(model, gates)
    with torch.no_grad():
        for name, layer in folded.gated_layers().items():
            layer.weight.copy_(layer.effective_weight(gates.get(name)))
            layer.gate = None
            layer.set_fixed_gate(None)
    return folded, alive


def unit_scores(name: str, model: GatedNet, sample, settings: FrontierSettings, seed: int,
                gates: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """One score per unit of every gated layer by the registered criterion `name` (higher = more important)."""
    return registered(name).scores(model, RankingInputs(sample, seed, gates, settings.attribution_steps))


# -- measuring -----------------------------------------------------------------------------------
def measure(model: GatedNet, masks: dict[str, torch.Tensor], config: TrainConfig, train, test,
            finetune_epochs: int) -> list[tuple[int, float, float]]:
    """(fine-tuning epochs, test accuracy, params removed %) of a copy of `model` with `masks` as
    fixed gates, before and after fine-tuning its remaining weights (nan accuracy if that diverges)."""
    model = copy.deepcopy(model)
    for name, layer in model.gated_layers().items():
        layer.set_fixed_gate(masks[name].float())
    model.set_gated(True)
    trainer = Trainer(replace(config, schedule="dense"), train, test, model=model, progress=False)

    def score(epochs):
        result = trainer.evaluate()
        return epochs, result["test_accuracy"], params_removed_pct(trainer.model, result["gates"])

    points = [score(0)]
    if finetune_epochs:
        try:
            for epoch in range(finetune_epochs):
                trainer.train_epoch(epoch, phase="tnn")  # the masks are fixed gates: the TNN phase keeps them
            points.append(score(finetune_epochs))
        except DivergenceError:
            points.append((finetune_epochs, math.nan, points[0][2]))
    return points


def frontier_rows(switcher_model: GatedNet, dense_model: GatedNet, switcher_metrics: dict, config: TrainConfig,
                  train, test, settings: FrontierSettings, progress: bool = False) -> list[dict]:
    """Every frontier point of one seed: each curve (criterion, source) at each target, without and
    with fine-tuning, plus the switcher model's natural point."""
    gates = switcher_model.gates("eval")
    folded, alive = folded_copy(switcher_model, gates)
    sources = {"switcher": (folded, alive),
               "dense": (dense_model, alive_unit_masks(dense_model, {}))}
    sample = subset(train, settings.attribution_digits, config.seed)
    base = {"model": config.model, "seed": config.seed}
    rows = [{**base, "criterion": NATURAL, "source": "switcher", "target_removed_pct": None, "finetune_epochs": 0,
             "test_accuracy": switcher_metrics["test_accuracy"],
             "params_removed_pct": switcher_metrics["params_removed_pct"]}]
    work = [(c, s, t) for c, s in CURVES for t in settings.targets]
    bar = tqdm(total=len(work), desc=f"{config.model} frontier seed {config.seed}", leave=False, disable=not progress)
    for name, source in CURVES:
        model, source_alive = sources[source]
        scores = unit_scores(name, model, sample, settings, config.seed, gates)
        for target in settings.targets:
            masks = target_masks(model, scores, target, settings.unit, source_alive)
            for epochs, accuracy, removed in measure(model, masks, config, train, test, settings.finetune_epochs):
                rows.append({**base, "criterion": name, "source": source, "target_removed_pct": target,
                             "finetune_epochs": epochs, "test_accuracy": accuracy, "params_removed_pct": removed})
            bar.update()
    bar.close()
    return rows


# -- the table ------------------------------------------------------------------------------------
def write_csv(rows: list[dict], path: str | Path) -> Path:
    """frontier.csv: one row per measured point, columns COLUMNS, full float precision."""
    path = Path(path)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    return path


def read_csv(path: str | Path) -> list[dict]:
    """The rows of a frontier.csv, numbers as numbers (no target: None)."""
    with Path(path).open(newline="") as f:
        return [{**r, "target_removed_pct": float(r["target_removed_pct"]) if r["target_removed_pct"] else None,
                 "finetune_epochs": int(r["finetune_epochs"]), "seed": int(r["seed"]),
                 "test_accuracy": float(r["test_accuracy"]), "params_removed_pct": float(r["params_removed_pct"])}
                for r in csv.DictReader(f)]


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None, None
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of every (model, criterion, source, target,
    fine-tuning) point; `n` counts the seeds with a finite accuracy; `per_seed` keeps each seed's
    (params removed, accuracy) for comparisons at matched sparsity (snn_edu.matched)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["model"], r["criterion"], r["source"], r["target_removed_pct"], r["finetune_epochs"])
        groups.setdefault(key, []).append(r)
    out = []
    for (model, criterion, source, target, epochs), rs in groups.items():
        acc, acc_std = _mean_std([r["test_accuracy"] for r in rs])
        removed, removed_std = _mean_std([r["params_removed_pct"] for r in rs])
        out.append({"model": model, "criterion": criterion, "source": source, "target_removed_pct": target,
                    "finetune_epochs": epochs, "n": sum(not math.isnan(r["test_accuracy"]) for r in rs),
                    "seeds": len(rs), "accuracy": acc, "accuracy_std": acc_std,
                    "removed": removed, "removed_std": removed_std,
                    "per_seed": {r["seed"]: (r["params_removed_pct"], r["test_accuracy"]) for r in rs}})
    return out


def point(summary: list[dict], model: str, criterion: str, source: str, target, epochs: int) -> dict | None:
    """One summarised point, or None."""
    return next((s for s in summary if (s["model"], s["criterion"], s["source"], s["target_removed_pct"],
                                        s["finetune_epochs"]) == (model, criterion, source, target, epochs)), None)


def curve_label(criterion: str, source: str) -> str:
    if criterion == NATURAL:
        return f"{source} model as trained (gates = 0 removed)"
    model = {"switcher": "switcher model, gates folded", "dense": "dense model"}.get(source, f"{source} model")
    return f"{CRITERIA[criterion].label} ({model})"


# -- findings -------------------------------------------------------------------------------------
MODEL_NAMES = {"mlp": "MLP 784-300-100", "lenet5": "LeNet5-Caffe", "vgg-cov2": "VGG-cov2"}
COMPARISONS = (  # (curve a, curve b, name of a, name of b, context)
    (("switcher", "switcher"), ("magnitude", "switcher"), "the gate", f"the {CRITERIA['magnitude'].label}",
     ", both ranking the switcher model's folded weights"),
    (("switcher", "switcher"), ("random", "switcher"), "the gate", "a random ranking",
     ", both on the switcher model"),
    (("switcher", "switcher"), ("magnitude", "dense"), "the switcher model pruned by its gate",
     f"the dense model pruned by {CRITERIA['magnitude'].label}", ""),
    (("switcher", "switcher"), ("random", "dense"), "the switcher model pruned by its gate",
     "the dense model pruned at random", ""),
    (("conductance", "dense"), ("magnitude", "dense"), CRITERIA["conductance"].label, f"the {CRITERIA['magnitude'].label}",
     ", both on the dense model"),
)


def format_pm(p: dict | None, key: str = "accuracy", missing: str = "n/a") -> str:
    """A summarised point's mean ± std of `key` ('accuracy' or 'removed'), e.g. '92.07 ± 0.40'."""
    if p is None or p[key] is None:
        return missing
    return f"{p[key]:.2f}" + ("" if p[f"{key}_std"] is None else f" ± {p[f'{key}_std']:.2f}")


def tuning_text(epochs: int) -> str:
    return f"after {epochs} fine-tuning epoch{'s' * (epochs != 1)}" if epochs else "without fine-tuning"


def curves_of(summary: list[dict], model: str, criterion: str, source: str, epochs: int):
    """Each seed's curve (snn_edu.matched.seed_curves) of one (criterion, source) at `epochs`."""
    return seed_curves([s for s in summary if (s["model"], s["criterion"], s["source"], s["finetune_epochs"])
                        == (model, criterion, source, epochs)])


def value_at(summary: list[dict], model: str, criterion: str, source: str, epochs: int, removed: float) -> str:
    """'mean ± std' of a curve at `removed` % of the weights, read seed by seed where it was
    measured, or 'not measured'."""
    curves = curves_of(summary, model, criterion, source, epochs)
    values = [read_at(c, removed) for c in curves.values()]
    if not values:
        return "not measured (no runs of this curve)"
    if any(v is None for v in values):
        seed, curve = next((s, c) for (s, c), v in zip(curves.items(), values) if v is None)
        return f"not measured (seed {seed}'s curve {why_unread(curve, removed)})"
    return format_pm({"accuracy": statistics.mean(values),
                      "accuracy_std": statistics.stdev(values) if len(values) > 1 else None})


def grouped_values(summary: list[dict], model: str, epochs: int, removed: float) -> list[str]:
    """Each curve's value at `removed` % (value_at); the curves not measured there for one same
    reason are named together, once, after the measured ones."""
    measured, unread = [], {}
    for c, s in CURVES:
        value = value_at(summary, model, c, s, epochs, removed)
        if value.startswith("not measured"):
            unread.setdefault(value, []).append(curve_label(c, s))
        else:
            measured.append(f"{curve_label(c, s)} {value}")
    together = [f"{labels[0]} {value}" if len(labels) == 1 else
                f"{', '.join(labels[:-1])} and {labels[-1]} not measured, each for the same reason"
                + value.removeprefix("not measured") for value, labels in unread.items()]
    return measured + together


VERDICT_WORDS = {"ahead": "ahead", "behind": "behind",
                 "level": "no difference shown (95 % interval over seeds includes 0)",
                 "unsettled": "not measured closely enough (a curve read across a drop larger than the margin)",
                 "not measured": "not measured within reach of each other"}


def describe_ranges(ranges: list[tuple[str, list[float]]]) -> str:
    """'ahead at 40-80 %; level at 30-35 %; not measured ... at 0-25 % and 85-100 %'."""
    by_word: dict[str, list[str]] = {}
    for word, xs in ranges:
        by_word.setdefault(word, []).append(span(xs))
    order = [w for w in VERDICT_WORDS if w in by_word]
    return "; ".join(f"{VERDICT_WORDS[w]} at {' and '.join(by_word[w])}" for w in order)


def verdict(summary: list[dict], model: str, a: tuple[str, str], b: tuple[str, str], epochs: int,
            removed: float):
    """Curve a against curve b at `removed` % of the weights (snn_edu.matched.Match), or None
    where the two were not measured within reach of each other there."""
    return compare_at(curves_of(summary, model, *a, epochs), curves_of(summary, model, *b, epochs), removed)


def chance_note(summary: list[dict], model: str) -> str:
    """'switcher seed 1 ended near chance (10.0 %)' for a figure title when a seed of the switcher
    model as trained ended near chance, which the curves' means and bands fold in; else ''."""
    natural = point(summary, model, NATURAL, "switcher", None, 0) or {}
    low = [(seed, acc) for seed, (_, acc) in sorted(natural.get("per_seed", {}).items()) if acc < CHANCE_LEVEL]
    if not low:
        return ""
    return "switcher " + ", ".join(f"seed {seed}" for seed, _ in low) + \
        f" ended near chance ({', '.join(f'{acc:.1f}' for _, acc in low)} %)"


def findings(summary: list[dict], model: str, at=(50, 80)) -> list[str]:
    """Sentences about one model's frontier, computed from the summary: every curve at `at` % of
    the weights removed, then which ranking is ahead where, always at matched weights removed
    (snn_edu.matched: each seed's curve read only within REACH points of a measured point)."""
    rows = [s for s in summary if s["model"] == model]
    if not rows:
        return []
    epochs_all = sorted({s["finetune_epochs"] for s in rows})
    out = []
    natural = point(summary, model, NATURAL, "switcher", None, 0)
    if natural:
        each = near_chance_clause([acc for _, (_, acc) in sorted(natural.get("per_seed", {}).items())])
        out.append(f"{MODEL_NAMES[model]}: the switcher model as trained scores {format_pm(natural)} %{each} with "
                   f"{format_pm(natural, 'removed')} % of its weights removed (mean ± std over {natural['seeds']} seeds).")
    for epochs in epochs_all:
        for removed in at:
            out.append(f"With {removed:g} % of the weights removed, {tuning_text(epochs)}: "
                       + "; ".join(grouped_values(summary, model, epochs, removed)) + ".")
    for a, b, name_a, name_b, context in COMPARISONS:
        parts = []
        for epochs in epochs_all:
            ranges = verdict_ranges(curves_of(summary, model, *a, epochs), curves_of(summary, model, *b, epochs))
            parts.append(f"{tuning_text(epochs)}, {describe_ranges(ranges)}")
        out.append(f"{name_a[0].upper()}{name_a[1:]} against {name_b}{context}, by weights removed: {name_a} is "
                   + "; ".join(parts) + ".")
    return out
