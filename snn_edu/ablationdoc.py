"""The measured-results page (docs/ablation.md) and its frontier figure, from a results folder
written by `python -m snn_edu reproduce`. Every number on the page comes from that folder; the
tables and sentences come from the study modules, and the figure is drawn here, by the page."""
from __future__ import annotations

import os
from pathlib import Path

from . import ablation, frontier, peers, plots, scopes
from .frontier import MODEL_NAMES, NATURAL, format_pm, point, tuning_text
from .matched import AT, REACH
from .paper import reported_point
from .report import count_text, frontier_settings, frontier_table, minutes, recipe_text
from .runs import read_manifest


def report_markdown(results: str | Path, figure: str | Path | None = None, page: str | Path | None = None) -> str:
    """The page, from `results` (paths are written as given; `figure` is linked relative to `page`)."""
    results = Path(results)
    manifest = read_manifest(results)
    summary = frontier.summarise(frontier.read_csv(results / "frontier.csv")) if (results / "frontier.csv").exists() else []
    models = [m for m in ("mlp", "lenet5") if (results / m).is_dir()]
    generator = f"python -m snn_edu report {results}" + (f" --out {page}" if page else "") + (
        f" --figure {figure}" if figure else "")
    commit = manifest["git_commit"] if isinstance(manifest["git_commit"], str) else ", ".join(manifest["git_commit"])
    sessions = "; ".join(f"`{s['command']}` ({minutes(s['wall_seconds'])}, {s['jobs_run']} jobs, "
                         f"{count_text(s['workers'], 'worker process', 'worker processes')} of "
                         f"{count_text(s['threads_per_worker'], 'thread')})" for s in manifest["sessions"])
    out = [
        "# The ablation study and the accuracy-vs-sparsity frontier, measured",
        "",
        f"This page is generated from the results that ship in `{results}/` by `{generator}`. "
        "Do not edit it by hand: a test checks that it matches the data.",
        "",
        f"**Provenance** (`{results}/MANIFEST.json`): level `{manifest['level']}`; run by {sessions}; "
        f"{manifest['cpu']} (bf16 flags: {manifest['cpu_bf16_flags']}), {manifest['threads_per_job']} thread(s) per job, "
        f"torch {manifest['torch']}, snn_edu {manifest['snn_edu']} at commit `{commit}`"
        f"{' (with uncommitted changes)' if manifest['git_dirty'] else ''}, finished {manifest['date']}. "
        f"Wall time {minutes(manifest['wall_seconds'])}; the jobs themselves took {minutes(manifest['job_seconds'])} "
        f"of worker time. {manifest['jobs_finished']} jobs finished"
        + ("." if manifest["complete"] else f"; missing: {', '.join(manifest['missing'])}."),
        "",
        "Every run folder holds `metrics.json` with its full `config` and the exact `command` that regenerates "
        f"it (into a fresh `--out`). The recipe, read from the switcher runs' configs: {recipe_text(results, models)}. "
        "The paper's numbers come from 100 epochs on all of MNIST with its own recipe, so compare the differences "
        "between rows, not the absolute accuracies.",
    ]
    for model in models:
        runs = ablation.load_runs(results / model)
        if not runs:
            continue
        out += ["", f"## Ablation: {MODEL_NAMES[model]}", "",
                "Mean ± standard deviation over the seeds that finished; the paper's numbers beside them.", "",
                ablation.summary_markdown(runs), "", "What it shows (computed from the runs by "
                "`snn_edu.ablation.findings`):", ""]
        out += [f"- {sentence}" for sentence in ablation.findings(runs, summary)]
    if summary:
        settings = sorted({s["finetune_epochs"] for s in summary})
        out += ["", "## The accuracy-vs-sparsity frontier", "",
                "For every seed, one switcher model (SNN-AL) and one dense model were trained. Each gated "
                "layer's units (the inputs of a linear layer, the filters of a convolution) were then ranked "
                "by a criterion, and the lowest-ranked share of every layer was removed: by the switcher's "
                "evaluation-mode **gate**, by the **L1 norm** of the unit's weights, at **random** (seeded), or "
                f"by captum's **conductance** on {frontier_settings(results).get('attribution_digits', '?'):,} "
                "training digits. On the switcher model the gates are "
                "folded into the weights first, as `compact()` does, and a unit the switcher already removed "
                "stays removed. Test accuracy is measured as pruned and again after fine-tuning the remaining "
                "weights with the masks fixed. Params removed use the package's counting (`params_removed_pct`), "
                "which equals what `compact()` keeps. "
                + ("The tables list the points by the share of each layer's units removed; the curves and every "
                   "comparison use the share of *weights* removed. "
                   if frontier_settings(results).get("unit", "units") == "units" else
                   "Each point's share of units was chosen so that it removes the target share of the gated "
                   "*weights* (the tables' columns), so every curve has a point at each target. ")
                + "Two curves are "
                "compared only at matched weights removed, seed against seed, where both were measured: each "
                f"seed's curve is read at a measured point (one within {AT:g} point of the place counts) or "
                f"between two measured points at most {REACH:g} points apart, never beyond its ends. "
                "A ranking is called *ahead* or *behind* only when the 95 % "
                "interval of the seeds' paired differences (Student's t over the seeds, "
                "`snn_edu.stats.paired_verdict`) excludes 0, and the difference is larger than the accuracy "
                "change between the two points a straight-line read spans (otherwise: *not measured closely "
                "enough*). Where the interval includes 0 the page says *no difference shown*: with three seeds "
                "the interval is wide, so this is an absence of evidence, not a tie."]
        if figure:
            link = os.path.relpath(figure, Path(page).parent) if page else str(figure)
            out += ["", f"![The frontier: test accuracy against params removed]({link})"]
        for model in models:
            natural = point(summary, model, NATURAL, "switcher", None, 0)
            paper_removed, paper_acc = reported_point(model)
            out += ["", f"### {MODEL_NAMES[model]}", ""]
            if natural:
                out.append(f"The switcher model as trained (gates exactly 0 removed): {format_pm(natural)} % test accuracy "
                           f"with {format_pm(natural, 'removed')} % of the weights removed; the paper: {paper_acc} % with "
                           f"{paper_removed} % removed.")
            for epochs in settings:
                out += ["", f"Test accuracy (%), {tuning_text(epochs)}:", "", frontier_table(summary, model, epochs, frontier_settings(results).get("unit", "units"))]
            out += ["", "What it shows (computed by `snn_edu.frontier.findings`):", ""]
            out += [f"- {sentence}" for sentence in frontier.findings(summary, model)]
    out += peers_section(results, models, summary)
    out += scopes_section(results, models, summary)
    return "\n".join(out) + "\n"


def scopes_section(results: Path, models: list[str], summary: list[dict]) -> list[str]:
    shown = [m for m in models if (results / m / "joint").is_dir()]
    if not shown:
        return []
    return ["", "## One switcher per layer, or one for all layers", "",
            "The first paper's section 3.3 describes one switcher that reads every FC layer's weights at once "
            "(stacked as channels, zero-padded to the largest) and one that reads every conv layer's kernels at "
            "once; the release, and `al`, use one switcher per layer. `joint` (`--switcher-scope joint`, "
            "`snn_edu.joint`, where the choices the paper leaves open are written down) trains exactly as `al` "
            "does. The frontier tables above include the joint model ranked by its own gate.", "",
            scopes.scope_markdown(results, shown), "", "What it shows (computed by `snn_edu.scopes.scope_sentences`):",
            ""] + [f"- {sentence}" for sentence in scopes.scope_sentences(results, shown, summary)]


def peers_section(results: Path, models: list[str], summary: list[dict]) -> list[str]:
    runs = {m: peers.load_method_runs(results / m) for m in models}
    shown = [m for m in models if set(runs[m]) - {"al"}]
    if not shown:
        return []
    out = ["", "## The switcher against its peers", "",
           "The papers' Table 1 rows, then ours: the switcher (SNN-AL); the **direct gate**, one learned "
           "`relu(g)` per unit trained exactly as the switcher is (alternating phases, cross-entropy only), "
           "which is the switcher without its U-Net; **L0** hard-concrete gates (Louizos et al.) trained "
           "jointly with the expected-L0 penalty, lambda / N per expected non-zero weight, one run per lambda; and "
           "**BC-GNJ** (Louizos, Ullrich and Welling), trained jointly on cross-entropy + KL / N, a unit pruned "
           "when log alpha >= -3. L0 and BC-GNJ train with Adam at lr 0.01. Every method is counted the same way "
           "and fine-tuned with the same recipe. The "
           "frontier tables above include the direct model ranked by its own gate; `frontier.csv` holds every "
           "peer run's own point, as trained and fine-tuned.", ""] + [f"- {note}" for note in peers.RECIPE_NOTES]
    epochs = tuple(sorted({s["finetune_epochs"] for s in summary}))
    for model in shown:
        out += ["", f"### Peers: {MODEL_NAMES[model]}", "", peers.table_markdown(model, runs[model]), "",
                "What it shows (computed by `snn_edu.peers.findings`):", ""]
        out += [f"- {sentence}" for sentence in peers.findings(summary, model, epochs)]
    return out


def save_frontier_figure(results: str | Path, path: str | Path) -> Path:
    """Both models' frontiers, without and with fine-tuning, as one PNG."""
    summary = frontier.summarise(frontier.read_csv(Path(results) / "frontier.csv"))
    models = [m for m in ("mlp", "lenet5") if any(s["model"] == m for s in summary)]
    epochs = sorted({s["finetune_epochs"] for s in summary})
    fig, axes = plots.new_figure(len(models), len(epochs), width=6 * len(epochs), height=4.2 * len(models), squeeze=False)
    for row, model in enumerate(models):
        for col, e in enumerate(epochs):
            plots.plot_frontier(axes[row, col], summary, model, e, paper=reported_point(model))
            note = frontier.chance_note(summary, model)
            axes[row, col].set_title(f"{MODEL_NAMES[model]}, {tuning_text(e)}" + (f"\n{note}" if note else ""),
                                     fontsize="medium")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize="small")
    path = Path(path)
    fig.savefig(path, dpi=90)
    return path
