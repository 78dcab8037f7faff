"""Notebooks 04 and 05: the accuracy-vs-sparsity frontier, the switcher against its peers, and the
joint switcher's input image."""
from __future__ import annotations

from .. import plots
from . import panel


def frontier_figure(summary: list[dict], model: str, finetune_epochs: int, curves=None, zoom: float | None = None,
                    scale: str = "removed"):
    """The accuracy-vs-sparsity frontier of one model, with or without fine-tuning, against params
    removed or the compression ratio (`scale`, see plots.set_sparsity_axis)."""
    from ..frontier import MODEL_NAMES, chance_note, tuning_text
    from ..paper import reported_point

    fig, ax = plots.new_figure(1, 1, width=11, height=4.6)
    plots.plot_frontier(ax, summary, model, finetune_epochs, curves, reported_point(model), zoom, scale)
    tuning = tuning_text(finetune_epochs)
    seeds = max((s["seeds"] for s in summary if s["model"] == model), default=0)
    note = chance_note(summary, model)
    ax.set_title(f"{MODEL_NAMES[model]}: lowest-ranked units of every layer removed, {tuning} "
                 f"(mean ± std over {seeds} seeds{'; ' + note if note else ''})", fontsize="small")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the curves, never on them
    return fig


def peers_figure(summary: list[dict], model: str, finetune_epochs: int, scale: str = "removed"):
    """The switcher against the direct gate and L0 on one model's frontier, with the papers' points."""
    from ..frontier import MODEL_NAMES, tuning_text
    from ..peers import table1_points

    fig, ax = plots.new_figure(1, 1, width=11.5, height=4.8)
    seeds = max((s["seeds"] for s in summary if s["model"] == model), default=0)
    ax.set_title(f"{MODEL_NAMES[model]}: the switcher and its peers, {tuning_text(finetune_epochs)} "
                 f"(mean ± std over {seeds} seeds)", fontsize="small")  # before plotting: it spreads labels in the final layout
    plots.plot_peers(ax, summary, model, finetune_epochs, table1_points(model), scale)
    return fig


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

    from ..frontier import CURVES, curve_label

    controls = {
        **_model_and_tuning(summary),
        "curves": w.SelectMultiple(options=[(curve_label(c, s), (c, s)) for c, s in CURVES], value=CURVES,
                                   rows=len(CURVES), description="curves", layout={"width": "430px"}),
        "zoom": w.FloatSlider(value=0.0, min=0.0, max=40.0, step=1.0, description="y range (points, 0: all)",
                              continuous_update=False, style={"description_width": "initial"}),
    }

    def draw(model, finetune_epochs, scale, curves, zoom):
        return frontier_figure(summary, model, finetune_epochs, list(curves), zoom or None, scale)

    return panel.build(controls, draw, rows=[["model", "finetune_epochs", "scale"], ["zoom", "curves"]])


def peers_explorer(summary: list[dict]):
    """Model and fine-tuning over the peers' frontier."""
    return panel.build(_model_and_tuning(summary), lambda **kw: peers_figure(summary, **kw))


def joint_image_figure(model):
    """What the joint switchers of `model` read (snn_edu.joint): the FC layers' weights stacked as
    channels and zero-padded to the largest (one panel per channel, each layer's own region
    outlined), and the conv filters' kernel features, a row per filter of every conv layer."""
    from matplotlib.patches import Rectangle

    from ..joint import joint_images

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
