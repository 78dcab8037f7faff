"""Interactive panels. Each panel is a thin ipywidgets shell around a pure function that
takes plain values and returns a matplotlib Figure, so tests call the function directly."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from . import gradients, plots
from .analysis import architecture_of, gate_categories, gate_category

OUTPUT_HEIGHT = "460px"
FIGURE_HEIGHT = 6.0  # inches: the tallest a panel's figure may be (JupyterLab shows about 680 px at 1,280 x 800)


# -- pure callbacks ---------------------------------------------------------------------------
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


def frontier_figure(summary: list[dict], model: str, finetune_epochs: int, curves=None, zoom: float | None = None,
                    scale: str = "removed"):
    """The accuracy-vs-sparsity frontier of one model, with or without fine-tuning, against params
    removed or the compression ratio (`scale`, see plots.set_sparsity_axis)."""
    from .frontier import MODEL_NAMES, tuning_text
    from .paper import reported_point

    fig, ax = plots.new_figure(1, 1, width=11, height=4.6)
    plots.plot_frontier(ax, summary, model, finetune_epochs, curves, reported_point(model), zoom, scale)
    tuning = tuning_text(finetune_epochs)
    seeds = max((s["seeds"] for s in summary if s["model"] == model), default=0)
    ax.set_title(f"{MODEL_NAMES[model]}: lowest-ranked units of every layer removed, {tuning} "
                 f"(mean ± std over {seeds} seeds)", fontsize="small")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the curves, never on them
    return fig


def peers_figure(summary: list[dict], model: str, finetune_epochs: int, scale: str = "removed"):
    """The switcher against the direct gate and L0 on one model's frontier, with the papers' points."""
    from .frontier import MODEL_NAMES, tuning_text
    from .peers import table1_points

    fig, ax = plots.new_figure(1, 1, width=11.5, height=4.8)
    seeds = max((s["seeds"] for s in summary if s["model"] == model), default=0)
    ax.set_title(f"{MODEL_NAMES[model]}: the switcher and its peers, {tuning_text(finetune_epochs)} "
                 f"(mean ± std over {seeds} seeds)", fontsize="small")  # before plotting: it spreads labels in the final layout
    plots.plot_peers(ax, summary, model, finetune_epochs, table1_points(model), scale)
    return fig


def peer_masks_figure(histories: dict, method: str, seed: int, layer: str, epoch: int):
    """One method's gates of one layer at an epoch (the last one if the run is shorter)."""
    from .peers import short_name

    history = histories[(method, seed)]
    epoch = min(epoch, len(history.epochs) - 1)
    no_image = NO_IMAGE if method == "al" else f"{short_name(method)} reads no weights: there is no switcher input"
    fig = mask_figure(history, layer, epoch, no_image=no_image)
    fig.axes[0].set_title(f"{short_name(method)}, seed {seed}: {fig.axes[0].get_title()}", fontsize="small")
    return fig


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


def joint_image_figure(model):
    """What the joint switchers of `model` read (snn_edu.joint): the FC layers' weights stacked as
    channels and zero-padded to the largest (one panel per channel, each layer's own region
    outlined), and the conv filters' kernel features, a row per filter of every conv layer."""
    from matplotlib.patches import Rectangle

    from .joint import joint_images

    images = joint_images(model)
    names = {family: [n for n, layer in model.gated_layers().items() if layer.family == family]
             for family in images}
    panels = [("fc", k) for k in range(len(names.get("fc", [])))] + ([("conv", None)] if "conv" in images else [])
    fig, axes = plots.new_figure(1, len(panels), width=3.4 * len(panels), height=3.8, squeeze=False)
    for ax, (family, k) in zip(axes[0], panels):
        if family == "fc":
            image = images["fc"][k]
            h, w = model.gated_layers()[names["fc"][k]].weight.shape
            plots.plot_weight_image(ax, image, f"channel {k}: {names['fc'][k]} ({h} x {w})\n"
                                               f"padded to {image.shape[0]} x {image.shape[1]}")
            ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="black", linewidth=1.2))
        else:
            image = images["conv"]
            plots.plot_weight_image(ax, image, f"conv filters of {', '.join(names['conv'])}:\n"
                                               f"{image.shape[0]} rows x {image.shape[1]} features")
    return fig


# -- ipywidgets shells ------------------------------------------------------------------------
def _show(fig):
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _panel(controls, callback, rows: list[list[str]] | None = None):
    """Controls above a fixed-height output that `callback(**values)` redraws.

    The one layout rule of every panel: controls sit in `rows` (lists of control names; default
    one row), and each row wraps onto further lines instead of growing wider than the notebook.
    """
    import ipywidgets as w

    out = w.interactive_output(lambda **kw: _show(callback(**kw)), controls)
    out.layout.min_height = OUTPUT_HEIGHT
    for control in controls.values():
        control.layout.flex = "0 0 auto"  # a squeezed control wraps its own parts away from its label
        if isinstance(control, w.ToggleButtons):  # ipywidgets 8 stacks its label above the buttons
            control.layout.display, control.layout.align_items, control.layout.margin = "flex", "center", "0 0 0 12px"
    rows = rows or [list(controls)]
    boxes = [w.HBox([controls[name] for name in row], layout=w.Layout(flex_flow="row wrap", width="100%"))
             for row in rows]
    panel = w.VBox([w.VBox(boxes, layout=w.Layout(width="100%")), out], layout=w.Layout(width="100%"))
    panel.controls, panel.draw = controls, callback  # what it offers and what it draws, for checks without a browser
    return panel


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
        return _panel(controls, lambda epoch, mode: mask_figure(history, layers[0], epoch, mode))
    return _panel(controls, lambda epoch, layer, mode: mask_figure(history, layer, epoch, mode))


def compare_runs(histories: dict):
    """Two run pickers, a layer and an epoch slider over {name: History}."""
    import ipywidgets as w

    names = list(histories)
    layers = sorted({k for h in histories.values() for r in h.epochs for k in r["gates_eval"]})
    longest = max(len(h.epochs) for h in histories.values()) - 1
    own = [k for r in histories[names[0]].epochs for k in r["gates_eval"]]  # run A's layers, in its order
    controls = {
        "first": w.Dropdown(options=names, value=names[0], description="run A"),
        "second": w.Dropdown(options=names, value=names[min(1, len(names) - 1)], description="run B"),
        "layer": w.Dropdown(options=layers, value=own[0] if own else layers[0], description="layer"),
        "epoch": w.IntSlider(value=longest, min=0, max=longest, description="epoch", continuous_update=False),
    }
    return _panel(controls, lambda **kw: compare_runs_figure(histories, **kw))


def threshold_explorer(gates: dict):
    """A run picker, a layer picker and a threshold slider over {run: {layer: gate}}."""
    import ipywidgets as w

    runs = list(gates)
    layers = list(dict.fromkeys(layer for per_run in gates.values() for layer in per_run))
    controls = {"run": w.Dropdown(options=runs, value=runs[0], description="run"),
                "layer": w.Dropdown(options=layers, value=next(iter(gates[runs[0]])), description="layer"),
                "threshold": w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="prune if <",
                                           continuous_update=False, readout_format=".2f")}
    return _panel(controls, lambda run, layer, threshold: threshold_figure(gates[run].get(layer), threshold,
                                                                           f"{run} has no {layer} gates"))


def _model_and_tuning(summary: list[dict]) -> dict:
    """A model picker and fine-tuning buttons over a frontier summary."""
    import ipywidgets as w

    order = ["mlp", "lenet5", "vgg-cov2"]
    models = sorted({s["model"] for s in summary}, key=lambda m: (order.index(m) if m in order else len(order), m))
    epochs = sorted({s["finetune_epochs"] for s in summary})
    return {"model": w.Dropdown(options=models, value=models[0], description="model", layout={"width": "170px"}),
            "finetune_epochs": w.ToggleButtons(options=[("no fine-tuning", 0)] + [(f"{e} epochs", e) for e in epochs if e],
                                               value=0, description="fine-tune"),
            "scale": w.ToggleButtons(options=[("removed %", "removed"), ("compression, log", "compression")],
                                     value="removed", description="x axis")}


def frontier_explorer(summary: list[dict]):
    """Model, fine-tuning, which curves, and a zoom on the top of the accuracy axis."""
    import ipywidgets as w

    from .frontier import CURVES, curve_label

    controls = {
        **_model_and_tuning(summary),
        "curves": w.SelectMultiple(options=[(curve_label(c, s), (c, s)) for c, s in CURVES], value=CURVES,
                                   rows=len(CURVES), description="curves", layout={"width": "430px"}),
        "zoom": w.FloatSlider(value=0.0, min=0.0, max=40.0, step=1.0, description="y range (points, 0: all)",
                              continuous_update=False, style={"description_width": "initial"}),
    }

    def draw(model, finetune_epochs, scale, curves, zoom):
        return frontier_figure(summary, model, finetune_epochs, list(curves), zoom or None, scale)

    return _panel(controls, draw, rows=[["model", "finetune_epochs", "scale"], ["zoom", "curves"]])


def peer_masks(histories: dict):
    """Method, seed, layer and epoch over {(method, seed): History}."""
    import ipywidgets as w

    from .peers import short_name

    methods = list(dict.fromkeys(m for m, _ in histories))
    seeds = sorted({s for _, s in histories})
    layers = sorted({k for h in histories.values() for r in h.epochs for k in r["gates_eval"]}, key=str)
    last = max(len(h.epochs) for h in histories.values()) - 1
    controls = {
        "method": w.Dropdown(options=[(short_name(m), m) for m in methods], value=methods[0], description="method"),
        "seed": w.Dropdown(options=seeds, value=seeds[0], description="seed"),
        "layer": w.Dropdown(options=layers, value=layers[0], description="layer"),
        "epoch": w.IntSlider(value=last, min=0, max=last, description="epoch", continuous_update=False),
    }
    return _panel(controls, lambda **kw: peer_masks_figure(histories, **kw))


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
    return _panel(controls, lambda **kw: task_masks_figure(histories, **kw))


def peers_explorer(summary: list[dict]):
    """Model and fine-tuning over the peers' frontier."""
    return _panel(_model_and_tuning(summary), lambda **kw: peers_figure(summary, **kw))


def explorer_weights(k_classes: int = 5, seed: int = 0) -> list[float]:
    """The gradient explorer's TNN weights w_T: random, with the sign that makes equal w_S
    sliders open the switcher (s > 0), so that every slider acts from the start."""
    w_t = torch.randn(k_classes, generator=torch.Generator().manual_seed(seed)) * 0.5
    return (w_t if float(w_t.sum()) > 0 else -w_t).tolist()


def gradient_explorer(k_classes: int = 5, seed: int = 0, w_t=None):
    """Sliders for x, the updated weight, the target and the switcher's weights, over the TNN
    weights `w_t` (default: random ones drawn from `seed`)."""
    import ipywidgets as w

    w_t = explorer_weights(k_classes, seed) if w_t is None else list(w_t)
    k_classes = len(w_t)
    slider = dict(min=-2.0, max=2.0, step=0.05, continuous_update=False, readout_format=".2f")
    controls = {"x": w.FloatSlider(value=1.0, description="x", **slider),
                "k": w.IntSlider(value=0, min=0, max=k_classes - 1, description="update w_T[k]",
                                 style={"description_width": "initial"}),
                "target": w.IntSlider(value=1, min=0, max=k_classes - 1, description="target")}
    for i in range(k_classes):
        controls[f"s{i}"] = w.FloatSlider(value=0.5, description=f"w_S[{i}]", **slider)

    def draw(x, k, target, **ws):
        return gradient_figure(x, k, target, w_t, [ws[f"s{i}"] for i in range(k_classes)])

    return _panel(controls, draw, rows=[["x", "k", "target"], [f"s{i}" for i in range(k_classes)]])


# -- kernels and attributions (notebook 03) -----------------------------------------------------
MAP_KINDS = {"raw": "raw kernel responses (un-gated weights)", "gated": "what the network passes on (gated)"}


def _layer_gate(model, layer: str):
    module = getattr(model, layer)
    return module.gate_in_mode("eval").cpu().flatten() if module.active else None


def fig3_figure(model, images: torch.Tensor, strengthened, pruned, layer: str = "conv1",
                labels=None, gated: bool = False):
    """The paper's Fig. 3, one row per kernel (its weights first), one column per digit.

    Rows are framed in the colour of their kernel's real gate category, so stand-ins
    chosen by pick_kernels(fill=True) show as 'weakened', not as what they stand in for.
    """
    from . import attribution

    kernels = [int(k) for k in strengthened] + [int(k) for k in pruned]
    if not kernels:
        fig, ax = plots.new_figure(1, 1, width=7, height=1.6)
        ax.axis("off")
        ax.text(0.5, 0.5, f"{layer}: no strengthened or pruned kernels in this run to show\n"
                "(tick 'fill with stand-ins' to show the closest kernels, labelled by their real category)",
                ha="center", va="center")
        return fig
    gate = _layer_gate(model, layer)
    maps = attribution.feature_maps(model, layer, images, gated=gated)[:, kernels]
    weight = getattr(model, layer).weight.detach().cpu()
    n, k = len(images), len(kernels)
    # digits run across the notebook's width, kernels down, within FIGURE_HEIGHT; a deeper layer's
    # kernel (one 5x5 slice per input channel) gets a wider first column to stay readable
    first = 1.8 if weight.dim() == 4 and weight.shape[1] > 1 else 1.0
    size = min(0.95, (FIGURE_HEIGHT - 0.7) / (k + 1), 9.2 / (n + first))
    fig, axes = plots.new_figure(k + 1, n + 1, width=size * (n + first) + 1.6, height=size * (k + 1) + 0.7,
                                 squeeze=False, gridspec_kw={"width_ratios": [first] + [1] * n})
    axes[0, 0].axis("off")
    for col in range(n):
        ax = axes[0, col + 1]
        plots.plot_feature_map(ax, images[col, 0].cpu())
        if labels is not None:
            ax.set_title(f"digit {int(labels[col])}", fontsize="x-small")
    for row, kernel in enumerate(kernels, start=1):
        category = "no gate" if gate is None else gate_category(float(gate[kernel]))
        g_text = "" if gate is None else f"\ng={float(gate[kernel]):.2f}"
        colour = plots.CATEGORY_COLOURS.get(category, "#999999")
        plots.plot_kernel(axes[row, 0], weight[kernel].squeeze(0))
        axes[row, 0].set_ylabel(f"kernel {kernel}\n{category}{g_text}", rotation=0, ha="right", va="center",
                                fontsize="x-small", color="white",
                                bbox=dict(facecolor=colour, edgecolor="none", pad=2))
        lo, hi = float(maps[:, row - 1].min()), float(maps[:, row - 1].max())
        for col in range(n):
            plots.plot_feature_map(axes[row, col + 1], maps[col, row - 1], lo, hi)
        for ax in axes[row]:
            plots.plot_frame(ax, colour)
    fig.suptitle(f"{layer}: {MAP_KINDS['gated' if gated else 'raw']}; frames: kernel category; "
                 "each row shares one grey scale", fontsize="small")
    return fig


def ranking_scatter_figure(table: dict):
    """Three rankings of one layer's kernels against each other (gate, conductance, L1)."""
    pairs = [("gate", "conductance"), ("gate", "l1"), ("l1", "conductance")]
    names = {"gate": "switcher gate (eval)", "conductance": "mean |conductance|", "l1": "L1 of weights"}
    from .attribution import rho_of

    fig, axes = plots.new_figure(1, 3, width=12, height=3.6)
    for ax, (a, b) in zip(axes, pairs):
        plots.plot_rank_scatter(ax, table[a], table[b], table["gate"], names[a], names[b],
                                rho_of(table, a, b), rho_of(table, a, b, alive=True))
    plots.category_legend(axes[0], loc="upper left")
    fig.suptitle(f"{table['layer']}: {len(table['gate'])} kernels, attributions over {table['n_images']} "
                 "test digits", fontsize="medium")
    return fig


def pixel_maps_figure(gate_784: torch.Tensor, attribution_784: torch.Tensor):
    """First-layer gate per pixel beside the mean |IntegratedGradients| per pixel (4 Axes with
    their colour bars), with the Spearman rho of the two in the title."""
    from . import attribution

    rho = attribution.spearman(gate_784.flatten(), attribution_784.flatten())
    fig, axes = plots.new_figure(1, 2, width=9, height=3.8)
    plots.plot_pixel_values(axes[0], gate_784, "switcher gate of each input pixel (fc1)")
    plots.plot_pixel_values(axes[1], attribution_784, "mean |Integrated Gradients| per pixel", cmap="magma")
    fig.suptitle(f"Spearman rho over the 784 pixels: {attribution.format_rho(rho)}",
                 fontsize="medium")
    return fig


DIGIT_CHOICES = ["one of each class", "random from the test set"] + [f"class {c}" for c in range(10)]


def _digit_rows(y: torch.Tensor, digits: str, seed: int, n: int = 6) -> torch.Tensor:
    """Test-set indices for a DIGIT_CHOICES entry."""
    from . import attribution

    gen = torch.Generator().manual_seed(seed)
    y = y.detach().cpu()
    if digits == "one of each class":
        return attribution.one_digit_per_class(y, y, seed)
    if digits.startswith("random"):
        pool = torch.arange(len(y))
    else:
        pool = (y == int(digits.split()[-1])).nonzero().flatten()
    return pool[torch.randperm(len(pool), generator=gen)[:n]]


def kernel_explorer_figure(model, x, y, digits: str = "one of each class", seed: int = 0, layer: str = "conv1",
                           n_strengthened: int = 3, n_pruned: int = 2, fill: bool = False, maps: str = "raw"):
    """fig3_figure for a choice of digits, layer and how many kernels of each category."""
    from . import attribution

    idx = _digit_rows(y, digits, seed)
    strong, pruned = attribution.pick_kernels(_layer_gate(model, layer), n_strengthened, n_pruned, fill)
    return fig3_figure(model, x[idx], strong, pruned, layer, labels=y[idx], gated=maps == "gated")


KERNEL_ROWS = 6  # at most this many strengthened and this many pruned kernels in the explorer


def kernel_explorer(model, x, y, layers=("conv1", "conv2")):
    """Digits, layer, how many strengthened / pruned kernels, stand-ins and raw/gated maps."""
    import ipywidgets as w

    narrow = {"description_width": "initial"}
    count = dict(min=0, max=KERNEL_ROWS, continuous_update=False, style=narrow, layout={"width": "230px"})
    controls = {
        "digits": w.Dropdown(options=DIGIT_CHOICES, value=DIGIT_CHOICES[0], description="digits",
                             layout={"width": "260px"}),
        "seed": w.IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False,
                            layout={"width": "230px"}),
        "layer": w.Dropdown(options=list(layers), value=layers[0], description="layer", layout={"width": "170px"}),
        "n_strengthened": w.IntSlider(value=3, description="strengthened", **count),
        "n_pruned": w.IntSlider(value=2, description="pruned", **count),
        "fill": w.Checkbox(value=False, description="fill with stand-ins", indent=False, layout={"width": "160px"}),
        "maps": w.ToggleButtons(options=list(MAP_KINDS), value="raw", description="maps",
                                style={"description_width": "initial", "button_width": "64px"}),
    }

    def show_fill(_=None):  # a control that cannot act is not shown
        can = fill_can_act(model, controls["layer"].value, controls["n_strengthened"].value,
                           controls["n_pruned"].value)
        controls["fill"].layout.display = None if can else "none"
        if not can:
            controls["fill"].value = False

    for name in ("layer", "n_strengthened", "n_pruned"):
        controls[name].observe(show_fill, names="value")
    show_fill()
    return _panel(controls, lambda **kw: kernel_explorer_figure(model, x, y, **kw),
                  rows=[["digits", "seed", "layer"], ["n_strengthened", "n_pruned", "fill", "maps"]])


def fill_can_act(model, layer: str, n_strengthened: int, n_pruned: int) -> bool:
    """True when the layer has fewer strengthened or pruned kernels than asked for, so that
    'fill with stand-ins' would add rows."""
    from . import attribution

    gate = _layer_gate(model, layer)
    if gate is None:
        return False
    strong, pruned = attribution.pick_kernels(gate, n_strengthened, n_pruned)
    return len(strong) < n_strengthened or len(pruned) < n_pruned
