"""Counting and compacting: gate categories, the pruned architecture, params removed, compact()."""
from __future__ import annotations

import copy
import warnings
from collections import OrderedDict

import torch
from torch import nn

from .errors import ConfigError
from .layers import GatedConv2d, GatedLayer, GatedLinear
from .models import MODELS, GatedNet, build_model

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


def architecture_of(gates: dict[str, torch.Tensor]) -> str:
    """The pruned architecture from gates alone: by `alive_masks`' rule when they are the gates of
    a package network (MLP or LeNet5, recognised by layer names and shapes), else layer by layer."""
    strategy = "connection" if any(g.dim() == 2 for g in gates.values()) else "neuron"
    for name in MODELS:
        skeleton = build_model(name, strategy, switcher=None)
        layers = skeleton.gated_layers()
        if list(layers) == list(gates) and all(len(g) == _n_units(layers[n]) for n, g in gates.items()):
            return pruned_architecture(skeleton, gates)
    return "-".join(str(int(alive_units(g).sum())) for g in gates.values())


def border_vs_centre(gate_784: torch.Tensor, width: int = 4) -> dict[str, float]:
    """Percent of pruned input pixels in the `width`-pixel border of the 28x28 image and inside it."""
    pruned = (gate_784.detach().cpu().reshape(28, 28) == 0).float()
    border = torch.ones(28, 28, dtype=torch.bool)
    border[width:-width, width:-width] = False
    return {"border": 100.0 * float(pruned[border].mean()), "centre": 100.0 * float(pruned[~border].mean())}


# -- one rule of which units are alive, across layer boundaries ------------------------------------
def _n_units(layer: GatedLayer) -> int:
    """How many units a layer's neuron gate controls: conv filters, or linear inputs."""
    return layer.out_channels if isinstance(layer, GatedConv2d) else layer.in_features


def _connections(layer: GatedLayer, gate: torch.Tensor | None) -> torch.Tensor:
    """(inputs, outputs) boolean map of the connections the gate leaves open."""
    if isinstance(layer, GatedConv2d):
        n_in, n_out = layer.in_channels, layer.out_channels
    else:
        n_in, n_out = layer.in_features, layer.out_features
    if gate is None:
        return torch.ones(n_in, n_out, dtype=torch.bool)
    open_ = gate.detach().cpu() != 0
    if open_.dim() == 2:  # connection strategy: linear (in, out), conv (out, in)
        return open_.t() if isinstance(layer, GatedConv2d) else open_
    if isinstance(layer, GatedConv2d):  # one gate per filter
        return open_[None, :].expand(n_in, n_out)
    return open_[:, None].expand(n_in, n_out)  # one gate per input feature


def _fan(prev: GatedLayer, layer: GatedLayer) -> int:
    """How many of `layer`'s inputs each output of `prev` feeds (a conv filter into a linear
    layer feeds its whole flattened map; otherwise one)."""
    if isinstance(prev, GatedConv2d) and isinstance(layer, GatedLinear):
        return layer.in_features // prev.out_channels
    return 1


def alive_masks(model: GatedNet, gates: dict[str, torch.Tensor] | None = None
                ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{layer: (inputs kept, outputs kept)} for every gated layer, by one rule.

    A unit survives when its gate is non-zero, something alive feeds it and something alive
    reads it: a pruned conv filter kills the linear inputs its map feeds, a linear output survives
    only if the next layer keeps it as an input, and a layer left with no inputs passes nothing on.
    The model's own input and its class outputs are never removed by this rule (a gate on the
    input pixels still removes pixels). `gates` defaults to the evaluation gates; a layer
    without a gate keeps all its connections. `compact()` keeps exactly these units.
    """
    if getattr(model, "coupled", False):  # gated convs inside a graph: what compact() removes there
        from .coupled import compact_graph

        return compact_graph(model, model.gates("eval") if gates is None else gates).masks
    rows = _layer_gates(model, gates)
    conn = [_connections(layer, g) for _, layer, g in rows]
    fans = [1] + [_fan(a, b) for (_, a, _), (_, b, _) in zip(rows, rows[1:])]
    ins, outs = [], []
    feeding = torch.ones(conn[0].shape[0], dtype=torch.bool)  # the model's input
    for i, c in enumerate(conn):  # forward: fed by something alive
        ins.append(feeding)
        out = (c & feeding[:, None]).any(0) if i + 1 < len(conn) else torch.ones(c.shape[1], dtype=torch.bool)
        outs.append(out)
        if i + 1 < len(conn):
            feeding = out.repeat_interleave(fans[i + 1])
    read = outs[-1]
    for i in reversed(range(len(conn))):  # backward: read by something alive
        ins[i] = ins[i] & (conn[i] & read[None, :]).any(1)
        if i > 0:
            outs[i - 1] = outs[i - 1] & ins[i].view(-1, fans[i]).any(1)
            read = outs[i - 1]
    return {name: (a, b) for (name, _, _), a, b in zip(rows, ins, outs)}


def _units(layer: GatedLayer, masks: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The mask over the units the layer's gate controls (conv: filters; linear: inputs)."""
    return masks[1] if isinstance(layer, GatedConv2d) else masks[0]


def alive_unit_masks(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """{layer: surviving units} under `alive_masks`' rule (conv filters, linear inputs)."""
    layers = model.gated_layers()
    return {name: _units(layers[name], m) for name, m in alive_masks(model, gates).items()}


def _layer_gates(model: GatedNet, gates: dict[str, torch.Tensor] | None):
    if gates is None:
        gates = model.gates("eval")
    return [(name, layer, gates.get(name)) for name, layer in model.gated_layers().items()]


def pruned_architecture(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> str:
    """Surviving units per gated layer, e.g. '456-134-45' (MLP) or '12-37-268-192' (LeNet5).

    Linear layers count surviving inputs, conv layers surviving filters, both by `alive_masks`;
    `gates` defaults to the evaluation gates.
    """
    return "-".join(str(int(m.sum())) for m in alive_unit_masks(model, gates).values())


def _weights_between(layer: GatedLayer, n_in: int, n_out: int) -> int:
    """A gated layer's weights between `n_in` kept inputs and `n_out` kept outputs (a depthwise
    conv's filter reads its own channel only)."""
    if isinstance(layer, GatedConv2d):
        return (n_out if layer.groups > 1 else n_in * n_out) * layer.kernel_size ** 2
    return n_in * n_out


def param_counts(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> tuple[int, int]:
    """(kept, total) TNN weights, where kept is what `compact(model)` keeps: every weight between
    surviving inputs and outputs (`alive_masks`), times a conv kernel's area. Under the neuron
    strategy all of them are non-zero; under the connection strategy a gate of 0 inside a kept
    matrix zeroes a weight without removing it (see `nonzero_counts`)."""
    masks = alive_masks(model, gates)
    kept = total = 0
    for name, layer, _ in _layer_gates(model, gates):
        keep_in, keep_out = masks[name]
        kept += _weights_between(layer, int(keep_in.sum()), int(keep_out.sum()))
        total += layer.weight.numel()
    return kept, total


def nonzero_counts(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> tuple[int, int]:
    """(non-zero, total) TNN weights: the open connections between surviving units, times a conv
    kernel's area, which is exactly the non-zero weights of `compact(model)`."""
    masks = alive_masks(model, gates)
    kept = total = 0
    for name, layer, g in _layer_gates(model, gates):
        keep_in, keep_out = masks[name]
        if getattr(layer, "groups", 1) > 1:  # depthwise: one slice per filter, gated with it
            kept += _weights_between(layer, 0, int(keep_out.sum()))
        else:
            area = layer.kernel_size ** 2 if isinstance(layer, GatedConv2d) else 1
            kept += int((_connections(layer, g) & keep_in[:, None] & keep_out[None, :]).sum()) * area
        total += layer.weight.numel()
    return kept, total


def params_removed_pct(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> float:
    """Share of TNN weights removed (structured: gone from `compact()`'s matrices), in percent."""
    kept, total = param_counts(model, gates)
    return 100.0 * (1 - kept / total)


def ungated_weights(model: GatedNet) -> int:
    """How many TNN weights no gate controls (the matrices and kernels of ungated layers, e.g.
    VGG-cov2's convolutions when only its FC layers are gated); they are always kept."""
    gated = {id(layer.weight) for layer in model.gated_layers().values()}
    return sum(p.numel() for p in model.tnn_parameters() if p.dim() > 1 and id(p) not in gated)


def network_params_removed_pct(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> float:
    """Share of all the TNN's weights removed, gated or not, in percent: what the papers count
    where they count the whole network (VGG-cov2); params_removed_pct counts the gated layers only."""
    ungated = ungated_weights(model)
    if getattr(model, "coupled", False):  # ungated layers coupled with removed channels shrink too
        from .coupled import compact_graph

        total = sum(layer.weight.numel() for layer in model.gated_layers().values())
        small = compact_graph(model, model.gates("eval") if gates is None else gates).model
        return 100.0 * (1 - stored_weights(small) / (total + ungated))
    kept, total = param_counts(model, gates)
    return 100.0 * (1 - (kept + ungated) / (total + ungated))


def weights_zeroed_pct(model: GatedNet, gates: dict[str, torch.Tensor] | None = None) -> float:
    """Share of TNN weights that are zero or removed (sparse), in percent; equal to params_removed_pct
    under the neuron strategy, larger under the connection strategy."""
    kept, total = nonzero_counts(model, gates)
    return 100.0 * (1 - kept / total)


def category_table(gates: dict[str, torch.Tensor]) -> dict[str, dict[str, int]]:
    """gate_categories for every layer."""
    return {name: gate_categories(g) for name, g in gates.items()}


def gate_summary(model: GatedNet, gates: dict[str, torch.Tensor]) -> dict:
    """Pruned architecture, params removed and weights zeroed (%), and per-layer category counts of `gates`."""
    return {"pruned_architecture": pruned_architecture(model, gates),
            "params_removed_pct": params_removed_pct(model, gates),
            "weights_zeroed_pct": weights_zeroed_pct(model, gates),
            "network_params_removed_pct": network_params_removed_pct(model, gates),
            "gate_categories": category_table(gates)}


def selecting(index: torch.Tensor, linear: nn.Linear) -> nn.Sequential:
    """`linear` reading only the input features `index` (a layer whose removed inputs stay upstream)."""
    return nn.Sequential(OrderedDict([("select", SelectFeatures(index)), ("linear", linear)]))


class SelectFeatures(nn.Module):
    """Keeps the listed entries of the last dimension (the surviving inputs)."""

    def __init__(self, index: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(-1, self.index)

    def extra_repr(self):
        return f"{self.index.numel()} features"


class ZeroLogits(nn.Module):
    """The compact form of a network with nothing left alive: every class score is 0 (or the
    last layer's bias, when it has one)."""

    def __init__(self, n_classes: int, bias: torch.Tensor | None = None):
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(x.shape[0], self.n_classes)
        return out if self.bias is None else out + self.bias

    def extra_repr(self):
        return f"{self.n_classes} classes"


def compact(model: GatedNet) -> nn.Sequential:
    """A plain dense nn.Sequential, in evaluation mode, that keeps exactly the units
    `alive_masks` keeps, with the evaluation gates folded into the weights. Its outputs equal the
    gated model's eval-mode outputs."""
    children = list(model.named_children())
    gated = model.gated_layers()
    gates = {name: m.gate_in_mode("eval") for name, m in gated.items() if m.active}
    if getattr(model, "coupled", False):  # gated convs inside a graph
        from .coupled import compact_graph

        return compact_graph(model, gates).model
    check_countable(model)
    masks = alive_masks(model, gates)
    if any(not bool(m.any()) for pair in masks.values() for m in pair):  # nothing reaches the classes
        last = list(gated.values())[-1]
        return nn.Sequential(OrderedDict([("zero_logits", ZeroLogits(last.out_features,
                                                                     constant_output(model, gates)))])).eval()
    extra = bias_constants(model, gates, masks)
    if any("." in name for name in gated):  # gated layers inside a module (gate_classifier)
        return _compact_nested(model, gates, masks, extra)
    layers: list[tuple[str, nn.Module]] = []
    kept_channels = None  # the last conv's surviving filters, as a mask
    seen_linear = False
    with torch.no_grad():
        last_out = None  # the outputs the last gated linear layer keeps (a BatchNorm1d after it follows them)
        for name, m in children:
            if not isinstance(m, GatedLayer):
                layers.append((name, _sliced(_rebuild(m), last_out)))
                continue
            keep_in, keep_out = masks[name]
            w = m.effective_weight(gates.get(name)).detach().cpu()
            out_idx = keep_out.nonzero().flatten()
            if isinstance(m, GatedConv2d):
                in_idx = torch.arange(m.in_channels) if kept_channels is None else kept_channels.nonzero().flatten()
                after_norm = m.norm is not None  # conv, BatchNorm, gate: the gate scales BatchNorm's affine
                bias = m.bias if after_norm else m.effective_bias(gates.get(name))
                if after_norm:
                    w = m.weight.detach().cpu()
                conv = nn.Conv2d(len(in_idx), len(out_idx), m.kernel_size, m.stride, m.padding, bias=bias is not None)
                conv.weight.copy_(w[out_idx][:, in_idx])
                if bias is not None:
                    conv.bias.copy_(bias.detach().cpu()[out_idx])
                layers.append((name, conv))
                if after_norm:
                    layers.append((f"{name}_norm", gated_norm(m.norm, gates.get(name), keep_out)))
                kept_channels = keep_out
                continue
            if not seen_linear:  # the first linear layer picks its inputs from what reaches it
                arriving = (torch.ones(m.in_features, dtype=torch.bool) if kept_channels is None
                            else kept_channels.repeat_interleave(m.in_features // len(kept_channels)))
                if not bool(keep_in[arriving].all()):
                    position = torch.cumsum(arriving.long(), 0) - 1
                    layers.append((f"{name}_select", SelectFeatures(position[keep_in])))
            layers.append((name, dense_linear(m, w, keep_in.nonzero().flatten(), out_idx, extra.get(name))))
            seen_linear = True
            last_out = keep_out
    return nn.Sequential(OrderedDict(layers)).eval()


class SparseLinear(nn.Module):
    """A linear layer whose weight is stored in compressed sparse rows (only the non-zero weights):
    what a connection-strategy layer's zeros become when a reader wants them gone."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with warnings.catch_warnings():  # PyTorch calls its CSR support beta; this layer needs only a product
            warnings.simplefilter("ignore", UserWarning)
            self.register_buffer("weight", linear.weight.detach().to_sparse_csr())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (self.weight @ x.reshape(-1, self.in_features).t()).t().reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}, {self.weight.values().numel()} non-zero weights"


def compact_sparse(model: GatedNet) -> nn.Sequential:
    """`compact(model)` with every linear layer's weight in compressed sparse rows: the removed
    units are gone as in `compact`, and the connection strategy's zeroed weights are not stored
    either. Its non-zero weights are `nonzero_counts(model)` (conv layers stay dense)."""
    small = compact(model)
    for parent in [small, *small.modules()]:
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, SparseLinear(child))
    return small.eval()


def stored_weights(module: nn.Module) -> int:
    """Weights a compact model stores: the non-zero entries of sparse ones, every entry of dense ones."""
    total = 0
    for m in module.modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.layout == torch.sparse_csr:
            total += w.values().numel()
        elif isinstance(w, torch.Tensor) and w.dim() > 1:  # a matrix or kernel (not a BatchNorm scale)
            total += w.numel()
    return total


def dense_linear(m: GatedLinear, w: torch.Tensor, in_idx: torch.Tensor, out_idx: torch.Tensor,
                  extra: torch.Tensor | None = None) -> nn.Linear:
    """A plain nn.Linear over the kept inputs and outputs of `m`, from its folded weight `w` (in, out),
    with `extra` (the removed units' folded constants, see bias_constants) added to its bias."""
    bias = m.bias.detach().cpu() if m.bias is not None else None
    if extra is not None:
        bias = extra if bias is None else bias + extra
    linear = nn.Linear(len(in_idx), len(out_idx), bias=bias is not None)
    linear.weight.copy_(w[in_idx][:, out_idx].t())
    if bias is not None:
        linear.bias.copy_(bias[out_idx])
    return linear


def gated_norm(norm: nn.modules.batchnorm._BatchNorm, gate: torch.Tensor | None,
                keep: torch.Tensor) -> nn.modules.batchnorm._BatchNorm:
    """`norm` (evaluation mode) over the kept units, with the gate, if any, folded into its scale
    and shift: g * BN(x)."""
    small = copy.deepcopy(norm).cpu().eval()
    g = torch.ones(norm.num_features) if gate is None else gate.detach().cpu().float()
    small.num_features = int(keep.sum())
    with torch.no_grad():
        small.running_mean = norm.running_mean.detach().cpu()[keep].clone()
        small.running_var = norm.running_var.detach().cpu()[keep].clone()
        weight = norm.weight.detach().cpu() if norm.weight is not None else torch.ones(norm.num_features)
        bias = norm.bias.detach().cpu() if norm.bias is not None else torch.zeros(norm.num_features)
        small.weight = nn.Parameter((weight * g)[keep].clone())
        small.bias = nn.Parameter((bias * g)[keep].clone())
    small.affine = True
    return small


def _sliced(module: nn.Module, keep: torch.Tensor | None) -> nn.Module:
    """A BatchNorm1d after a gated linear layer, over the outputs that layer keeps; any other module as it is."""
    if keep is None or not isinstance(module, nn.BatchNorm1d) or module.num_features != len(keep):
        return module
    return gated_norm(module, None, keep)


def _compact_nested(model: nn.Module, gates: dict, masks: dict, extra: dict) -> nn.Sequential:
    """compact() for gated Linear layers inside any module: a copy in which each becomes a plain
    nn.Linear over its surviving inputs and outputs (the first one picks its inputs)."""
    copied = copy.deepcopy(model).cpu().eval()
    modules = dict(copied.named_modules())
    with torch.no_grad():
        for i, (name, m) in enumerate(copied.gated_layers().items()):
            keep_in, keep_out = masks[name]
            w = m.effective_weight(gates.get(name)).detach().cpu()
            in_idx = keep_in.nonzero().flatten()
            linear = dense_linear(m, w, in_idx, keep_out.nonzero().flatten(), extra.get(name))
            if i == 0 and not bool(keep_in.all()):
                linear = selecting(in_idx, linear)
            parent, _, child = name.rpartition(".")
            holder = modules[parent] if parent else copied
            setattr(holder, child, linear)
            siblings = [n for n, _ in holder.named_children()]
            for later in siblings[siblings.index(child) + 1:]:  # up to the next gated layer
                if f"{parent}.{later}".lstrip(".") in masks:
                    break
                setattr(holder, later, _sliced(getattr(holder, later), keep_out))
    return nn.Sequential(OrderedDict(copied.named_children())).eval()


# Modules that act on each unit alone (in evaluation mode): a removed unit's constant output passes
# through them as a constant, which the next gated layer can take into its bias.
ELEMENTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid,
               nn.Sigmoid, nn.Tanh, nn.Identity, nn.Dropout, nn.AlphaDropout, nn.BatchNorm1d)


# Modules that map an all-zero channel to an all-zero channel: a pruned filter's output passes
# through them as zeros, so the next gated layer can drop the channel.
ZERO_PRESERVING = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Tanh,
                   nn.Identity, nn.Dropout, nn.Dropout2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                   nn.AdaptiveMaxPool2d, nn.Flatten)


def _between(model: nn.Module, first: str, second: str) -> list[nn.Module] | str:
    """The modules between two consecutive gated layers (siblings in one chain), or why not."""
    p1, _, c1 = first.rpartition(".")
    p2, _, c2 = second.rpartition(".")
    if p1 != p2:
        return f"{first} and {second} do not sit in one chain"
    parent = model.get_submodule(p1) if p1 else model
    names = [n for n, _ in parent.named_children()]
    return [getattr(parent, n) for n in names[names.index(c1) + 1:names.index(c2)]]


def bias_constants(model: nn.Module, gates: dict, masks: dict) -> dict[str, torch.Tensor]:
    """{gated layer: what to add to its bias}: a unit of the layer before it that is removed
    because nothing alive feeds it still outputs a constant (its bias, through the modules
    between), and where this layer reads that unit the constant is folded into this layer's bias,
    so that compact() stays exact. A unit whose constant cannot be folded is refused (check_countable)."""
    layers = list(model.gated_layers().items())
    extra = {}
    with torch.no_grad():
        for (name, layer), (nxt_name, nxt) in zip(layers, layers[1:]):
            if layer.bias is None or not isinstance(layer, GatedLinear) or not isinstance(nxt, GatedLinear):
                continue
            gate = gates.get(nxt_name)
            g = torch.ones(nxt.in_features) if gate is None else gate.detach().cpu().float()
            fold = (g != 0) & ~masks[name][1]  # read by the next layer, but removed (nothing feeds it)
            if not bool(fold.any()):
                continue
            constant = layer.bias.detach().cpu().float()[None]
            for module in _between(model, name, nxt_name):
                constant = copy.deepcopy(module).cpu().eval()(constant)
            w = nxt.effective_weight(gate).detach().cpu().float()  # (in, out), the gate folded in
            extra[nxt_name] = (constant[0] * fold) @ w
    return extra


def constant_output(model: nn.Module, gates: dict) -> torch.Tensor | None:
    """What a network outputs when nothing alive reaches its classes: the biases from the first
    gated layer that no live signal crosses, carried through the rest of its chain (None: zeros)."""
    layers = list(model.gated_layers().items())
    start = _first_silent(model, gates)
    if isinstance(layers[start][1], GatedConv2d):  # its output is exactly 0 (its bias is gated with its filters)
        start += 1
    name, layer = layers[start]
    if all(l.bias is None for _, l in layers[start:]):
        return None
    parent_name = name.rpartition(".")[0]
    if any(n.rpartition(".")[0] != parent_name for n, _ in layers[start:]):
        raise ConfigError(f"nothing alive reaches the classes and the gated layers after {name} do not sit in one "
                          "chain: its constant output cannot be followed")
    if not _ends_the_model(model, parent_name):
        raise ConfigError(f"nothing alive reaches the classes and modules follow {parent_name}: its constant output "
                          "cannot be followed")
    parent = model.get_submodule(parent_name) if parent_name else model
    names = [n for n, _ in parent.named_children()]
    with torch.no_grad():
        x = torch.zeros(1, layer.in_features)
        for child in names[names.index(name.rpartition(".")[2]):]:
            module = copy.deepcopy(getattr(parent, child)).cpu().eval()
            if isinstance(module, GatedLayer):
                module.set_fixed_gate(gates.get(f"{parent_name}.{child}" if parent_name else child))
            x = module(x)
    return x[0]


def _first_silent(model: nn.Module, gates: dict) -> int:
    """The index of the first gated layer through which no live signal passes (alive_masks' forward rule)."""
    rows = _layer_gates(model, gates)
    feeding = None
    for i, (_, layer, g) in enumerate(rows):
        c = _connections(layer, g)
        feeding = torch.ones(c.shape[0], dtype=torch.bool) if feeding is None else feeding
        out = (c & feeding[:, None]).any(0)
        if not bool(out.any()):
            return i
        if i + 1 < len(rows):
            feeding = out.repeat_interleave(_fan(layer, rows[i + 1][1]))
    return len(rows) - 1


def _ends_the_model(model: nn.Module, name: str) -> bool:
    """Whether the submodule `name` is the last child at every level of its path (nothing runs after it)."""
    module = model
    for part in [p for p in name.split(".") if p]:
        children = [n for n, _ in module.named_children()]
        if children[-1] != part:
            return False
        module = getattr(module, part)
    return True


def check_countable(model: nn.Module) -> None:
    """Counting and compact() follow a chain of gated layers. A linear layer's bias before the last
    gated layer is allowed where the modules up to the next gated layer act on each unit alone
    (ELEMENTWISE): a removed unit's constant is then folded into the next layer's bias. Refused,
    in one line naming the module: any other module there, a bias under connection gates, or a
    conv's bias under connection gates (a conv's bias under a neuron gate is gated with its filter)."""
    layers = list(model.gated_layers().items())
    for (name, layer), (nxt_name, _) in zip(layers, layers[1:]):
        between = _between(model, name, nxt_name)
        if isinstance(layer, GatedConv2d) and not isinstance(between, str):
            other = next((m for m in between if not isinstance(m, ZERO_PRESERVING)), None)
            if other is not None:
                raise ConfigError(f"{type(other).__name__} sits between {name} and {nxt_name}: it turns a pruned "
                                  "filter's zeros into a constant, so the chain cannot remove the filter (gate_classifier "
                                  "with example=(C, H, W) counts through the graph instead, keeping such filters)")
        if layer.bias is None:
            continue
        if layer.strategy != "neuron":
            raise ConfigError(f"{name} has a bias under connection gates: a unit whose connections are all closed "
                              "still adds its bias, which counting cannot remove; use bias-free layers or neuron gates")
        if isinstance(layer, GatedConv2d):
            continue
        between = _between(model, name, nxt_name)
        if isinstance(between, str):
            raise ConfigError(f"{name} has a bias and {between}: a removed unit's constant output cannot be "
                              "followed to the next gated layer")
        other = next((m for m in between if not isinstance(m, ELEMENTWISE)), None)
        if other is not None:
            raise ConfigError(f"{name} has a bias and {type(other).__name__} sits between it and {nxt_name}: a removed "
                              "unit's constant output would mix with the others there, so it cannot be folded into "
                              f"{nxt_name}'s bias (allowed between: {', '.join(m.__name__ for m in ELEMENTWISE)})")


def _rebuild(m: nn.Module) -> nn.Module:
    """A copy of an ungated module (a pool with its arguments, a backbone, BatchNorm, an input
    normaliser with its weights), on the CPU in evaluation mode: copied, never re-constructed."""
    return copy.deepcopy(m).cpu().eval()
