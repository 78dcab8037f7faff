"""Counting and compacting: gate categories, the pruned architecture, params removed, compact()."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .layers import GatedConv2d, GatedLayer, GatedLinear
from .models import GatedNet

CATEGORIES = ("pruned", "weakened", "strengthened")


def category_codes(gate: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Element-wise 0 (pruned: g == 0, or g < threshold when one is given), 1 (weakened) or
    2 (strengthened: g >= 1), indexing CATEGORIES."""
    gate = gate.detach()
    pruned = gate < threshold if threshold > 0 else gate == 0
    return torch.where(pruned, 0, torch.where(gate >= 1, 2, 1))


def gate_categories(gate: torch.Tensor, threshold: float = 0.0) -> dict[str, int]:
    """Counts of pruned, weakened and strengthened gates (see category_codes)."""
    codes = category_codes(gate, threshold)
    return {name: int((codes == i).sum()) for i, name in enumerate(CATEGORIES)}


def gate_category(value: float) -> str:
    """The category of one gate value."""
    return CATEGORIES[int(category_codes(torch.tensor(value)))]


def alive_units(gate: torch.Tensor) -> torch.Tensor:
    """Boolean mask over the units a gate controls (dim 0): linear inputs or conv filters.

    A 1-d gate (neuron strategy) keeps a unit while its gate is non-zero; a 2-d gate
    (connection strategy) while any of the unit's connections is.
    """
    gate = gate.detach().cpu()
    return gate != 0 if gate.dim() == 1 else (gate != 0).any(dim=1)


def unit_alive(layer: GatedLayer, gate: torch.Tensor | None) -> torch.Tensor:
    """alive_units, or every unit of `layer` when it has no gate (switcher off or absent)."""
    if gate is not None:
        return alive_units(gate)
    n = layer.out_channels if isinstance(layer, GatedConv2d) else layer.in_features
    return torch.ones(n, dtype=torch.bool)


def architecture_of(gates: dict[str, torch.Tensor]) -> str:
    """The pruned architecture string from gates alone (every layer gated)."""
    return "-".join(str(int(alive_units(g).sum())) for g in gates.values())


def border_vs_centre(gate_784: torch.Tensor, width: int = 4) -> dict[str, float]:
    """Percent of pruned input pixels in the `width`-pixel border of the 28x28 image and inside it."""
    pruned = (gate_784.detach().cpu().reshape(28, 28) == 0).float()
    border = torch.ones(28, 28, dtype=torch.bool)
    border[width:-width, width:-width] = False
    return {"border": 100.0 * float(pruned[border].mean()), "centre": 100.0 * float(pruned[~border].mean())}


def _layer_gates(model: GatedNet, gates: dict[str, torch.Tensor] | None):
    if gates is None:
        gates = model.gates("eval")
    return [(name, layer, gates.get(name)) for name, layer in model.gated_layers().items()]


def pruned_architecture(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> str:
    """Surviving units per gated layer, e.g. '456-134-45' (MLP) or '12-37-268-192' (LeNet5).

    Linear layers count surviving inputs, conv layers surviving filters; `gates` defaults to
    the evaluation gates.
    """
    return "-".join(str(int(unit_alive(layer, g).sum())) for _, layer, g in _layer_gates(model, gates))


def param_counts(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> tuple[int, int]:
    """(kept, total) TNN weights, counted as the paper does.

    Neuron strategy: a layer keeps kept_in * kept_out * kernel_area weights, where a linear
    layer's kept_in is its surviving inputs and kept_out the next layer's surviving inputs, and
    a conv layer's kept_out is its surviving filters and kept_in the previous conv's.
    Connection strategy: non-zero gates times the weights each gate scales.
    """
    rows = _layer_gates(model, gates)
    alive = [int(unit_alive(layer, g).sum()) for _, layer, g in rows]
    kept = total = 0
    for i, (_, layer, g) in enumerate(rows):
        total += layer.weight.numel()
        if layer.strategy == "connection" and g is not None:
            per_gate = layer.weight.numel() // g.numel()
            kept += int((g != 0).sum()) * per_gate
        elif isinstance(layer, GatedConv2d):
            prev_conv = i > 0 and isinstance(rows[i - 1][1], GatedConv2d)
            kept_in = alive[i - 1] if prev_conv else layer.in_channels
            kept += kept_in * alive[i] * layer.kernel_size**2
        else:
            next_linear = i + 1 < len(rows) and isinstance(rows[i + 1][1], GatedLinear)
            kept_out = alive[i + 1] if next_linear else layer.out_features
            kept += alive[i] * kept_out
    return kept, total


def params_removed_pct(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> float:
    """Share of TNN weights removed, in percent (see param_counts)."""
    kept, total = param_counts(model, gates)
    return 100.0 * (1 - kept / total)


def category_table(gates: dict[str, torch.Tensor]) -> dict[str, dict[str, int]]:
    """gate_categories for every layer."""
    return {name: gate_categories(g) for name, g in gates.items()}


def gate_summary(model: GatedNet, gates: dict[str, torch.Tensor]) -> dict:
    """Pruned architecture, params removed (%) and per-layer category counts of `gates`."""
    return {"pruned_architecture": pruned_architecture(model, gates),
            "params_removed_pct": params_removed_pct(model, gates),
            "gate_categories": category_table(gates)}


class SelectFeatures(nn.Module):
    """Keeps the listed entries of the last dimension (the surviving inputs)."""

    def __init__(self, index: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(-1, self.index)

    def extra_repr(self):
        return f"{self.index.numel()} features"


def compact(model: GatedNet) -> nn.Sequential:
    """A plain dense nn.Sequential with pruned units removed and evaluation gates folded in.

    Its outputs equal the gated model's eval-mode outputs.
    """
    children = list(model.named_children())
    gated = [(name, m) for name, m in children if isinstance(m, GatedLayer)]
    gates = {name: m.gate_in_mode("eval") if m.active else None for name, m in gated}
    alive = {name: _at_least_one(unit_alive(m, gates[name])) for name, m in gated}
    # A linear layer keeps an output only if the next linear layer keeps it as an input.
    out_keep = {}
    for (name, m), (next_name, next_m) in zip(gated, gated[1:] + [(None, None)]):
        if isinstance(m, GatedLinear):
            out_keep[name] = alive[next_name] if isinstance(next_m, GatedLinear) \
                else torch.ones(m.out_features, dtype=torch.bool)
    layers: list[tuple[str, nn.Module]] = []
    channels = None      # surviving filters of the last conv (original indices)
    seen_linear = False
    with torch.no_grad():
        for name, m in children:
            if isinstance(m, GatedConv2d):
                w = m.effective_weight(gates[name]).detach().cpu()
                in_idx = torch.arange(m.in_channels) if channels is None else channels
                channels = alive[name].nonzero().flatten()
                conv = nn.Conv2d(len(in_idx), len(channels), m.kernel_size, bias=False)
                conv.weight.copy_(w[channels][:, in_idx])
                layers.append((name, conv))
                n_channels = m.out_channels
            elif isinstance(m, GatedLinear):
                w = m.effective_weight(gates[name]).detach().cpu()  # (in, out)
                keep_in = alive[name]
                if channels is not None and not seen_linear:  # first linear after the convs
                    kept_channel = torch.zeros(n_channels, dtype=torch.bool)
                    kept_channel[channels] = True
                    from_kept = kept_channel.repeat_interleave(m.in_features // n_channels)
                    keep_in = keep_in & from_kept
                    if not bool(keep_in.all()):
                        position = torch.cumsum(from_kept.long(), 0) - 1
                        layers.append((f"{name}_select", SelectFeatures(position[keep_in])))
                elif not seen_linear and not bool(keep_in.all()):
                    layers.append((f"{name}_select", SelectFeatures(keep_in.nonzero().flatten())))
                in_idx, out_idx = keep_in.nonzero().flatten(), out_keep[name].nonzero().flatten()
                linear = nn.Linear(len(in_idx), len(out_idx), bias=False)
                linear.weight.copy_(w[in_idx][:, out_idx].t())
                layers.append((name, linear))
                seen_linear = True
            else:
                layers.append((name, _rebuild(m)))
    return nn.Sequential(OrderedDict(layers))


def _at_least_one(mask: torch.Tensor) -> torch.Tensor:
    """Keep one (all-zero) unit of a fully pruned layer, so the compact model still runs."""
    if not bool(mask.any()):
        mask = mask.clone()
        mask[0] = True
    return mask


def _rebuild(m: nn.Module) -> nn.Module:
    """A fresh copy of a parameter-free module (ReLU, pools, Flatten)."""
    if isinstance(m, nn.MaxPool2d):
        return nn.MaxPool2d(m.kernel_size, m.stride)
    if isinstance(m, nn.Flatten):
        return nn.Flatten(m.start_dim, m.end_dim)
    return type(m)()
