"""Notebook 01: each class's share of one weight's gradient, with and without the switcher."""
from __future__ import annotations

import torch

from .. import gradients, plots
from . import panel


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

    return panel.build(controls, draw, rows=[["x", "k", "target"], [f"s{i}" for i in range(k_classes)]])
