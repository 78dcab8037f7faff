"""Notebook 07: gates on the harder task beside the easier one."""
from __future__ import annotations

from .. import plots
from ..analysis import architecture_of
from . import panel


def input_gates_figure(histories: dict, model: str = "mlp", layer: str = "fc1"):
    """One network's input gates at the end of training, a row per task and a column per seed,
    and last, how many of the seeds keep each input (histories: {(model, task, seed): History})."""
    runs = {(t, s): h for (m, t, s), h in histories.items() if m == model}
    tasks, seeds = list(dict.fromkeys(t for t, _ in runs)), sorted({s for _, s in runs})
    fig, axes = plots.new_figure(len(tasks), len(seeds) + 1, width=2.6 * (len(seeds) + 1), height=2.9 * len(tasks),
                                 squeeze=False)
    for row, task in enumerate(tasks):
        kept = None
        for col, seed in enumerate(seeds):
            ax = axes[row, col]
            if (task, seed) not in runs:
                ax.axis("off")
                continue
            gate = runs[(task, seed)].epochs[-1]["gates_eval"][layer]
            plots.plot_gate_map(ax, gate, title=f"{task}, seed {seed}: {int((gate > 0).sum())} kept")
            kept = (gate > 0).int() if kept is None else kept + (gate > 0).int()
        ax = axes[row, -1]
        side = 28 if kept is not None and kept.numel() == 784 else None
        if side:
            image = ax.imshow(kept.reshape(side, side).numpy(), cmap="Greens", vmin=0, vmax=len(seeds))
            fig.colorbar(image, ax=ax, fraction=0.046, ticks=range(len(seeds) + 1))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{task}: kept by how many seeds", fontsize="small")
    fig.legend(handles=plots.category_handles(), loc="outside lower center", ncol=len(plots.CATEGORY_COLOURS),
               fontsize="small", frameon=False)
    return fig


def category_counts_figure(histories: dict, model: str = "vgg-cov2", seed: int = 0):
    """Pruned / weakened / strengthened units per epoch of every gated layer of one network and
    seed (the first paper's Fig. 4, right), a row per task."""
    runs = {t: h for (m, t, s), h in histories.items() if m == model and s == seed}
    layers = list(dict.fromkeys(k for h in runs.values() for r in h.epochs for k in r["gates_eval"]))
    fig, axes = plots.new_figure(len(runs), len(layers), width=3.6 * len(layers), height=2.9 * len(runs),
                                 squeeze=False)
    for row, (task, history) in enumerate(runs.items()):
        for col, layer in enumerate(layers):
            plots.plot_category_counts(axes[row, col], history, layer)
            axes[row, col].get_legend().remove()  # one legend for the figure, under it, covering no line
            axes[row, col].set_title(f"{task}, seed {seed}: {layer}", fontsize="small")
    fig.legend(handles=axes[0, 0].get_lines(), loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    return fig


def task_masks_figure(histories: dict, model: str, task: str, seed: int, epoch: int):
    """Every gated layer's gates of one run at one epoch (its last epoch if the run is shorter)."""
    history = histories.get((model, task, seed))
    if history is None:
        fig, ax = plots.new_figure(1, 1, width=6, height=1.5)
        ax.axis("off")
        ax.text(0.5, 0.5, f"no {model} run on {task} with seed {seed} in these results", ha="center", va="center")
        return fig
    epoch = min(epoch, len(history.epochs) - 1)
    record = history.epochs[epoch]
    gates = record["gates_eval"]
    layers = list(dict.fromkeys(k for r in history.epochs for k in r["gates_eval"]))
    fig, axes = plots.new_figure(1, len(layers), width=3.4 * len(layers), height=3.6, squeeze=False)
    accuracy = record.get("test_accuracy")
    fig.suptitle(f"{model} on {task}, seed {seed}, epoch {epoch} [{plots.PHASE_LABELS[record['phase']]}]"
                 + ("" if accuracy is None else f": test accuracy {accuracy:.2f} %")
                 + (f", architecture {architecture_of(gates)}" if gates else ""), fontsize="medium")
    for ax, layer in zip(axes[0], layers):
        if layer in gates:
            plots.plot_gate_map(ax, gates[layer])
            ax.set_ylabel(layer)
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, f"no {layer} gates:\nthe gates are off in this phase", ha="center", va="center")
    return fig


def task_masks(histories: dict):
    """Network, task, seed and epoch over {(model, task, seed): History}."""
    import ipywidgets as w

    models = list(dict.fromkeys(m for m, _, _ in histories))
    tasks = list(dict.fromkeys(t for _, t, _ in histories))
    seeds = sorted({s for _, _, s in histories})
    last = max(len(h.epochs) for h in histories.values()) - 1
    controls = {
        "model": w.Dropdown(options=models, value=models[0], description="network"),
        "task": w.Dropdown(options=tasks, value=tasks[0], description="task"),
        "seed": w.Dropdown(options=seeds, value=seeds[0], description="seed"),
        "epoch": w.IntSlider(value=last, min=0, max=last, description="epoch", continuous_update=False),
    }
    return panel.build(controls, lambda **kw: task_masks_figure(histories, **kw))
