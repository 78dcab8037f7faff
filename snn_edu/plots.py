"""Matplotlib figures: each `plot_*` draws on a given Axes and returns it."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .analysis import CATEGORIES, alive_units, category_codes, gate_categories
from .attribution import format_rho
from .criteria import CRITERIA
from .gates import GATE_KINDS

CATEGORY_COLOURS = {"pruned": "#2b2b2b", "weakened": "#5b8fd6", "strengthened": "#f08a24"}
PHASE_COLOURS = {"tnn": "#dbe8f7", "snn": "#fde4cc", "warmup": "#e8e8e8", "dense": "#ffffff", "joint": "#e3f2e1"}
PHASE_LABELS = {"tnn": "TNN phase", "snn": "switcher phase", "warmup": "warm-up (no gates)", "dense": "dense",
                "joint": "TNN and gates together"}
_CMAP = ListedColormap([CATEGORY_COLOURS[c] for c in CATEGORIES])
_NORM = BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3)


def categorise(gate: torch.Tensor, threshold: float = 0.0) -> np.ndarray:
    """0 = pruned, 1 = weakened, 2 = strengthened, element-wise (analysis.category_codes)."""
    return category_codes(gate.cpu(), threshold).numpy()


def category_handles() -> list[Patch]:
    """One colour patch per gate category (pruned, weakened, strengthened), for a legend."""
    return [Patch(color=CATEGORY_COLOURS[c], label=c) for c in CATEGORIES]


def category_legend(ax, loc="upper right", **kw):
    return ax.legend(handles=category_handles(), loc=loc, fontsize="small", **kw)


def plot_gate_map(ax, gate: torch.Tensor, title: str | None = None):
    """A gate as a picture coloured by category: 784 input gates as 28x28 (Fig. 4 left),
    a 1-d gate as a near-square grid, a 2-d (connection) gate as it is."""
    cats = categorise(gate)
    square = cats.ndim == 1
    if square:
        side = 28 if cats.size == 784 else math.ceil(math.sqrt(cats.size))
        padded = np.full(side * math.ceil(cats.size / side), np.nan)
        padded[: cats.size] = cats
        blank = padded.size - cats.size
        cats = padded.reshape(-1, side)
    ax.imshow(np.ma.masked_invalid(cats), cmap=_CMAP, norm=_NORM, interpolation="nearest",
              aspect="equal" if square else "auto")
    ax.set_xticks([])
    ax.set_yticks([])
    if square and blank:
        ax.set_xlabel(f"{gate.numel()} units, row by row; the last {blank} cells are empty", fontsize="x-small")
    counts = gate_categories(gate)
    parts = [f"{counts[c]} {c}" for c in CATEGORIES]  # on two lines, narrower than a map beside another
    ax.set_title(title or " / ".join(parts[:-1]) + "\n" + parts[-1], fontsize="small")
    return ax


def plot_gate_strip(ax, gate: torch.Tensor, label: str = ""):
    """One cell per neuron, coloured by category (Fig. 5)."""
    cats = categorise(gate if gate.dim() == 1 else alive_units(gate).float())
    ax.imshow(cats[None, :], cmap=_CMAP, norm=_NORM, aspect="auto", interpolation="nearest")
    ax.set_yticks([0])
    ax.set_yticklabels([label])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # neurons are whole
    ax.set_xlabel("neuron")
    return ax


def plot_gate_values(ax, gate: torch.Tensor, title: str = "", max_bars: int = 2000, threshold: float = 0.0):
    """Sorted gate values with the 0 and 1 thresholds marked (evenly spaced ones of the sorted
    values when there are more than `max_bars`, such as one gate per weight), coloured by
    category with 'pruned' meaning below `threshold` when one is given."""
    values = np.sort(gate.detach().cpu().float().flatten().numpy())
    n = values.size
    if n > max_bars:
        values = values[np.linspace(0, n - 1, max_bars).round().astype(int)]
    colours = [CATEGORY_COLOURS[CATEGORIES[c]] for c in categorise(torch.from_numpy(values), threshold)]
    ax.bar(np.arange(values.size), values, width=1.0, color=colours)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("units, sorted by gate" + (f" ({values.size} of {n} shown, evenly spaced)" if n > max_bars else ""))
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
    legend_beside(ax)  # a marked epoch (or a collapsed run's curve) may pass through any corner inside
    return ax


def legend_beside(ax, fontsize="small"):
    """The axes' legend right of them, where no curve can pass under it."""
    return ax.legend(fontsize=fontsize, loc="center left", bbox_to_anchor=(1.01, 0.5))


SEED_COLOURS = ("#c0392b", "#2471a3", "#1e8449", "#7d3c98", "#b9770e")


def plot_seed_curves(ax, histories: dict, title: str = ""):
    """Test accuracy per epoch, one line per seed ({seed: History}), over the first run's shaded
    phases; a run that stopped on a NaN loss ends its line with a cross."""
    first = next(iter(histories.values()), None)
    if first is not None:
        shade_phases(ax, first.column("phase"))
    for (seed, history), colour in zip(histories.items(), SEED_COLOURS):
        epochs, accs = history.column("epoch"), history.column("test_accuracy")
        ax.plot(epochs, accs, "o-", color=colour, ms=3, label=f"seed {seed}")
        if history.diverged and epochs:
            ax.plot(epochs[-1] + 1, accs[-1], "x", color=colour, ms=8, mew=2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize="small")
    ax.legend(fontsize="small", loc="center right")  # the curves end high or at chance, not half-way
    return ax


def plot_two_machines(ax, pairs: dict[int, dict], names: tuple[str, str], title: str = ""):
    """Test accuracy per epoch of each seed ({seed: {"first": ..., "regenerated": ...}}, as
    snn_edu.regeneration.two_machines gives them) on two machines: solid on the first, dashed on
    the second, one colour per seed, over the first seed's shaded phases."""
    first = next(iter(pairs.values()), None)
    if first is not None:
        shade_phases(ax, first["first"]["phases"])
    for (seed, entry), colour in zip(pairs.items(), SEED_COLOURS):
        for side, style, name in (("first", "o-", names[0]), ("regenerated", "s--", names[1])):
            accs = entry[side]["test_accuracy_per_epoch"]
            ax.plot(range(len(accs)), accs, style, color=colour, ms=3, label=f"seed {seed}, {name}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize="small")
    legend_beside(ax)
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
    if len(set(epochs)) == 1:  # one gated epoch: the locator has no whole number to spread
        ax.set_xticks(epochs)
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


def plot_weight_paths(ax, path: torch.Tensor, target: int, title: str = ""):
    """One line per TNN weight over SGD steps, from a (steps + 1, K) trajectory."""
    for k in range(path.shape[1]):
        ax.plot(path[:, k].numpy(), label=f"w_T[{k}]" + (" (target)" if k == target else ""))
    ax.set_title(title, fontsize="small")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("weight")
    return ax


def new_figure(nrows=1, ncols=1, width=10.0, height=3.5, **kw):
    """A figure with constrained layout, the size the notebooks use."""
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kw)


# -- kernels, feature maps and attributions (notebook 03) ---------------------------------------
def _kernel_mosaic(weight: torch.Tensor) -> np.ndarray:
    """One filter's weights as an image: a (k, k) kernel as it is, (in, k, k) as a grid of its
    input slices separated by NaN gaps."""
    w = weight.detach().cpu().float().numpy()
    if w.ndim == 2:
        return w
    n, k = w.shape[0], w.shape[-1]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (k + 1) - 1, cols * (k + 1) - 1), np.nan)
    for i in range(n):
        r, c = divmod(i, cols)
        mosaic[r * (k + 1): r * (k + 1) + k, c * (k + 1): c * (k + 1) + k] = w[i]
    return mosaic


def plot_kernel(ax, weight: torch.Tensor, title: str = ""):
    """A filter's weights on a symmetric red/blue scale (input slices tiled for deeper layers)."""
    img = _kernel_mosaic(weight)
    lim = float(np.nanmax(np.abs(img))) or 1.0
    ax.imshow(np.ma.masked_invalid(img), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize="x-small")
    return ax


def plot_feature_map(ax, fmap: torch.Tensor, vmin: float | None = None, vmax: float | None = None):
    """One feature map in grey levels (shared limits make a row or column comparable)."""
    ax.imshow(fmap.detach().cpu().float().numpy(), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_frame(ax, colour: str, width: float = 3.0):
    """Draw a coloured frame around an Axes (its spines)."""
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)
    return ax


def plot_rank_scatter(ax, a: torch.Tensor, b: torch.Tensor, gate: torch.Tensor, xlabel: str, ylabel: str,
                      rho: float, rho_alive: float | None = None):
    """One point per unit (a against b), coloured by the unit's gate category; Spearman rho (all
    units, and units with gate > 0 when given) in the title. Undefined rho: a constant ranking."""
    colours = [CATEGORY_COLOURS[CATEGORIES[c]] for c in categorise(gate.flatten())]
    ax.scatter(a.detach().cpu().numpy(), b.detach().cpu().numpy(), c=colours, s=22, edgecolors="white",
               linewidths=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    undefined = "undefined (a constant ranking)"
    lines = [f"Spearman rho {format_rho(rho, undefined)}"]
    if rho_alive is not None:
        alive = gate.flatten()[gate.flatten() > 0]
        if rho_alive != rho_alive and len(alive) and bool((alive == alive[0]).all()):
            undefined = f"undefined, all {len(alive)} share g = {float(alive[0]):.2f}"
        lines.append(f"gate > 0 only: {format_rho(rho_alive, undefined)}")
    ax.set_title("\n".join(lines), fontsize="small")  # one line each, so neighbouring titles never meet
    return ax


def plot_pixel_values(ax, values: torch.Tensor, title: str = "", cmap: str = "viridis"):
    """784 per-pixel values as a 28x28 picture with a colour bar."""
    img = ax.imshow(values.detach().cpu().float().reshape(28, 28).numpy(), cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(img, ax=ax, shrink=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize="small")
    return ax


def plot_ablation_bars(ax, runs: dict[str, list[dict]], key: str, label: str):
    """One horizontal bar per variant, top to bottom in `runs`' order: the mean of `key` over seeds,
    each seed as a dot (names read level, however long)."""
    names = list(runs)
    for i, name in enumerate(names):
        values = [m[key] for m in runs[name] if m.get(key) is not None]
        if values:
            ax.barh(i, float(np.mean(values)), color="#9bb7d9", height=0.7)
            ax.plot(values, [i] * len(values), "o", color="#2b2b2b", ms=3)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    return ax


# -- the accuracy-vs-sparsity frontier (notebook 04) ---------------------------------------------
SCALES = ("removed", "compression")  # x axis: params removed (%), or the compression ratio on a log axis
COMPRESSION_TICKS = (0, 50, 75, 90, 95, 99, 99.5, 99.9)  # params removed (%) marked on the compression axis


def set_sparsity_axis(ax, scale: str = "removed"):
    """The x axis of a frontier: params removed (%) on a linear axis, or on a log axis of the
    compression ratio total / kept (ShrinkBench's view), which spreads out 90-100 % removed."""
    if scale not in SCALES:
        raise ValueError(f"unknown x scale {scale!r}; choose one of {', '.join(SCALES)}")
    if scale == "removed":
        ax.set_xlabel("params removed (%)")
        ax.set_xlim(-2, 102)
        return ax

    def forward(removed):
        return -np.log10(np.clip(1 - np.asarray(removed, dtype=float) / 100, 1e-4, None))

    def inverse(value):
        return 100 * (1 - 10 ** -np.asarray(value, dtype=float))

    ax.set_xscale("function", functions=(forward, inverse))
    ax.set_xlim(0, 99.95)
    ax.set_xticks(COMPRESSION_TICKS)
    ax.set_xticklabels([f"{r:g} %\n{100 / (100 - r):.3g}x" for r in COMPRESSION_TICKS], fontsize="x-small")
    ax.set_xlabel("params removed (%) and compression ratio (total / kept), log scale")
    return ax



CRITERION_COLOURS = {"switcher": "#f08a24", "magnitude": "#2c7fb8", "random": "#8c8c8c", "conductance": "#31a354"}
SOURCE_STYLES = {"switcher": ("-", "o"), "dense": ("--", "s")}


def percent_band(y, std):
    """(low, high) of mean ± std, kept inside 0-100 %: a seed near chance widens the band, but no
    share or accuracy lies outside 0-100."""
    return np.clip(y - std, 0, 100), np.clip(y + std, 0, 100)


def percent_error(value: float, std: float | None) -> list[list[float]]:
    """Matplotlib's asymmetric error [[below], [above]] of value ± std, kept inside 0-100 %."""
    std = std or 0.0
    return [[min(std, value)], [min(std, 100 - value)]]


def plot_frontier(ax, summary: list[dict], model: str, finetune_epochs: int, curves=None, paper=None,
                  zoom: float | None = None, scale: str = "removed"):
    """Test accuracy against params removed, one line per (criterion, source) with a band of
    ± one standard deviation over seeds; the switcher model as trained (diamond) and, if given,
    the paper's (removed %, accuracy) point (star). `zoom`: show only the top `zoom` points of the
    measured accuracy; a legend entry says when the paper's point falls outside that window."""
    from .frontier import CURVES, NATURAL, curve_label, point

    tops = []
    if curves is not None and not curves:
        ax.text(0.5, 0.5, "no curve selected: pick one or more in the curves list", transform=ax.transAxes,
                ha="center", va="center", fontsize="small", color="#444444")
    for criterion, source in CURVES if curves is None else curves:
        pts = sorted((s for s in summary if (s["model"], s["criterion"], s["source"], s["finetune_epochs"])
                      == (model, criterion, source, finetune_epochs) and s["accuracy"] is not None),
                     key=lambda s: s["removed"])
        if not pts:
            continue
        x, y = np.array([p["removed"] for p in pts]), np.array([p["accuracy"] for p in pts])
        std = np.array([p["accuracy_std"] or 0.0 for p in pts])
        line, marker = SOURCE_STYLES[source]
        colour = CRITERION_COLOURS[criterion]
        ax.plot(x, y, line, marker=marker, ms=4, color=colour, label=curve_label(criterion, source))
        ax.fill_between(x, *percent_band(y, std), color=colour, alpha=0.15, lw=0)
        tops.append(y.max())
    natural = point(summary, model, NATURAL, "switcher", None, 0)
    if natural:
        ax.errorbar(natural["removed"], natural["accuracy"], xerr=percent_error(natural["removed"], natural["removed_std"]),
                    yerr=percent_error(natural["accuracy"], natural["accuracy_std"]), fmt="D", ms=8, color=CRITERION_COLOURS["switcher"],
                    mec="black", ecolor="black", label=curve_label(NATURAL, "switcher"), zorder=5)
        tops.append(natural["accuracy"])
    if paper:
        ax.plot(*paper, "*", ms=13, color="#444444", label="the paper (100 epochs on all of MNIST)", zorder=5)
    set_sparsity_axis(ax, scale)
    ax.set_ylabel("test accuracy (%)")
    if zoom and tops:  # frame the measured curves; the paper's star never moves the window
        top = max(tops)
        low, high = top - zoom, top + 1
        ax.set_ylim(low, high)
        if paper and not low <= paper[1] <= high:  # said in the legend, which covers no curve
            where = "above" if paper[1] > high else "below"
            ax.plot([], [], " ", label=f"paper's point ({paper[1]:g} %) {where} this window")
    ax.grid(alpha=0.3)
    return ax


PEER_STYLES = {"switcher": ("-", "o", CRITERION_COLOURS["switcher"]), "direct": ("-", "^", "#7b3294"),
               "l0": ("-", "s", "#1b9e77"), "magnitude": (":", "", "#2c7fb8"), "bc": ("", "D", "#e7298a")}


def plot_peers(ax, summary: list[dict], model: str, finetune_epochs: int, table1=None, scale: str = "removed"):
    """The switcher against its peers: switcher and direct models ranked by their own gates, the
    L0 curve (one point per lambda, labelled), each other method's natural point (diamond), the dense
    model by L1 norm for reference, and the papers' Table 1 points (stars, `table1`: {name: (removed, acc)})."""
    from .peers import curve, l0_lambda, natural_point, plotted_curves

    curves = plotted_curves(summary, model, finetune_epochs)
    curves[f"dense model, {CRITERIA['magnitude'].label} (reference)"] = sorted(
        (s for s in summary if (s["model"], s["criterion"], s["source"], s["finetune_epochs"])
         == (model, "magnitude", "dense", finetune_epochs) and s["accuracy"] is not None), key=lambda s: s["removed"])
    for (label, pts), style in zip(curves.items(), [PEER_STYLES[k] for k in ("switcher", "direct", "l0", "magnitude")]):
        if not pts:
            continue
        line, marker, colour = style
        x, y = np.array([p["removed"] for p in pts]), np.array([p["accuracy"] for p in pts])
        std = np.array([p["accuracy_std"] or 0.0 for p in pts])
        ax.plot(x, y, line, marker=marker, ms=4, color=colour, label=label)
        ax.fill_between(x, *percent_band(y, std), color=colour, alpha=0.15, lw=0)
    labels = [ax.annotate(f"λ {l0_lambda(p['source']):g}", (p["removed"], p["accuracy"]), textcoords="offset points",
                          xytext=(4, -12), fontsize="x-small", color=PEER_STYLES["l0"][2],
                          bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))
              for p in curve(summary, model, "l0", finetune_epochs)]
    for source in ("switcher", "direct", "bc"):
        nat = natural_point(summary, model, source, finetune_epochs)
        if nat and nat["accuracy"] is not None:
            ax.errorbar(nat["removed"], nat["accuracy"], xerr=percent_error(nat["removed"], nat["removed_std"]),
                        yerr=percent_error(nat["accuracy"], nat["accuracy_std"]),
                        fmt="D", ms=8, color=PEER_STYLES[source][2], mec="black", ecolor="black", zorder=5,
                        label=f"{GATE_KINDS[source].model} as trained (gates = 0 removed)")
    for i, (name, (removed, accuracy)) in enumerate((table1 or {}).items()):
        ax.plot(removed, accuracy, "*", ms=11, color=["#444444", "#888888", "#1b9e77", "#f08a24"][i % 4],
                mec="black", label=f"paper: {name}", zorder=6)
    set_sparsity_axis(ax, scale)
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    legend_beside(ax, "x-small")
    spread_labels(ax, labels)
    return ax


def spread_labels(ax, labels: list, step: float = 9.0, tries: int = 12) -> None:
    """Move annotations (offset in points) down, one step at a time, until none overlaps an
    earlier one: crowded points (a log axis squeezes low sparsities together) keep readable labels."""
    if len(labels) < 2:
        return
    ax.figure.draw_without_rendering()  # the layout engine sizes the axes first: call after legends and titles
    renderer = ax.figure.canvas.get_renderer()
    placed = []
    for label in labels:
        for _ in range(tries):
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            x, y = label.xyann
            label.xyann = (x, y - step)
        placed.append(label.get_window_extent(renderer))
