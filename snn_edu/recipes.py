"""Which recipe trains to the end: the release's MNIST recipe verbatim beside each measured fix.

Reads the studies under results/recipes/LEVEL/ (one `reproduce --level LEVEL --variants al` per
level: release+check, release+FIX+check; snn_edu.presets) and says, per level and network, how
each seed ended against its own warm-up, where the loss jumped, and which fix `paper` takes
(`chosen`): LeNet5 no more than TARGET_DROP points below its best warm-up epoch after EARLY epochs
and at the end, the MLP (no warm-up) above MLP_TARGET % at the end, every seed without a NaN, and
a fix counts only while its runs still prune (MIN_REMOVED) or are the release's own runs
(`unchanged`: a fix that leaves a network alone is not blamed for how little the release prunes
it). The page is docs/recipes.md (`python -m snn_edu recipes`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .ablation import mean_architecture, mean_std
from .analysis import architecture_of
from .frontier import MODEL_NAMES
from .metrics import COLLAPSE_MARGIN
from .models import MODELS
from .presets import FIXES, PAPER_FIX, SIZES, split_level
from .runfolder import HISTORY, METRICS, read_file
from .training import History

TARGET_DROP = 1.0   # LeNet5: points below its best warm-up epoch that it may end at (after 8 epochs and at the end)
EARLY = 8           # LeNet5 is also held to the target after this many epochs (`train --epochs 8`)
MLP_TARGET = 90.0   # the MLP: test accuracy (%) its last epoch must exceed
MIN_REMOVED = 10.0  # a fix counts only while its runs still prune: mean params removed (%) in every network
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


def reference(metrics: dict) -> float | None:
    """The accuracy a run is held to: its best warm-up epoch's (None without warm-up)."""
    warm = [a for a, p in zip(metrics["test_accuracy_per_epoch"], metrics["phases"]) if p == "warmup"]
    return max(warm) if warm else None


def passes(metrics: dict) -> bool:
    """True when the run met its network's target (module docstring): with warm-up (LeNet5) no
    more than TARGET_DROP points below its best warm-up epoch after EARLY epochs and at its end,
    without (the MLP) above MLP_TARGET % at its end; never with a NaN loss."""
    accs = metrics["test_accuracy_per_epoch"]
    if metrics["diverged"] or not accs or metrics["epochs"] < metrics["config"]["epochs"]:
        return False
    ref = reference(metrics)
    if ref is None:
        return accs[-1] > MLP_TARGET
    return all(a >= ref - TARGET_DROP for a in (accs[min(EARLY, len(accs)) - 1], accs[-1]))


def rows(results: str | Path, names: list[str] | None = None) -> list[dict]:
    """One row per level (default: the compared ones, `levels`) and network: how its seeds ended."""
    out = []
    for level in levels(results) if names is None else names:
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
                "removed_mean": (sum(m["params_removed_pct"] for m in finished) / len(finished)) if finished else None,
                "trace": [(m["config"]["seed"], m["test_accuracy_per_epoch"], m["params_removed_pct"]) for m in ms],
                "data": ", ".join(sorted({m["config"]["data"] for m in ms})),
                "epochs": ", ".join(sorted({str(m["config"]["epochs"]) for m in ms})),
            })
    return out


def prunes(row: dict) -> bool:
    """Whether a level's runs of one network still prune (MIN_REMOVED): a fix that meets the targets
    by keeping every gate open switches the method off."""
    return row["removed_mean"] is not None and row["removed_mean"] >= MIN_REMOVED


def unchanged(table: list[dict], row: dict) -> bool:
    """Whether a fix left this network's runs exactly as the release's (every seed's accuracy in
    every epoch and weights removed): such a fix is not blamed for how little the release prunes."""
    release = [r for r in table if r["fix"] is None and r["model"] == row["model"]]
    return bool(release) and row["fix"] is not None and row["trace"] == release[0]["trace"]


def counts(table: list[dict], row: dict) -> bool:
    """Whether a fix's runs of one network may count: they still prune, or they are the release's own."""
    return prunes(row) or unchanged(table, row)


def _measured(table: list[dict], fix: str) -> list[dict]:
    """The fix's rows, when both networks were measured and both count (`counts`); else []."""
    mine = [r for r in table if r["fix"] == fix]
    return mine if {r["model"] for r in mine} == set(MODELS) and all(counts(table, r) for r in mine) else []


def winner(table: list[dict]) -> str | None:
    """The first fix (in FIXES' order) that counts (`counts`) and whose runs met the target for
    every seed of every network."""
    for fix in FIXES:
        mine = _measured(table, fix)
        if mine and all(r["passed"] == r["seeds"] for r in mine):
            return fix
    return None


def chosen(table: list[dict]) -> str | None:
    """The fix `paper` should add: the winner; without one, among the fixes that count, were
    measured on both networks and had no collapsed and no diverged run, the one with most seeds on
    target (then the higher mean last accuracy summed over the networks); None when none qualifies."""
    best = winner(table)
    if best is not None:
        return best
    candidates = []
    for fix in FIXES:
        mine = _measured(table, fix)
        if mine and not any(r["collapsed"] or r["diverged"] for r in mine):
            finals = sum(sum(a for a in r["final"] if a is not None) / len(r["final"]) for r in mine)
            candidates.append((sum(r["passed"] for r in mine), finals, fix))
    return max(candidates)[2] if candidates else None


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
    """The pruned architecture these gates leave, by the package's one counting rule
    (analysis.architecture_of: what compact() keeps); '-' without gates."""
    return architecture_of({name: g.float() for name, g in gates.items()}) if gates else "-"


def epochs_markdown(history: History) -> str:
    """Per epoch: phase, losses, accuracy, gradient and weight norms and the units each layer keeps."""
    layers = list(history.epochs[0].get("weight_norms", {}))
    lines = ["| epoch | phase | train loss | test acc % | grad norm mean / max | "
             + " | ".join(f"‖{n}‖" for n in layers) + " | pruned arch (eval gate) |",
             "|---" * (6 + len(layers)) + "|"]
    for e in history.epochs:
        norms = " | ".join(f"{e['weight_norms'][n]:.2f}" for n in layers)
        lines.append(f"| {e['epoch']} | {e['phase']} | {e['train_loss']:.3f} | {e['test_accuracy']:.1f} | "
                     f"{e['grad_norm_mean']:.2f} / {e['grad_norm_max']:.1f} | {norms} | {kept_units(e['gates_eval'])} |")
    if history.diverged:
        lines.append(f"\nThen: {history.diverged}")
    return "\n".join(lines)


def after_epochs(results: str | Path, level: str, model: str, epochs: int = EARLY) -> str:
    """Each seed's test accuracy after its first `epochs` epochs (what `--epochs 8` gives on the
    study's one thread: the first epochs of a longer run are the same run), against its best
    warm-up epoch."""
    out = []
    for m in load_runs(results, level, model):
        seed, accs, phases = m["config"]["seed"], m["test_accuracy_per_epoch"], m["phases"]
        if len(accs) < epochs:
            out.append(f"seed {seed} stopped after {len(accs)} epochs")
            continue
        warm = [a for a, p in zip(accs, phases) if p == "warmup"]
        out.append(f"seed {seed} {accs[epochs - 1]:.1f} %" + (f" ({accs[epochs - 1] - max(warm):+.1f} against its best "
                                                              f"warm-up epoch)" if warm else ""))
    return f"after {epochs} epochs: " + ", ".join(out)


def verdict(table: list[dict]) -> str:
    """Which fix `paper` uses, and whether it is the one the measurements choose."""
    best, pick = winner(table), chosen(table)
    release = [r for r in table if r["fix"] is None]
    failed = ", ".join(f"{MODEL_NAMES[r['model']]} {r['passed']} of {r['seeds']} seeds" for r in release)
    text = (f"The release's recipe verbatim met the target for {failed}. " if release else "")
    if best is not None:
        text += f"The first fix to meet it for every seed of both networks is `{best}` ({FIXES[best][1]}). "
    elif pick is not None:
        text += (f"No measured fix that counts met it for every seed of both networks. Of those with no "
                 f"collapsed or diverged run of either network, the one with the most seeds on target (then the "
                 f"higher last accuracy) is `{pick}` ({FIXES[pick][1]}). ")
    off = [fix for fix in FIXES if [r for r in table if r["fix"] == fix]
           and not all(counts(table, r) for r in table if r["fix"] == fix)]
    same = [(r["fix"], r["model"]) for r in table if unchanged(table, r) and not prunes(r)]
    if same:
        text += ("Counted although they removed less than " f"{MIN_REMOVED:g} % of the weights, because they are the "
                 "release's own runs, seed for seed and epoch for epoch (the fix leaves that network unchanged): "
                 + ", ".join(f"`{fix}` on {MODEL_NAMES[model]}" for fix, model in same) + ". ")
    if off:
        text += ("Not counted, because their runs removed less than "
                 f"{MIN_REMOVED:g} % of the weights of a network on average (the switchers barely pruned, so the "
                 "method was as good as off): " + ", ".join(f"`{f}`" for f in off) + ". ")
    if pick is None:
        return text + "No measured fix that counts met the target, and every one had a collapsed or diverged run."
    return text + (f"So `paper` is `release+{pick}`." if pick == PAPER_FIX
                   else f"But snn_edu.presets.PAPER_FIX is `{PAPER_FIX}`: update it.")


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
        f"and task neural network (TNN) trained alternately, AL). Target: LeNet5 no more than "
        f"{TARGET_DROP:g} point below its best warm-up epoch after {EARLY} epochs (`train --epochs {EARLY}` gives "
        f"the same numbers on one thread, as these studies ran: the first epochs of a longer run are that run; "
        f"on another number of threads the sums are added in another order and the numbers differ) and at the "
        f"end; the MLP (no warm-up) "
        f"above {MLP_TARGET:g} % at the end; no seed with a NaN loss. A fix counts only while its runs still "
        f"prune, removing at least {MIN_REMOVED:g} % of each network's weights on average: `paper` exists to "
        f"reproduce the papers' pruning (this rule was added once the `open` runs had shown that a fix can meet "
        f"the targets by leaving every gate open). A run counts as collapsed when it ends more than {COLLAPSE_MARGIN:g} points below its "
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
        f"{COLLAPSE_MARGIN:g} points below its reference (the best warm-up epoch, else the best earlier one), for "
        "the levels whose histories ship (the release's and `paper`'s; the other fixes ship their metrics only, "
        "to keep results/ under its size cap):",
        "",
    ]
    for level in [n for n in names if n in with_histories()]:
        for model in MODELS:
            for seed, history in load_histories(results, level, model).items():
                parts.append(f"- `{level}`, {MODEL_NAMES[model]}, seed {seed}: "
                             f"{collapse_story(history) or 'no epoch fell'}.")
    parts += ["", "The same runs " + "; ".join(
        f"`{level}`, {MODEL_NAMES[model]}, {after_epochs(results, level, model)}"
        for level in names for model in MODELS if load_runs(results, level, model)) + "."]
    parts += ["", full_length(results)] if full_length(results) else []
    parts += ["", short_check(results)] if short_check(results) else []
    for level in [n for n in names if n in with_histories()]:
        for model in MODELS:
            if Path(results, level, model, "al", "seed0", HISTORY).exists():
                parts += ["", f"## `{level}`, {MODEL_NAMES[model]}, seed 0, epoch by epoch", "",
                          epochs_markdown(load_histories(results, level, model)[0])]
    return "\n".join(parts) + "\n"


FULL = "paper+mnist5k"  # `paper` at its own length (100 epochs) on the shipped digits: the MLP target


def full_length(results: str | Path) -> str:
    """The section on `paper` run for its full 100 epochs on mnist5k, when that study ships."""
    if not Path(results, FULL, "MANIFEST.json").exists():
        return ""
    table = rows(results, [FULL])
    ends = "; ".join(f"{MODEL_NAMES[r['model']]} {r['passed']} of {r['seeds']} seeds on target "
                     f"(last epoch {_ends(r)} %), removing {r['params_removed']} % of the weights"
                     + ("" if prunes(r) else f", less than the {MIN_REMOVED:g} % that counts as pruning") for r in table)
    return "\n".join([
        f"## `paper` at its full length: `{FULL}`", "",
        f"The `check` size stops at 16 epochs. `paper` itself runs 100 (the release's MultiStepLR drops the rate "
        f"tenfold at epochs 50 and 75); here it ran them on mnist5k, with the targets above. {ends}.", "",
        "```bash", *_commands(Path(results), [FULL]), "```", "",
        table_markdown(table), ""])


SHORT = "paper+eight"  # `paper` as the issue's `train --epochs 8` check runs it, on the machine's default threads


def short_check(results: str | Path) -> str:
    """The section on `paper` run as the issue's check types it (8 epochs, the machine's default
    threads), on more seeds than the check asks for, when that study ships."""
    if not Path(results, SHORT, "MANIFEST.json").exists():
        return ""
    manifest = json.loads(Path(results, SHORT, "MANIFEST.json").read_text())
    table = rows(results, [SHORT])
    asked = [m for m in load_runs(results, SHORT, "lenet5") if m["config"]["seed"] in (0, 1, 2)]
    ends = "; ".join(f"{MODEL_NAMES[r['model']]} {r['passed']} of {r['seeds']} seeds on target (last epoch against "
                     f"its best warm-up: {_ends(r)}), {r['collapsed']} collapsed" for r in table)
    threads = manifest.get("threads_per_job")
    return "\n".join([
        f"## `paper` as the issue's check types it: `{SHORT}`", "",
        f"`python -m snn_edu train --preset paper --model lenet5 --data mnist5k --epochs {EARLY} --seed S`, on this "
        f"machine's default {threads} threads (the check-size studies above ran on 1 thread each, so their first "
        f"{EARLY} epochs are other numbers), for seeds 0 to {max(r['seeds'] for r in table) - 1}: the three the "
        f"issue asks for and the next ones as held-out seeds. {ends}. Seeds 0-2 "
        + ("all met" if asked and all(passes(m) for m in asked) else "did not all meet")
        + f" the target here; on one thread seed 0 ended {_early_gap(results)}. A margin of a few tenths of a "
        "point moves with the order in which the threads add their sums, so whether a single run meets the target "
        "depends on the machine it runs on.", "",
        "```bash", *_commands(Path(results), [SHORT]), "```", "",
        table_markdown(table), ""])


def _early_gap(results: str | Path) -> str:
    """`paper`'s seed 0 after EARLY epochs of its one-thread check-size run, against its best warm-up."""
    level = f"release+{PAPER_FIX}+{SIZE}"
    runs = [m for m in load_runs(results, level, "lenet5") if m["config"]["seed"] == 0]
    if not runs:
        return "unmeasured"
    accs, phases = runs[0]["test_accuracy_per_epoch"], runs[0]["phases"]
    best = max(a for a, p in zip(accs, phases) if p == "warmup")
    return f"{accs[EARLY - 1] - best:+.1f} points against its best warm-up epoch (`{level}`)"


def with_histories() -> tuple[str, str]:
    """The levels whose runs ship their histories (.gitignore): the release's and `paper`'s."""
    return f"release+{SIZE}", f"release+{PAPER_FIX}+{SIZE}"


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
                f"{ref:.1f} % before it, with the evaluation gates leaving architecture {kept_units(e['gates_eval'])}; "
                f"the largest gradient norm so far, {peak['grad_norm_max']:.1f}, came in epoch {peak['epoch']} "
                f"({peak['phase']} phase), against at most {max(before):.1f} in "
                + ("the warm-up" if warm else "the first epoch")
                + f"; the run ended at {epochs[-1]['test_accuracy']:.1f} %"
                + (" on a NaN loss" if history.diverged else ""))
    return None
