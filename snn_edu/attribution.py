"""Which kernels and pixels matter? The switcher's gates beside captum's attributions.

Every function runs the model in eval mode with each gate computed once (`cached_gates`), so
the numbers belong to the network that evaluation measures. The attribution baseline is an
all-zero (black) image: MNIST's background is exactly 0 after `ToTensor()`, so "from nothing
to this digit" is the path the attributions integrate along.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .layers import GatedConv2d, GatedLayer, cached_gates
from .stats import average_ranks, spearman  # noqa: F401  (attribution.spearman: notebooks and widgets)

DEFAULT_STEPS = 32


@contextmanager
def inspecting(model: nn.Module):
    """Eval mode with cached gates for the block; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with cached_gates(model):
            yield model
    finally:
        model.train(was_training)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def pick_kernels(gate: torch.Tensor, n_strengthened: int = 3, n_pruned: int = 2,
                 fill: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(strengthened indices by gate descending, pruned indices), at most n of each.

    When too few exist, only those are returned. With `fill=True` the shortfall is filled
    with the closest stand-ins, which are NOT what their list is named after: the highest
    remaining gates for "strengthened", the weakest non-pruned gates for "pruned". Label
    rows with `analysis.gate_category` of the real gate value.
    """
    gate = gate.detach().cpu().flatten()
    order = torch.argsort(gate, descending=True, stable=True)
    strong = order[gate[order] >= 1][:n_strengthened]
    pruned = (gate == 0).nonzero().flatten()[:n_pruned]
    if fill:
        taken = set(strong.tolist()) | set(pruned.tolist())
        extra = [int(i) for i in order if int(i) not in taken][: max(0, n_strengthened - len(strong))]
        strong = torch.cat([strong, torch.tensor(extra, dtype=torch.long)])
        taken |= set(extra)
        weakest = [int(i) for i in order.flip(0) if int(i) not in taken]
        pruned = torch.cat([pruned, torch.tensor(weakest[: max(0, n_pruned - len(pruned))], dtype=torch.long)])
    return strong, pruned


def one_digit_per_class(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Indices of one randomly chosen digit per class 0..9 (classes absent from y are skipped)."""
    gen = torch.Generator().manual_seed(seed)
    y = y.detach().cpu()
    picks = []
    for c in range(10):
        where = (y == c).nonzero().flatten()
        if len(where):
            picks.append(int(where[torch.randint(len(where), (1,), generator=gen)]))
    return torch.tensor(picks, dtype=torch.long)


def feature_maps(model: nn.Module, layer_name: str, images: torch.Tensor, gated: bool = False) -> torch.Tensor:
    """The output of `layer_name` for `images`, on the CPU.

    gated=False: each kernel's raw response (the un-gated weight applied to what the layer
    receives), so a pruned kernel still shows what it detects. gated=True: what the network
    passes on (a pruned kernel's map is all zeros).
    """
    layer = getattr(model, layer_name)
    captured = {}

    def hook(module, inputs, output):
        raw = isinstance(module, GatedLayer) and not gated
        captured["maps"] = module.apply_weight(inputs[0], None) if raw else output

    handle = layer.register_forward_hook(hook)
    try:
        with inspecting(model), torch.no_grad():
            model(images.to(_device(model)))
    finally:
        handle.remove()
    return captured["maps"].detach().cpu()


def _per_channel(attr: torch.Tensor, reduce: str) -> torch.Tensor:
    """|attr| per channel (dim 1): summed ('sum') or averaged ('mean') over space, mean over images."""
    a = attr.detach().abs().flatten(2) if attr.dim() > 2 else attr.detach().abs()[..., None]
    per_image = a.sum(-1) if reduce == "sum" else a.mean(-1)
    return per_image.mean(0).cpu()


def channel_conductance(model: nn.Module, layer_name: str, images: torch.Tensor, labels: torch.Tensor,
                        n_steps: int = DEFAULT_STEPS) -> torch.Tensor:
    """Per-channel importance by captum's LayerConductance for the true-class logit.

    Baseline: the black image. Reduced as |conductance| summed over space, mean over images.
    Measured on the gated network, so a channel with gate 0 gets exactly 0.
    """
    from captum.attr import LayerConductance

    device = _device(model)
    with inspecting(model):
        attr = LayerConductance(model, getattr(model, layer_name)).attribute(
            images.to(device), baselines=torch.zeros_like(images, device=device),
            target=labels.to(device), n_steps=n_steps)
    return _per_channel(attr, "sum")


def unit_conductance(model: nn.Module, layer_name: str, images: torch.Tensor, labels: torch.Tensor,
                     n_steps: int = DEFAULT_STEPS, chunk: int = 64) -> torch.Tensor:
    """Mean |conductance| of each unit a gated layer's gate controls: its output filters (conv,
    measured at the layer) or its input features (linear, measured at the module feeding it;
    for the first layer that is Integrated Gradients on the pixels). Digits go `chunk` at a time."""
    names = [name for name, _ in model.named_children()]
    at = layer_name if isinstance(getattr(model, layer_name), GatedConv2d) else names[names.index(layer_name) - 1]
    total = None
    for xb, yb in zip(images.split(chunk), labels.split(chunk)):
        part = channel_conductance(model, at, xb, yb, n_steps) * len(yb)
        total = part if total is None else total + part
    return total / len(labels)


def channel_activation(model: nn.Module, layer_name: str, images: torch.Tensor) -> torch.Tensor:
    """Mean |activation| per channel of the (gated) layer output, by captum's LayerActivation."""
    from captum.attr import LayerActivation

    with inspecting(model), torch.no_grad():
        attr = LayerActivation(model, getattr(model, layer_name)).attribute(images.to(_device(model)))
    return _per_channel(attr, "mean")


def pixel_attribution(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      n_steps: int = DEFAULT_STEPS, return_delta: bool = False):
    """Mean |IntegratedGradients| per input pixel (black baseline, true-class logit) as a 28x28
    map; with return_delta also captum's per-image completeness gap."""
    from captum.attr import IntegratedGradients

    device = _device(model)
    with inspecting(model):
        attr, delta = IntegratedGradients(model).attribute(
            images.to(device), baselines=torch.zeros_like(images, device=device),
            target=labels.to(device), n_steps=n_steps, return_convergence_delta=True)
    pixel_map = attr.detach().abs().mean(0).reshape(28, 28).cpu()
    return (pixel_map, delta.detach().cpu()) if return_delta else pixel_map


def kernel_l1(layer: GatedLayer) -> torch.Tensor:
    """L1 norm of the raw weights per gated unit: per output filter (conv) or per input
    feature (linear, weight stored as (in, out)), i.e. per neuron-strategy gate."""
    w = layer.weight.detach().abs().cpu()
    return w.flatten(1).sum(1) if isinstance(layer, GatedConv2d) else w.sum(1)


RANKINGS = ("gate", "conductance", "activation", "l1")


def importance_table(model: nn.Module, layer_name: str, images: torch.Tensor, labels: torch.Tensor,
                     n_steps: int = DEFAULT_STEPS) -> dict:
    """Per-kernel gate, conductance, activation and L1, and their pairwise Spearman rho.

    'rho' uses every kernel; 'rho_alive' only kernels with gate > 0 (nan with fewer than 3),
    since gate 0 forces conductance and activation to 0 and inflates agreement on its own.
    """
    layer = getattr(model, layer_name)
    table = {"layer": layer_name, "n_images": len(labels),
             "gate": layer.gate_in_mode("eval").cpu().flatten(),
             "conductance": channel_conductance(model, layer_name, images, labels, n_steps),
             "activation": channel_activation(model, layer_name, images),
             "l1": kernel_l1(layer)}
    alive = table["gate"] > 0
    table["rho"], table["rho_alive"] = {}, {}
    for i, a in enumerate(RANKINGS):
        for b in RANKINGS[i + 1:]:
            table["rho"][(a, b)] = spearman(table[a], table[b])
            table["rho_alive"][(a, b)] = (spearman(table[a][alive], table[b][alive])
                                          if int(alive.sum()) >= 3 else float("nan"))
    return table


def rho_of(table: dict, a: str, b: str, alive: bool = False) -> float:
    """Spearman rho of two rankings in an importance_table, in either order."""
    rhos = table["rho_alive" if alive else "rho"]
    return rhos[(a, b)] if (a, b) in rhos else rhos[(b, a)]


def format_rho(rho: float, undefined: str = "undefined") -> str:
    """A rho as +0.12, or `undefined` when it is nan (a constant ranking)."""
    return undefined if rho != rho else f"{rho:+.2f}"


def rho_report(table: dict) -> str:
    """One line per pair of rankings: rho over all units and over units with gate > 0."""
    return "\n".join(f"{a:>11} vs {b:<11} rho {format_rho(r):>9}   among units with gate > 0: "
                     f"{format_rho(table['rho_alive'][(a, b)])}" for (a, b), r in table["rho"].items())
