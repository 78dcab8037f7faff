"""Notebook 03: strengthened and pruned kernels (the paper's Fig. 3), rankings of kernels, and
pixel maps."""
from __future__ import annotations

import torch

from .. import plots
from ..analysis import gate_category
from ..criteria import CRITERIA
from . import panel
from .panel import FIGURE_HEIGHT


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
    from .. import attribution

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
    names = {"gate": f"{CRITERIA['switcher'].label} (eval)", "conductance": f"mean |{CRITERIA['conductance'].label}|",
             "l1": f"{CRITERIA['magnitude'].label} of weights"}
    from ..attribution import rho_of

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
    from .. import attribution

    rho = attribution.spearman(gate_784.flatten(), attribution_784.flatten())
    fig, axes = plots.new_figure(1, 2, width=9, height=3.8)
    plots.plot_pixel_values(axes[0], gate_784, f"{CRITERIA['switcher'].label} of each input pixel (fc1)")
    plots.plot_pixel_values(axes[1], attribution_784, "mean |Integrated Gradients| per pixel", cmap="magma")
    fig.suptitle(f"Spearman rho over the 784 pixels: {attribution.format_rho(rho)}",
                 fontsize="medium")
    return fig


DIGIT_CHOICES = ["one of each class", "random from the test set"] + [f"class {c}" for c in range(10)]


def _digit_rows(y: torch.Tensor, digits: str, seed: int, n: int = 6) -> torch.Tensor:
    """Test-set indices for a DIGIT_CHOICES entry."""
    from .. import attribution

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
    from .. import attribution

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
    return panel.build(controls, lambda **kw: kernel_explorer_figure(model, x, y, **kw),
                  rows=[["digits", "seed", "layer"], ["n_strengthened", "n_pruned", "fill", "maps"]])


def fill_can_act(model, layer: str, n_strengthened: int, n_pruned: int) -> bool:
    """True when the layer has fewer strengthened or pruned kernels than asked for, so that
    'fill with stand-ins' would add rows."""
    from .. import attribution

    gate = _layer_gate(model, layer)
    if gate is None:
        return False
    strong, pruned = attribution.pick_kernels(gate, n_strengthened, n_pruned)
    return len(strong) < n_strengthened or len(pruned) < n_pruned
