"""Matplotlib figures: each `plot_*` draws on a given Axes and returns it."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from .analysis import CATEGORIES, alive_units, gate_categories

CATEGORY_COLOURS = {"pruned": "#2b2b2b", "weakened": "#5b8fd6", "strengthened": "#f08a24"}
PHASE_COLOURS = {"tnn": "#dbe8f7", "snn": "#fde4cc", "warmup": "#e8e8e8", "dense": "#ffffff"}
PHASE_LABELS = {"tnn": "TNN phase", "snn": "switcher phase", "warmup": "warm-up (no gates)", "dense": "dense"}
_CMAP = ListedColormap([CATEGORY_COLOURS[c] for c in CATEGORIES])
_NORM = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)


def categorise(gate: torch.Tensor) -> np.ndarray:
    """0 = pruned, 1 = weakened, 2 = strengthened, element-wise."""
    g = gate.detach().cpu().float().numpy()
    return np.where(g == 0, 0, np.where(g < 1, 1, 2))


def category_legend(ax, loc="upper right", **kw):
    handles = [Patch(color=CATEGORY_COLOURS[c], label=c) for c in CATEGORIES]
    return ax.legend(handles=handles, loc=loc, fontsize="small", **kw)


def plot_gate_map(ax, gate: torch.Tensor, title: str | None = None):
    """A gate as a picture coloured by category: 784 input gates as 28x28 (Fig. 4 left),
    a 1-d gate as a near-square grid, a 2-d (connection) gate as it is."""
    cats = categorise(gate)
    if cats.ndim == 1:
        side = 28 if cats.size == 784 else math.ceil(math.sqrt(cats.size))
        padded = np.full(side * math.ceil(cats.size / side), np.nan)
        padded[: cats.size] = cats
        cats = padded.reshape(-1, side)
    ax.imshow(np.ma.masked_invalid(cats), cmap=_CMAP, norm=_NORM, interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    counts = gate_categories(gate)
    ax.set_title(title or " / ".join(f"{counts[c]} {c}" for c in CATEGORIES), fontsize="small")
    return ax


def plot_gate_strip(ax, gate: torch.Tensor, label: str = ""):
    """One cell per neuron, coloured by category (Fig. 5)."""
    cats = categorise(gate if gate.dim() == 1 else alive_units(gate).float())
    ax.imshow(cats[None, :], cmap=_CMAP, norm=_NORM, aspect="auto", interpolation="nearest")
    ax.set_yticks([0])
    ax.set_yticklabels([label])
    ax.set_xlabel("neuron")
    return ax


def plot_gate_values(ax, gate: torch.Tensor, title: str = ""):
    """Sorted gate values with the 0 and 1 thresholds marked."""
    values = np.sort(gate.detach().cpu().flatten().numpy())
    colours = [CATEGORY_COLOURS[CATEGORIES[c]] for c in categorise(torch.from_numpy(values))]
    ax.bar(np.arange(values.size), values, width=1.0, color=colours)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("units, sorted by gate")
    ax.set_ylabel("gate")
    ax.set_title(title, fontsize="small")
    return ax


def shade_phases(ax, phases: list[str]):
    """Background bands for the phase of each epoch."""
    seen = set()
    for epoch, phase in enumerate(phases):
        label = None if phase in seen else PHASE_LABELS[phase]
        seen.add(phase)
        ax.axvspan(epoch - 0.5, epoch + 0.5, color=PHASE_COLOURS[phase], lw=0, label=label, zorder=0)
    return ax


def plot_learning_curves(ax, history, title: str = ""):
    """Train and test accuracy per epoch over shaded TNN / switcher phases."""
    epochs = history.column("epoch")
    shade_phases(ax, history.column("phase"))
    ax.plot(epochs, history.column("train_accuracy"), "o-", color="#555555", label="train", ms=3)
    ax.plot(epochs, history.column("test_accuracy"), "o-", color="#c0392b", label="test", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize="small")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_category_counts(ax, history, layer: str, mode: str = "eval"):
    """Pruned / weakened / strengthened counts of one layer per epoch (Fig. 4 right)."""
    epochs, rows = [], []
    for record in history.epochs:
        gate = record[f"gates_{mode}"].get(layer)
        if gate is not None:
            epochs.append(record["epoch"])
            rows.append(gate_categories(gate))
    for c in CATEGORIES:
        ax.plot(epochs, [r[c] for r in rows], "o-", ms=3, color=CATEGORY_COLOURS[c], label=c)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{layer} units")
    ax.legend(fontsize="small")
    return ax


def plot_weight_image(ax, image: torch.Tensor, title: str = "switcher input"):
    """The weight image a switcher reads, on a symmetric diverging scale."""
    img = image.detach().cpu().float().numpy()
    lim = float(np.abs(img).max()) or 1.0
    ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize="small")
    ax.set_xlabel("column")
    ax.set_ylabel("row (gated unit)")
    return ax


def plot_contributions(ax, direct: torch.Tensor, through: torch.Tensor, k: int):
    """Each class's share of dR/dw_T[k]: the direct term and the term through the switcher."""
    classes = np.arange(direct.shape[0])
    ax.bar(classes - 0.2, direct[k].numpy(), width=0.4, color="#555555", label="direct (no switcher path)")
    ax.bar(classes + 0.2, through[k].numpy(), width=0.4, color="#f08a24", label="through the switcher")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(classes)
    ax.set_xlabel("class j whose error contributes")
    ax.set_ylabel(f"term of dR/dw_T[{k}]")
    ax.legend(fontsize="small")
    return ax


def new_figure(nrows=1, ncols=1, width=10.0, height=3.5, **kw):
    """A figure with constrained layout, the size the notebooks use."""
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kw)
