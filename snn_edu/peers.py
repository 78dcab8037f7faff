"""The switcher against its peers (the papers' Table 1): a direct gate per unit (the switcher
without its U-Net), L0 hard-concrete gates over a range of lambda and BC-GNJ, on the frontier.

Frontier rows (frontier.COLUMNS) of one seed: every peer run's natural point (units whose
evaluation gate is 0 removed; source = the run, e.g. 'l0-0.03'), as trained and after the
frontier's short fine-tuning, and the direct model ranked by its own gate at the frontier's
targets (criterion and source 'direct'). The L0 runs' natural points, one per lambda, are its curve.
"""
from __future__ import annotations

from pathlib import Path

from .ablation import collapsed, load_histories, load_runs, mean_architecture, mean_std
from .frontier import NATURAL, FrontierSettings, curve_label, folded_copy, format_pm, measure, point, target_masks
from .criteria import CRITERIA
from .matched import AT, REACH, Match, read_at, seed_curves, versus, why_unread
from .gates import BC_THRESHOLD, GATE_KINDS
from .models import GatedNet
from .paper import TABLE1
from .training import History, TrainConfig
from .variants import PEERS, REGISTRY, label
from .metrics import near_chance_clause

METHODS = ("al", *PEERS)  # the switcher's run, then its peers', in table order
METHOD_NAMES = {m: REGISTRY[m].table_name for m in METHODS}


def short_name(method: str) -> str:
    """A run kind as a reader knows it: 'switcher (SNN-AL)', 'L0, lambda 0.001', 'BC-GNJ'."""
    return label(method)


COMPARED = tuple((k.name, k.called) for k in GATE_KINDS.values() if not k.has_switcher)  # (method, name) in sentences


# What differs from the peers' authors, said wherever their numbers are shown (report, notebook 05).
RECIPE_NOTES = (
    "Every L0 run uses one lambda for all layers; the papers' L0hc row is the L0 authors' 'lambda sep.' "
    "(a lambda per layer), which is not run here.",
    "L0 and BC-GNJ start gated from their first epoch, as their authors' code does: LeNet5's warm-up epoch "
    "applies to the switcher and the direct gate only.",
    "Left out of L0: its authors' weight-decay term (an L2 penalty on each unit's weights weighted by the "
    "gate's probability of being non-zero; their LeNet5 script passes 5e-4 and divides by N, so it is about "
    "1e-8 per weight) and the moving average of the weights that their MLP class evaluates with (their "
    "LeNet5 script does not use it).",
)


def table1_points(model: str) -> dict[str, tuple[float, float]]:
    """{method: (params removed %, accuracy %)} of the papers' Table 1 rows for `model`."""
    return {name: (float(removed), float(acc.split()[0])) for name, acc, _, removed in TABLE1[model]}


def l0_lambda(source: str) -> float:
    """The lambda of an L0 run's name ('l0-0.03' -> 0.03)."""
    return float(source[3:])


# -- measuring -----------------------------------------------------------------------------------
OWN_RANKING = tuple(c.peer_run for c in CRITERIA.values() if c.peer_run)  # runs whose own gate also ranks their units


def peer_rows(models: dict[str, GatedNet], config: TrainConfig, train, test, settings: FrontierSettings) -> list[dict]:
    """Frontier rows of one seed's peer runs ({run name: trained model}); every fine-tuning uses
    `config` (the level's TNN recipe, so all methods are fine-tuned alike)."""
    base = {"model": config.model, "seed": config.seed}
    rows = []

    def add(criterion, source, target, model, masks):
        for epochs, accuracy, removed in measure(model, masks, config, train, test, settings.finetune_epochs):
            rows.append({**base, "criterion": criterion, "source": source, "target_removed_pct": target,
                         "finetune_epochs": epochs, "test_accuracy": accuracy, "params_removed_pct": removed})

    for name, model in models.items():
        gates = model.gates("eval")
        folded, alive = folded_copy(model, gates)
        add(NATURAL, name, None, folded, {n: a.float() for n, a in alive.items()})
        if name in OWN_RANKING:
            for target in settings.targets:
                add(name, name, target, folded, target_masks(folded, gates, target, settings.unit, alive))
    return rows


# -- the table beside the papers' ----------------------------------------------------------------
def load_method_runs(out: str | Path) -> dict[str, list[dict]]:
    """{method: [metrics of each seed]} of the switcher (al) and its peers under OUT/MODEL."""
    return load_runs(out, METHODS)


def load_method_histories(out: str | Path) -> dict[tuple[str, int], History]:
    """{(method, seed): History} of the switcher (al) and its peers under OUT/MODEL (for the widgets)."""
    return {(name.split("/")[0], int(name.split("/seed")[1])): history
            for name, history in load_histories(out, METHODS).items()}


def table_markdown(model: str, runs: dict[str, list[dict]], data_note: str = "") -> str:
    """Ours (mean ± std over seeds) under the papers' Table 1 rows for `model`."""
    lines = ["| source | method | seeds | test acc % | pruned architecture | params removed % |",
             "|---|---|---|---|---|---|"]
    for method, acc, arch, removed in TABLE1[model]:
        lines.append(f"| paper | {method} | | {acc} | {arch} | {removed} |")
    for method in [m for m in METHODS if m in runs]:
        ms = [m for m in runs[method] if m["test_accuracy"] is not None]
        diverged = len(runs[method]) - len(ms)
        fell = sum(collapsed(m) for m in ms)
        seeds = f"{len(runs[method])}" + (f" ({diverged} diverged)" if diverged else "") \
            + (f" ({fell} collapsed)" if fell else "")
        lines.append(f"| **ours**{data_note} | {METHOD_NAMES[method]} | {seeds} | "
                     f"{mean_std([m['test_accuracy'] for m in ms])} | {mean_architecture(ms)} | "
                     f"{mean_std([m['params_removed_pct'] for m in ms])} |")
    return "\n".join(lines)


# -- matched sparsity ----------------------------------------------------------------------------
def curve(summary: list[dict], model: str, method: str, finetune_epochs: int) -> list[dict]:
    """A method's summarised points sorted by params removed: 'switcher' and 'direct' ranked by
    their own gates, 'l0' the natural points of its lambdas, 'bc' its natural point."""
    if method in CRITERIA:  # ranked by its own gate: a curve of targets
        pts = [s for s in summary if (s["model"], s["criterion"], s["source"], s["finetune_epochs"])
               == (model, method, method, finetune_epochs)]
    else:  # each run of that gate kind (L0's lambdas, BC-GNJ) at its own point
        sources = tuple(name for name, v in REGISTRY.items() if v.overrides.get("gate") == method)
        pts = [s for s in summary if s["model"] == model and s["criterion"] == NATURAL
               and s["source"] in sources and s["finetune_epochs"] == finetune_epochs]
    return sorted((p for p in pts if p["accuracy"] is not None), key=lambda p: p["removed"])


def natural_point(summary: list[dict], model: str, source: str, finetune_epochs: int) -> dict | None:
    """A run's natural point (units with gate 0 removed); the switcher's fine-tuned one is its own
    ranking at target 0 (the same units)."""
    if source == "switcher" and finetune_epochs:
        return point(summary, model, "switcher", "switcher", 0, finetune_epochs)
    return point(summary, model, NATURAL, source, None, finetune_epochs)


def against(ours: dict, pts: list[dict]) -> Match | None:
    """The switcher's point against a peer's curve, seed against seed, each at the switcher's own
    params removed in that seed (snn_edu.matched); None where the peer was not measured there."""
    return versus(ours.get("per_seed", {}), seed_curves(pts))


def pruned_after(method: str, epochs: int) -> str:
    """What a peer's point at the switcher's sparsity is, when its curve ranks its own trained model
    (the direct gate): pruned after training, so not alike with a switcher trained into its
    sparsity unless both are fine-tuned; '' for a peer whose runs are compared as trained."""
    if method not in CRITERIA:
        return ""
    return ("its model pruned after training by its own gate, without retraining: " if not epochs else
            "its model pruned after training by its own gate, then fine-tuned as the switcher was: ")


def _versus(ours: dict, pts: list[dict], name: str, how: str = "") -> str:
    m = against(ours, pts)
    if m is None:
        curves, mine = seed_curves(pts), ours.get("per_seed", {})
        missing = sorted(set(mine) - set(curves))
        if missing or not mine:
            return f"was not measured against {name} (no {name} run of seed {missing[0] if missing else 0})"
        seed, removed = next((s, r) for s, (r, _) in mine.items() if read_at(curves[s], r) is None)
        return (f"was not measured against {name} at this sparsity (seed {seed}, at {removed:.1f} % removed: "
                f"{name}'s curve {why_unread(curves[seed], removed)}; a curve is read only at its points (within "
                f"{AT:g}) or between two that lie at most {REACH:g} apart)")
    if m.verdict == "unsettled":
        return (f"was not measured closely enough against {name} ({how}{m.b:.2f} ± {m.b_std:.2f} %, {m.diff:+.2f} points, "
                f"read at each seed's own sparsity by a straight line across a drop of {m.drop:.2f} points between "
                f"{name}'s measured points, more than decides the verdict)")
    word = {"ahead": "beats", "behind": "trails",
            "level": "shows no difference (95 % interval over seeds, paired by seed, includes 0) from"}[m.verdict]
    return f"{word} {name} ({how}{m.b:.2f} ± {m.b_std:.2f} %, {m.diff:+.2f} points, read at each seed's own sparsity)"


def findings(summary: list[dict], model: str, finetune_epochs: tuple[int, ...] = (0,)) -> list[str]:
    """Sentences computed from the summary: each peer's natural point, the L0 curve, and the
    switcher against each peer at the switcher's own sparsity."""
    from .frontier import MODEL_NAMES, tuning_text

    out = []
    d = natural_point(summary, model, "direct", 0)
    if d:
        out.append(f"{MODEL_NAMES[model]}: the direct gate, trained exactly as the switcher but without the U-Net, "
                   f"scores {format_pm(d)} % and removes {format_pm(d, 'removed')} % of the weights.")
    l0 = curve(summary, model, "l0", 0)
    if l0:
        out.append("L0 as trained, lambda by lambda: " + "; ".join(
            f"{l0_lambda(p['source']):g}: {format_pm(p)} % at {format_pm(p, 'removed')} % removed" for p in l0) + ".")
    bc = natural_point(summary, model, "bc", 0)
    if bc:
        out.append(f"{GATE_KINDS['bc'].label} as trained (a unit pruned when log alpha >= {BC_THRESHOLD:g}): {format_pm(bc)} % with "
                   f"{format_pm(bc, 'removed')} % of the weights removed.")
    for epochs in finetune_epochs:
        ours = natural_point(summary, model, "switcher", epochs)
        if ours is None or ours["accuracy"] is None:
            continue
        parts = [_versus(ours, pts, name, pruned_after(method, epochs)) for method, name in COMPARED
                 if (pts := curve(summary, model, method, epochs))]
        each = near_chance_clause([acc for _, (_, acc) in sorted(ours.get("per_seed", {}).items())])
        out.append(f"At the switcher's own sparsity ({ours['removed']:.1f} % removed), {tuning_text(epochs)}, "
                   f"the switcher, at {format_pm(ours)} %{each}, " + "; ".join(parts) + ".")
    return out


def plotted_curves(summary: list[dict], model: str, finetune_epochs: int) -> dict[str, list[dict]]:
    """{label: points} of the figure: switcher and direct ranked by their own gates, the L0 curve."""
    return {curve_label("switcher", "switcher"): curve(summary, model, "switcher", finetune_epochs),
            f"{GATE_KINDS['direct'].label} (direct model, its own ranking)": curve(summary, model, "direct", finetune_epochs),
            f"{GATE_KINDS['l0'].label} hard concrete (one point per lambda)": curve(summary, model, "l0", finetune_epochs)}
