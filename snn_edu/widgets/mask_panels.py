"""Notebooks 02 and 04: a run's gates epoch by epoch, two runs side by side, and a threshold on a gate."""
from __future__ import annotations

import torch

from .. import plots
from ..analysis import architecture_of, gate_categories
from . import panel


NO_IMAGE = "no switcher input kept in this history"


def mask_figure(history, layer: str, epoch: int, mode: str = "eval", no_image: str = NO_IMAGE):
    """Mask inspector at one epoch: the gate (map or strip), its category counts on a fixed
    scale, the weight image the switcher read (or, where the history keeps none, the run's
    learning curves with the epoch marked and `no_image` saying why), and the pruned
    architecture of the whole model."""
    record = history.epochs[epoch]
    gates = record[f"gates_{mode}"]
    fig, axes = plots.new_figure(1, 3, width=12, height=3.8)
    accuracy = record.get("test_accuracy")
    fig.suptitle(f"epoch {epoch} [{plots.PHASE_LABELS[record['phase']]}]"
                 + ("" if accuracy is None else f", test accuracy {accuracy:.2f} %"), fontsize="medium")
    if layer not in gates:
        for ax in axes[:2]:
            ax.axis("off")
        why = ("the gates are off in this phase" if record["phase"] in ("warmup", "dense")
               else "one gate per weight is kept for the last epoch only")
        axes[0].text(0.5, 0.5, f"no {layer} gates at epoch {epoch}:\n{why}", ha="center", va="center")
        _curves_panel(axes[2], history, epoch, no_image)
        return fig
    gate = gates[layer]
    plots.plot_gate_map(axes[0], gate, title=f"{layer} gates ({mode} mode)")
    counts = gate_categories(gate)
    axes[1].bar(list(counts), list(counts.values()), color=[plots.CATEGORY_COLOURS[c] for c in counts])
    axes[1].set_ylim(0, gate.numel() * 1.05)  # the same scale at every epoch
    axes[1].set_ylabel(f"{layer} gates")
    axes[1].set_title(f"architecture {architecture_of(gates)}", fontsize="small")
    image = record.get("images", {}).get(layer)
    if image is not None:
        plots.plot_weight_image(axes[2], image, f"{layer}: what the switcher read")
    else:
        _curves_panel(axes[2], history, epoch, no_image)
    return fig


def _curves_panel(ax, history, epoch: int, why: str = NO_IMAGE):
    """The run's learning curves with `epoch` marked (where no switcher input is there to show)."""
    plots.plot_learning_curves(ax, history, title=f"learning curves ({why})")
    ax.axvline(epoch, color="black", lw=1)


def compare_runs_figure(histories: dict, first: str, second: str, layer: str, epoch: int):
    """Two runs side by side: learning curves, and one layer's gates at an epoch."""
    fig, axes = plots.new_figure(2, 2, width=11, height=6)
    for col, name in enumerate((first, second)):
        history = histories[name]
        plots.plot_learning_curves(axes[0, col], history, title=name)
        e = min(epoch, len(history.epochs) - 1)
        gate = history.epochs[e]["gates_eval"].get(layer)
        if gate is None:
            axes[1, col].axis("off")
            axes[1, col].set_title(f"no {layer} gates at epoch {e}", fontsize="small")
        else:
            plots.plot_gate_map(axes[1, col], gate, title=f"{layer} at epoch {e}")
    return fig


def threshold_figure(gate: torch.Tensor | None, threshold: float, missing: str = "no gates"):
    """How the split moves if 'pruned' meant gate < threshold instead of gate == 0 (`missing`
    is said instead when there is no gate)."""
    if gate is None:
        fig, ax = plots.new_figure(1, 1, width=10, height=3.4)
        ax.axis("off")
        ax.text(0.5, 0.5, missing, ha="center", va="center")
        return fig
    g = gate.detach().cpu().flatten()
    counts = gate_categories(g, threshold)
    fig, axes = plots.new_figure(1, 2, width=10, height=3.4)
    plots.plot_gate_values(axes[0], g, title=f"pruned if gate < {threshold:.2f}", threshold=threshold)
    axes[0].axhline(threshold, color="#c0392b", lw=1)
    names = list(plots.CATEGORY_COLOURS)
    axes[1].bar(names, [counts[c] for c in names], color=[plots.CATEGORY_COLOURS[c] for c in names])
    return fig


def mask_inspector(history, layers: list[str] | None = None):
    """Epoch slider, layer picker and gate mode over a training history."""
    import ipywidgets as w

    layers = layers or sorted({k for r in history.epochs for k in r["gates_eval"]}, key=str)
    last = len(history.epochs) - 1
    controls = {
        "epoch": w.IntSlider(value=last, min=0, max=last, description="epoch", continuous_update=False),
        "layer": w.Dropdown(options=layers, value=layers[0], description="layer"),
        "mode": w.ToggleButtons(options=["eval", "train"], value="eval", description="gate",
                                style={"description_width": "initial", "button_width": "60px"}),
    }
    if len(layers) == 1:  # nothing to pick: the figure names the one gated layer
        del controls["layer"]
        return panel.build(controls, lambda epoch, mode: mask_figure(history, layers[0], epoch, mode))
    return panel.build(controls, lambda epoch, layer, mode: mask_figure(history, layer, epoch, mode))


def compare_runs(histories: dict):
    """Two run pickers, a layer and an epoch slider over {name: History}."""
    import ipywidgets as w

    names = list(histories)
    longest = max(len(h.epochs) for h in histories.values()) - 1
    controls = {
        "first": w.Dropdown(options=names, value=names[0], description="run A"),
        "second": w.Dropdown(options=names, value=names[min(1, len(names) - 1)], description="run B"),
        "layer": w.Dropdown(description="layer"),
        "epoch": w.IntSlider(value=longest, min=0, max=longest, description="epoch", continuous_update=False),
    }
    panel.follow(controls, ["first", "second"], "layer", lambda a, b: gated_layers_of(histories, a, b))
    return panel.build(controls, lambda **kw: compare_runs_figure(histories, **kw))


def gated_layers_of(histories: dict, *names: str) -> list[str]:
    """The layers the runs `names` gate, run A's first, in their order."""
    return list(dict.fromkeys(k for name in names for r in histories[name].epochs for k in r["gates_eval"]))


def threshold_explorer(gates: dict):
    """A run picker, a layer picker and a threshold slider over {run: {layer: gate}}."""
    import ipywidgets as w

    runs = list(gates)
    controls = {"run": w.Dropdown(options=runs, value=runs[0], description="run"),
                "layer": w.Dropdown(description="layer"),
                "threshold": w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="prune if <",
                                           continuous_update=False, readout_format=".2f")}
    panel.follow(controls, ["run"], "layer", lambda run: list(gates[run]))
    return panel.build(controls, lambda run, layer, threshold: threshold_figure(gates[run].get(layer), threshold,
                                                                           f"{run} has no {layer} gates"))
