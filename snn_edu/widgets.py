"""Interactive panels. Each panel is a thin ipywidgets shell around a pure function that
takes plain values and returns a matplotlib Figure, so tests call the function directly."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from . import gradients, plots
from .analysis import architecture_of, gate_categories

OUTPUT_HEIGHT = "460px"


# -- pure callbacks ---------------------------------------------------------------------------
def mask_figure(history, layer: str, epoch: int, mode: str = "eval"):
    """Mask inspector at one epoch: the gate (map or strip), its category counts, the weight
    image the switcher read, and the pruned architecture of the whole model."""
    record = history.epochs[epoch]
    gates = record[f"gates_{mode}"]
    fig, axes = plots.new_figure(1, 3, width=12, height=3.8)
    if layer not in gates:
        for ax in axes:
            ax.axis("off")
        axes[1].text(0.5, 0.5, f"epoch {epoch} ({record['phase']}): no gates\n(switcher off in this phase)",
                     ha="center", va="center")
        return fig
    gate = gates[layer]
    plots.plot_gate_map(axes[0], gate, title=f"{layer} gates ({mode} mode)")
    counts = gate_categories(gate)
    axes[1].bar(list(counts), list(counts.values()), color=[plots.CATEGORY_COLOURS[c] for c in counts])
    axes[1].set_title(f"architecture {architecture_of(gates)}", fontsize="small")
    image = record.get("images", {}).get(layer)
    if image is not None:
        plots.plot_weight_image(axes[2], image, f"{layer}: what the switcher read")
    else:
        axes[2].axis("off")
    fig.suptitle(f"epoch {epoch} [{plots.PHASE_LABELS[record['phase']]}], "
                 f"test accuracy {record['test_accuracy']:.2f} %", fontsize="medium")
    return fig


def gradient_figure(x: float, k: int, target: int, w_t, w_s):
    """Section 3.4: each class's contribution to dR/dw_T[k], with and without the switcher."""
    direct, through = gradients.contributions(x, w_t, w_s, target)
    fig, ax = plots.new_figure(1, 1, width=9, height=3.6)
    plots.plot_contributions(ax, direct, through, k)
    plain = float(gradients.grad_without_snn(x, w_t, target)[k])
    gated = float(direct[k].sum() + through[k].sum())
    ax.set_title(f"dR/dw_T[{k}]: without switcher {plain:+.4f}, with switcher {gated:+.4f} "
                 f"(s = {float(gradients.switcher_scale(w_t, w_s)):.3f})", fontsize="small")
    return fig


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


def threshold_figure(gate: torch.Tensor, threshold: float):
    """How the split moves if 'pruned' meant gate < threshold instead of gate == 0."""
    g = gate.detach().cpu().flatten()
    counts = {"pruned": int((g < threshold).sum()) if threshold > 0 else int((g == 0).sum())}
    counts["strengthened"] = int((g >= max(1.0, threshold)).sum())
    counts["weakened"] = g.numel() - counts["pruned"] - counts["strengthened"]
    fig, axes = plots.new_figure(1, 2, width=10, height=3.4)
    plots.plot_gate_values(axes[0], g, title=f"pruned if gate < {threshold:.2f}")
    axes[0].axhline(threshold, color="#c0392b", lw=1)
    names = list(plots.CATEGORY_COLOURS)
    axes[1].bar(names, [counts[c] for c in names], color=[plots.CATEGORY_COLOURS[c] for c in names])
    return fig


# -- ipywidgets shells ------------------------------------------------------------------------
def _show(fig):
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _panel(controls, callback):
    """Controls above a fixed-height output that `callback(**values)` redraws."""
    import ipywidgets as w

    out = w.interactive_output(lambda **kw: _show(callback(**kw)), controls)
    out.layout.min_height = OUTPUT_HEIGHT
    return w.VBox([w.HBox(list(controls.values())), out])


def mask_inspector(history, layers: list[str] | None = None):
    """Epoch slider, layer picker and gate mode over a training history."""
    import ipywidgets as w

    layers = layers or sorted({k for r in history.epochs for k in r["gates_eval"]}, key=str)
    last = len(history.epochs) - 1
    controls = {
        "epoch": w.IntSlider(value=last, min=0, max=last, description="epoch", continuous_update=False),
        "layer": w.Dropdown(options=layers, value=layers[0], description="layer"),
        "mode": w.ToggleButtons(options=["eval", "train"], value="eval", description="gate"),
    }
    return _panel(controls, lambda epoch, layer, mode: mask_figure(history, layer, epoch, mode))


def gradient_explorer(k_classes: int = 5, seed: int = 0):
    """Sliders for x, the updated weight, the target and the switcher's weights."""
    import ipywidgets as w

    gen = torch.Generator().manual_seed(seed)
    w_t = (torch.randn(k_classes, generator=gen) * 0.5).tolist()
    slider = dict(min=-2.0, max=2.0, step=0.05, continuous_update=False, readout_format=".2f")
    controls = {"x": w.FloatSlider(value=1.0, description="x", **slider),
                "k": w.IntSlider(value=0, min=0, max=k_classes - 1, description="update w_T[k]"),
                "target": w.IntSlider(value=1, min=0, max=k_classes - 1, description="target")}
    for i in range(k_classes):
        controls[f"s{i}"] = w.FloatSlider(value=0.5, description=f"w_S[{i}]", **slider)

    def draw(x, k, target, **ws):
        return gradient_figure(x, k, target, w_t, [ws[f"s{i}"] for i in range(k_classes)])

    panel = _panel(controls, draw)
    rows = list(controls.values())
    panel.children = (w.VBox([w.HBox(rows[:3]), w.HBox(rows[3:])]), panel.children[1])
    return panel
