"""Is a harder task pruned less? The same study on two data sets of one shape (mnist5k, and the
harder fashion5k), compared network by network: the papers' claim that "for the same network,
more difficult tasks will result in less sparsity"."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

from .ablation import by_seed, load_histories, load_runs, mean_architecture, mean_std
from .frontier import MODEL_NAMES
from .metrics import CHANCE_LEVEL
from .models import MODELS as MNIST_MODELS
from .report import recipe_text
from .stats import interval_text, paired_interval
from .training import History

MODELS = ("mlp", "lenet5", "vgg-cov2")


def task_rows(results: dict[str, Path], models) -> list[dict]:
    """One row per network and task: the switcher (AL) runs' accuracy, architecture and params
    removed, and the accuracy lost against the dense run of the same seed, each by seed."""
    rows = []
    for model in models:
        for task, folder in results.items():
            runs = load_runs(Path(folder) / model, kinds=("al", "dense"))
            al, dense = by_seed(runs, "al"), by_seed(runs, "dense")
            if not al:
                continue
            seeds = sorted(al)
            rows.append({"model": model, "task": task, "seeds": len(seeds),
                         "accuracy": [al[s]["test_accuracy"] for s in seeds],
                         "dense_accuracy": [dense[s]["test_accuracy"] for s in seeds if s in dense],
                         "drop": [dense[s]["test_accuracy"] - al[s]["test_accuracy"] for s in seeds if s in dense],
                         "removed": [al[s]["params_removed_pct"] for s in seeds],
                         "network_removed": [whole_network_removed(al[s]) for s in seeds],
                         "removed_by_seed": {s: al[s]["params_removed_pct"] for s in seeds},
                         "accuracy_by_seed": {s: al[s]["test_accuracy"] for s in seeds},
                         "drop_by_seed": {s: dense[s]["test_accuracy"] - al[s]["test_accuracy"] for s in seeds if s in dense},
                         "architecture": mean_architecture([al[s] for s in seeds])})
    return rows


def whole_network_removed(metrics: dict) -> float | None:
    """A run's share of all its TNN weights removed: recorded, or, for an MNIST model (every weight
    gated), its params removed; None for a network with ungated weights counted before the field existed."""
    if "network_params_removed_pct" in metrics:
        return metrics["network_params_removed_pct"]
    return metrics["params_removed_pct"] if metrics["config"]["model"] in MNIST_MODELS else None


def tasks_markdown(rows: list[dict]) -> str:
    lines = ["| network | task | seeds | SNN test acc % | dense test acc % | drop (dense - SNN), points | "
             "pruned arch (mean) | params removed %, gated layers | params removed %, whole network |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        whole = mean_std(r["network_removed"]) if None not in r["network_removed"] else "not counted"
        lines.append(f"| {MODEL_NAMES.get(r['model'], r['model'])} | {r['task']} | {r['seeds']} | "
                     f"{mean_std(r['accuracy'])} | {mean_std(r['dense_accuracy'])} | {mean_std(r['drop'])} | "
                     f"{r['architecture']} | {mean_std(r['removed'])} | {whole} |")
    return "\n".join(lines)


def paired(by_task: dict[str, dict], key: str, easier: str, harder: str) -> tuple[list[int], tuple | None]:
    """The seeds both tasks ran, and the 95 % t-interval of (harder - easier) over them, paired by seed."""
    e, h = by_task[easier][key], by_task[harder][key]
    seeds = sorted(set(e) & set(h))
    return seeds, paired_interval([h[s] for s in seeds], [e[s] for s in seeds])


def _direction(interval, above: str, below: str) -> str:
    mean, low, high = interval
    return above if low > 0 else below if high < 0 else "the interval includes 0: no difference shown"


def _near_chance(by_task: dict[str, dict], seeds: list[int], easier: str, harder: str) -> str:
    """' (seed S: a % on easier, b % on harder, near chance level: ...)' for the seeds whose switcher run
    ended near chance on either task, whose pairs measure a collapse rather than the task; else ''."""
    acc = {task: by_task[task].get("accuracy_by_seed", {}) for task in (easier, harder)}
    low = [s for s in seeds if s in acc[easier] and s in acc[harder]
           and min(acc[easier][s], acc[harder][s]) < CHANCE_LEVEL]
    if not low:
        return ""
    each = "; ".join(f"seed {s}: {acc[easier][s]:.1f} % on {easier}, {acc[harder][s]:.1f} % on {harder}" for s in low)
    return (f" ({each}: near chance level, so {'that pair measures' if len(low) == 1 else 'those pairs measure'} "
            "a collapsed switcher rather than the task)")


def task_sentences(rows: list[dict], easier: str, harder: str) -> list[str]:
    """Per network, paired by seed (the same seed on both tasks): the difference harder - easier in
    weights removed and in accuracy lost against dense, each with its 95 % t-interval over seeds."""
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        name = MODEL_NAMES.get(model, model)
        by_task = {r["task"]: r for r in rows if r["model"] == model}
        if easier not in by_task or harder not in by_task:
            out.append(f"{name}: not measured on both {easier} and {harder}.")
            continue
        seeds, removed = paired(by_task, "removed_by_seed", easier, harder)
        _, lost = paired(by_task, "drop_by_seed", easier, harder)
        if removed is None:
            out.append(f"{name}: fewer than two seeds ran on both tasks; no interval can be given.")
            continue
        per_seed = ", ".join(f"{by_task[harder]['removed_by_seed'][s] - by_task[easier]['removed_by_seed'][s]:+.2f}"
                             for s in seeds)
        sentence = (f"{name}, {len(seeds)} seeds paired by seed{_near_chance(by_task, seeds, easier, harder)}: "
                    f"the switcher removed {mean_std(by_task[harder]['removed'])} "
                    f"% of the weights on {harder} against {mean_std(by_task[easier]['removed'])} % on {easier}, a "
                    f"difference of {interval_text(removed)} (seed by seed {per_seed}): "
                    + _direction(removed, "more on the harder task, against the papers' claim",
                                 "less on the harder task, as the papers claim"))
        if lost is not None:
            sentence += (f"; it lost {mean_std(by_task[harder]['drop'])} points of accuracy against its dense run on "
                         f"{harder} against {mean_std(by_task[easier]['drop'])} on {easier}, a difference of "
                         f"{interval_text(lost)}: "
                         + _direction(lost, "the harder task costs more accuracy", "the harder task costs less accuracy"))
        out.append(sentence + f". With {len(seeds)} seeds the interval is wide: a verdict needs it to exclude 0.")
    return out


def same_recipe(folders: dict[str, Path], models) -> bool:
    """Whether the switcher runs' recipes read the same on every task, apart from the data set."""
    texts = {task: recipe_text(folder, list(models)).replace(task, "TASK") for task, folder in folders.items()}
    return len(set(texts.values())) == 1


TASKS = {"mnist5k": "cpu", "fashion5k": "cpu-fashion5k"}  # task -> its study's folder under results/


def task_folders(results: str | Path = "results") -> dict[str, Path]:
    """{task: its study's folder} under `results`."""
    return {task: Path(results) / folder for task, folder in TASKS.items()}


def load_task_histories(folders: dict[str, Path], models=MODELS) -> dict[tuple[str, str, int], History]:
    """{(model, task, seed): History} of every switcher (AL) run in the studies (for the widgets)."""
    out = {}
    for model in models:
        for task, folder in folders.items():
            for name, history in load_histories(Path(folder) / model, kinds=("al",)).items():
                out[(model, task, int(name.split("seed")[-1]))] = history
    return out


def _flag_values(command: str, flag: str) -> list[str] | None:
    """The values given to `flag` in a command line (None when it is absent)."""
    words = shlex.split(command)
    if flag not in words:
        return None
    values = words[words.index(flag) + 1:]
    return values[:next((i for i, v in enumerate(values) if v.startswith("--")), len(values))]


def _commands(folder: Path, models) -> list[str]:
    """The commands that trained this page's runs (switcher and dense runs of `models`), as the
    study's MANIFEST.json recorded them."""
    path = folder / "MANIFEST.json"
    sessions = json.loads(path.read_text()).get("sessions", []) if path.exists() else []
    made = [s["command"] for s in sessions if s.get("command")
            and set(_flag_values(s["command"], "--models") or ("mlp", "lenet5")) & set(models)
            and set(_flag_values(s["command"], "--variants") or ("al", "dense")) & {"al", "dense"}]
    return list(dict.fromkeys(made)) or ["(no MANIFEST.json)"]


def tasks_page(results: str | Path = "results", models=MODELS) -> str:
    """docs/harder_tasks.md: the table and the sentences, computed from the two studies' runs."""
    folders = task_folders(results)
    rows = task_rows(folders, models)
    sentences = task_sentences(rows, "mnist5k", "fashion5k")
    lines = ["# Is a harder task pruned less?", "",
             "<!-- generated by `python -m snn_edu tasks --out docs/harder_tasks.md`: do not edit by hand -->", "",
             "Both papers conclude that the switcher prunes less when the task is harder (\"for the same network, "
             "more difficult tasks will result in less sparsity\": CIFAR-10 against CIFAR-100 in the second "
             "paper; CIFAR-10 against Mini-ImageNet in the first). Fashion-MNIST has MNIST's shape and size and "
             "is harder, so the claim can be checked offline: the same `cpu`-level study (switcher AL runs and "
             "dense runs, 3 seeds) on `mnist5k` and on `fashion5k`.", "",
             tasks_markdown(rows), "",
             "Mean ± std over seeds; the drop is the dense run's test accuracy minus the switcher run's, seed by "
             "seed. The sentences pair the runs by seed (the same seed on both tasks) and give the mean "
             "difference, harder task minus easier, with its 95 % interval from Student's t over the seeds "
             "(`snn_edu.stats.paired_interval`). A difference is called shown only when its interval excludes 0.", ""]
    lines += [f"- {s}" for s in sentences]
    shown = [m for m in models if any(r["model"] == m for r in rows)]
    alike = same_recipe({t: f for t, f in folders.items() if t in ("mnist5k", "fashion5k")}, shown)
    lines += ["", "The recipes, read from the switcher runs' configs "
              + ("(the same on both tasks but for the data set): " if alike else f"on mnist5k (fashion5k's differ: "
                 f"{recipe_text(folders['fashion5k'], shown)}): ")
              + recipe_text(folders["mnist5k"], shown) + ".",
              "", "Made by (each study's MANIFEST.json):", ""]
    lines += [f"- {task}: `{cmd}`" for task, folder in folders.items() for cmd in _commands(folder, models)]
    lines += ["", "Each run's `metrics.json` records its exact command, config and machine. Not measured here: "
              "the papers' own tasks (CIFAR, Mini-ImageNet), and VGG-cov2 gated in its convolutions too "
              "(`--gate-convs`)."]
    return "\n".join(lines) + "\n"
