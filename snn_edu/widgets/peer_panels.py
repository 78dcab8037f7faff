"""Notebook 05: the masks of the switcher's peers, epoch by epoch."""
from __future__ import annotations

from . import panel
from .mask_panels import NO_IMAGE, mask_figure


def peer_masks_figure(histories: dict, method: str, seed: int, layer: str, epoch: int):
    """One method's gates of one layer at an epoch (the last one if the run is shorter)."""
    from ..gates import GATE_KINDS
    from ..peers import short_name
    from ..variants import REGISTRY

    history = histories[(method, seed)]
    epoch = min(epoch, len(history.epochs) - 1)
    reads = GATE_KINDS[REGISTRY[method].overrides.get("gate", "switcher")].has_switcher
    no_image = NO_IMAGE if reads else f"{short_name(method)} reads no weights: there is no switcher input"
    fig = mask_figure(history, layer, epoch, no_image=no_image)
    fig.axes[0].set_title(f"{short_name(method)}, seed {seed}: {fig.axes[0].get_title()}", fontsize="small")
    return fig


def peer_masks(histories: dict):
    """Method, seed, layer and epoch over {(method, seed): History}."""
    import ipywidgets as w

    from ..peers import short_name

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
    return panel.build(controls, lambda **kw: peer_masks_figure(histories, **kw))
