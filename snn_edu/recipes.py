"""Which recipe trains to the end: the release's MNIST recipe verbatim beside each measured fix.

Reads the studies under results/recipes/LEVEL/ (one `reproduce --level LEVEL --variants al` per
level: release+check, release+FIX+check; snn_edu.presets) and says, per level and network, how
each seed ended against its own warm-up, where the loss jumped, and which fix passes the target:
LeNet5 ends no more than TARGET_DROP points below its best warm-up epoch, the MLP (no warm-up)
above MLP_TARGET %, every seed without a NaN. The page is docs/recipes.md
(`python -m snn_edu recipes`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .ablation import mean_architecture, mean_std
from .analysis import alive_units
from .frontier import MODEL_NAMES
from .metrics import COLLAPSE_MARGIN
from .models import MODELS
from .presets import FIXES, PAPER_FIX, SIZES, split_level
from .runfolder import HISTORY, METRICS, read_file
from .training import History

TARGET_DROP = 1.0   # LeNet5: points below its best warm-up epoch that the last epoch may end
MLP_TARGET = 90.0   # the MLP: test accuracy (%) its last epoch must exceed
SIZE = "check"      # the size every compared level runs at (snn_edu.presets.SIZES)


def levels(results: str | Path) -> list[str]:
    """The levels under `results`, the release first, then the fixes in FIXES' order."""
    found = {p.name for p in Path(results).iterdir() if (p / "MANIFEST.json").exists()} if Path(results).is_dir() \
        else set()
    order = [f"release+{SIZE}"] + [f"release+{fix}+{SIZE}" for fix in FIXES]
    return [lv for lv in order if lv in found]


def fix_of(level: str) -> str | None:
    """The fix a level adds to the release (None for the release itself)."""
    mods = [m for m in split_level(level)[1] if m not in SIZES]
    return mods[0] if mods else None


def load_runs(results: str | Path, level: str, model: str) -> list[dict]:
    """Every seed's metrics of one level and network, by seed."""
    paths = sorted(Path(results, level, model, "al").glob(f"seed*/{METRICS}"), key=lambda p: int(p.parent.name[4:]))
    return [json.loads(p.read_text()) for p in paths]


def load_history(results: str | Path, level: str, model: str, seed: int) -> History:
    return History.from_dict(read_file(Path(results, level, model, "al", f"seed{seed}", HISTORY)))


def reference(metrics: dict) -> float | None:
    """The accuracy a run is held to: its best warm-up epoch's (None without warm-up)."""
    warm = [a for a, p in zip(metrics["test_accuracy_per_epoch"], metrics["phases"]) if p == "warmup"]
    return max(warm) if warm else None


def passes(metrics: dict) -> bool:
    """True when the run met its network's target (module docstring)."""
    final = metrics["test_accuracy"]
    if metrics["diverged"] or final is None or metrics["epochs"] < metrics["config"]["epochs"]:
        return False
    ref = reference(metrics)
    return final >= ref - TARGET_DROP if ref is not None else final > MLP_TARGET


def rows(results: str | Path) -> list[dict]:
    """One row per level and network: how its seeds ended."""
    out = []
    for level in levels(results):
        for model in MODELS:
            ms = load_runs(results, level, model)
            if not ms:
                continue
            finished = [m for m in ms if m["test_accuracy"] is not None]
            refs = [reference(m) for m in finished]
            out.append({
                "level": level, "fix": fix_of(level), "model": model, "seeds": len(ms),
                "final": [m["test_accuracy"] for m in ms],
                "reference": refs if all(r is not None for r in refs) else None,
                "diverged": sum(m["diverged"] for m in ms), "collapsed": sum(bool(m.get("collapsed")) for m in ms),
                "passed": sum(passes(m) for m in ms),
                "accuracy": mean_std([m["test_accuracy"] for m in finished]),
                "architecture": mean_architecture(finished),
                "params_removed": mean_std([m["params_removed_pct"] for m in finished]),
                "data": ", ".join(sorted({m["config"]["data"] for m in ms})),
                "epochs": ", ".join(sorted({str(m["config"]["epochs"]) for m in ms})),
            })
    return out


def winner(table: list[dict]) -> str | None:
    """The first fix (in FIXES' order) whose runs passed for every seed of every network."""
    for fix in FIXES:
        mine = [r for r in table if r["fix"] == fix]
        if {r["model"] for r in mine} == set(MODELS) and all(r["passed"] == r["seeds"] for r in mine):
            return fix
    return None


def _ends(row: dict) -> str:
    if row["reference"] is None:
        return ", ".join(f"{a:.1f}" if a is not None else "NaN" for a in row["final"])
    return ", ".join(f"{a:.1f} ({a - r:+.1f})" for a, r in zip(row["final"], row["reference"]))


def table_markdown(table: list[dict]) -> str:
    lines = ["| level | network | data, epochs | seeds | last epoch's test acc % per seed (vs best warm-up) | "
             "met the target | collapsed | NaN | test acc % | pruned arch (mean) | params removed % |",
             "|---" * 11 + "|"]
    for r in table:
        lines.append(f"| `{r['level']}` | {MODEL_NAMES[r['model']]} | {r['data']}, {r['epochs']} | {r['seeds']} | "
                     f"{_ends(r)} | {r['passed']} of {r['seeds']} | {r['collapsed']} | {r['diverged']} | "
                     f"{r['accuracy']} | {r['architecture']} | {r['params_removed']} |")
    return "\n".join(lines)


def kept_units(gates: dict) -> str:
    """Units with a non-zero gate per layer, e.g. '20-37-790-500' ('-' without gates)."""
    return "-".join(str(int(alive_units(g.float()).sum())) for g in gates.values()) or "-"


def epochs_markdown(history: History) -> str:
    """Per epoch: phase, losses, accuracy, gradient and weight norms and the units each layer keeps."""
    layers = list(history.epochs[0].get("weight_norms", {}))
    lines = ["| epoch | phase | train loss | test acc % | grad norm mean / max | "
             + " | ".join(f"‖{n}‖" for n in layers) + " | units kept (eval gate) |",
             "|---" * (6 + len(layers)) + "|"]
    for e in history.epochs:
        norms = " | ".join(f"{e['weight_norms'][n]:.2f}" for n in layers)
        lines.append(f"| {e['epoch']} | {e['phase']} | {e['train_loss']:.3f} | {e['test_accuracy']:.1f} | "
                     f"{e['grad_norm_mean']:.2f} / {e['grad_norm_max']:.1f} | {norms} | {kept_units(e['gates_eval'])} |")
    if history.diverged:
        lines.append(f"\nThen: {history.diverged}")
    return "\n".join(lines)


def after_epochs(results: str | Path, level: str, model: str, epochs: int = 8) -> str:
    """Each seed's test accuracy after its first `epochs` epochs (what `--epochs 8` gives: the
    first epochs of a longer run are the same run), against its best warm-up epoch."""
    out = []
    for seed, history in load_histories(results, level, model).items():
        accs, phases = history.column("test_accuracy"), history.column("phase")
        if len(accs) < epochs:
            out.append(f"seed {seed} stopped after {len(accs)} epochs")
            continue
        warm = [a for a, p in zip(accs, phases) if p == "warmup"]
        out.append(f"seed {seed} {accs[epochs - 1]:.1f} %" + (f" ({accs[epochs - 1] - max(warm):+.1f} against its best "
                                                              f"warm-up epoch)" if warm else ""))
    return f"after {epochs} epochs: " + ", ".join(out)


def verdict(table: list[dict]) -> str:
    """Which fix `paper` uses, and whether it is the one the measurements choose."""
    best = winner(table)
    release = [r for r in table if r["fix"] is None]
    failed = ", ".join(f"{MODEL_NAMES[r['model']]} {r['passed']} of {r['seeds']} seeds" for r in release)
    text = (f"The release's recipe verbatim met the target for {failed}. " if release else "")
    if best is None:
        return text + "No measured fix met the target for every seed of both networks."
    return text + (f"The first fix to meet it for every seed of both networks is `{best}` "
                   f"({FIXES[best][1]}), so `paper` is `release+{best}`"
                   + ("." if best == PAPER_FIX else f"; but snn_edu.presets.PAPER_FIX is `{PAPER_FIX}`: update it."))


def _commands(results: Path, names: list[str]) -> list[str]:
    """The command of every session that wrote each level's study (from its MANIFEST.json)."""
    out = []
    for level in names:
        manifest = json.loads((results / level / "MANIFEST.json").read_text())
        out += [s["command"] for s in manifest.get("sessions", []) if s.get("command")]
    return out


def _machine(results: Path, names: list[str]) -> str:
    cpus = {json.loads((results / lv / "MANIFEST.json").read_text())["cpu"] for lv in names}
    return ", ".join(sorted(map(str, cpus)))


def recipes_page(results: str | Path = "results/recipes") -> str:
    """docs/recipes.md: the release's recipe beside each fix, computed from `results`."""
    results = Path(results)
    names = levels(results)
    if not names:
        return f"# Recipes\n\nNo recipe studies under {results} yet.\n"
    table = rows(results)
    size = SIZES[SIZE][1]
    parts = [
        "# Does the release's recipe train to the end?",
        "",
        "<!-- generated by `python -m snn_edu recipes --out docs/recipes.md` from results/recipes; do not edit -->",
        "",
        f"The release's MNIST recipe verbatim (`--preset release`: README, 'Configurations') and the same recipe "
        f"with one measured fix each, at the check size ({size}, three seeds, switcher neural network (SNN) "
        f"and task neural network (TNN) trained alternately, AL). Target: LeNet5 ends no more than "
        f"{TARGET_DROP:g} point below its best warm-up epoch, the MLP (no warm-up) above {MLP_TARGET:g} %, "
        f"no seed with a NaN loss. A run counts as collapsed when it ends more than {COLLAPSE_MARGIN:g} points below its "
        f"best warm-up epoch (without warm-up: its best earlier epoch).",
        "",
        f"Machine: {_machine(results, names)}. Commands:",
        "",
        "```bash", *_commands(results, names), "```",
        "",
        table_markdown(table),
        "",
        verdict(table),
        "",
        "The fixes: " + "; ".join(f"`{name}`: {text}" for name, (_, text) in FIXES.items()) + ".",
        "",
        "## Where each run fell",
        "",
        "The first epoch of each seed that ended more than "
        f"{COLLAPSE_MARGIN:g} points below its reference (the best warm-up epoch, else the best earlier one):",
        "",
    ]
    for level in names:
        for model in MODELS:
            for seed, history in load_histories(results, level, model).items():
                parts.append(f"- `{level}`, {MODEL_NAMES[model]}, seed {seed}: "
                             f"{collapse_story(history) or 'no epoch fell'}.")
    parts += ["", "The same runs " + "; ".join(
        f"`{level}`, {MODEL_NAMES[model]}, {after_epochs(results, level, model)}"
        for level in names for model in MODELS if load_runs(results, level, model)) + "."]
    for level in [n for n in names if fix_of(n) in (None, PAPER_FIX)]:
        for model in MODELS:
            if Path(results, level, model, "al", "seed0", HISTORY).exists():
                parts += ["", f"## `{level}`, {MODEL_NAMES[model]}, seed 0, epoch by epoch", "",
                          epochs_markdown(load_history(results, level, model, 0))]
    return "\n".join(parts) + "\n"


def load_histories(results: str | Path, level: str, model: str) -> dict[int, History]:
    """{seed: History} of one level's runs of `model`."""
    paths = sorted(Path(results, level, model, "al").glob(f"seed*/{HISTORY}"), key=lambda p: int(p.parent.name[4:]))
    return {int(p.parent.name[4:]): History.from_dict(read_file(p)) for p in paths}


def collapse_story(history: History) -> str | None:
    """Where a run fell: the first epoch that ended more than COLLAPSE_MARGIN points below its reference (the
    best warm-up epoch, else the best earlier one), the gradient norms up to it and the units
    the evaluation gates kept; None when no epoch fell."""
    epochs = history.epochs
    warm = [e["test_accuracy"] for e in epochs if e["phase"] == "warmup"]
    for i, e in enumerate(epochs):
        ref = max(warm) if warm else max((x["test_accuracy"] for x in epochs[:i]), default=None)
        if ref is None or e["phase"] == "warmup" or ref - e["test_accuracy"] <= COLLAPSE_MARGIN:
            continue
        before = [x["grad_norm_max"] for x in epochs if x["phase"] == "warmup"] or [epochs[0]["grad_norm_max"]]
        peak = max(epochs[: i + 1], key=lambda x: x["grad_norm_max"])
        return (f"epoch {e['epoch']} ({e['phase']} phase) ended at {e['test_accuracy']:.1f} % against "
                f"{ref:.1f} % before it, with the evaluation gates keeping {kept_units(e['gates_eval'])} units; "
                f"the largest gradient norm so far, {peak['grad_norm_max']:.1f}, came in epoch {peak['epoch']} "
                f"({peak['phase']} phase), against at most {max(before):.1f} in "
                + ("the warm-up" if warm else "the first epoch")
                + f"; the run ended at {epochs[-1]['test_accuracy']:.1f} %"
                + (" on a NaN loss" if history.diverged else ""))
    return None
