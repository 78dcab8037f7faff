"""Counting and compact() for gates on convs anywhere in a graph: residual additions,
concatenations, depthwise convs, flatten.

Torch-Pruning's `DependencyGraph` finds the channels that are coupled (removing one means
removing the others: the convs that feed one residual addition, a depthwise conv and the conv
before it, the inputs a concatenation feeds). A channel group is removed only when that is exact:
every layer whose output goes on past the group is a gated layer that outputs 0 there (a pruned
filter, its gate folded into the weights or the BatchNorm after it; a layer that only feeds the
group's depthwise conv goes with it), and removing it leaves the network's output unchanged on a
probe batch. Otherwise it is kept, counted as kept, and the reason is recorded.
"""
from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import nn

from .analysis import dense_linear, gated_norm, selecting
from .errors import ConfigError
from .layers import GatedConv2d, GatedLayer, GatedLinear

RTOL, ATOL = 1e-4, 1e-5  # float32 sums in another order, relative to the output's scale


@dataclass
class Compacted:
    """A compacted graph model, which original units each gated layer keeps, and why some
    zero-gated units were kept."""

    model: nn.Module
    masks: dict[str, tuple[torch.Tensor, torch.Tensor]]
    kept_because: list[str] = field(default_factory=list)


def probe_batch(example_shape: tuple[int, ...]) -> torch.Tensor:
    """Two random inputs of the model's shape, the same on every call."""
    return torch.randn(2, *example_shape, generator=torch.Generator().manual_seed(0))


def find_norm_after(model: nn.Module, conv_names: list[str], example_shape) -> dict[str, str]:
    """{conv: the BatchNorm2d that alone reads it}, from the traced graph (not from the order the
    modules were registered in)."""
    model = copy.deepcopy(model).cpu().eval()
    graph = _graph(model, probe_batch(example_shape)[:1])
    names = {m: n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    out = {}
    for name in conv_names:
        readers = graph.module2node[modules[name]].outputs
        if len(readers) == 1 and isinstance(readers[0].module, nn.BatchNorm2d):
            out[name] = names[readers[0].module]
    return out


def _graph(model: nn.Module, example: torch.Tensor):
    """Torch-Pruning's dependency graph of `model` (a private copy: its parameters are set to
    require gradients, which the tracing follows), traced on `example`."""
    for p in model.parameters():
        p.requires_grad_(True)
    with warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore", UserWarning)  # parameters outside modules (ConvNeXt's layer scales): handled
        return tp.DependencyGraph().build_dependency(model, example_inputs=example)


def _plain(layer: GatedLayer, gate: torch.Tensor | None) -> nn.Module:
    """The plain module a gated layer computes with `gate` folded in."""
    with torch.no_grad():
        if isinstance(layer, GatedLinear):
            return dense_linear(layer, layer.effective_weight(gate).detach().cpu(), torch.arange(layer.in_features),
                                 torch.arange(layer.out_features))
        after_norm = layer.norm is not None
        conv = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         groups=layer.groups, bias=layer.bias is not None)
        conv.weight.copy_((layer.weight if after_norm else layer.effective_weight(gate)).detach().cpu())
        if layer.bias is not None:
            conv.bias.copy_((layer.bias if after_norm else layer.effective_bias(gate)).detach().cpu())
        if not after_norm:
            return conv
        norm = gated_norm(layer.norm, gate, torch.ones(layer.out_channels, dtype=torch.bool))
        return nn.Sequential(OrderedDict([("conv", conv), ("norm", norm)]))


def _core(module: nn.Module) -> nn.Module:
    """The conv or linear inside a plain replacement (conv + BatchNorm, or select + linear)."""
    if isinstance(module, nn.Sequential):
        return module.conv if hasattr(module, "conv") else module.linear
    return module


def _silent_outputs(module: nn.Module) -> list[int]:
    """Output channels of a plain replacement that are exactly 0 for every input."""
    if isinstance(module, nn.Sequential):  # conv, then BatchNorm with the gate folded in
        return (module.norm.weight.eq(0) & module.norm.bias.eq(0)).nonzero().flatten().tolist()
    dead = module.weight.flatten(1).eq(0).all(1)
    if module.bias is not None:
        dead &= module.bias.eq(0)
    return dead.nonzero().flatten().tolist()


def _unread_inputs(module: nn.Module) -> list[int]:
    """Inputs a plain linear replacement never reads (their gate is 0)."""
    return module.weight.eq(0).all(0).nonzero().flatten().tolist()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a, b, rtol=RTOL, atol=ATOL * max(1.0, float(b.abs().max()))))


class _Pruner:
    """The plain copy being compacted, with each gated layer's surviving original units."""

    def __init__(self, net: nn.Module, gated: dict[str, GatedLayer], gates: dict, example_shape):
        self.model = copy.deepcopy(net).cpu().eval()
        self.names = list(gated)
        for name, layer in gated.items():
            parent, _, child = name.rpartition(".")
            holder = self.model.get_submodule(parent) if parent else self.model
            setattr(holder, child, _plain(layer, gates.get(name)))
        self.probe = probe_batch(example_shape)
        with torch.no_grad():
            self.reference = self.model(self.probe)
        self.units = {n: [list(range(g.in_channels if isinstance(g, GatedConv2d) else g.in_features)),
                          list(range(g.out_channels if isinstance(g, GatedConv2d) else g.out_features))]
                      for n, g in gated.items()}
        self.kept_because: list[str] = []

    def say(self, name: str, why: str) -> None:
        """Record why some of gated layer `name`'s zero-gated units are kept (one line)."""
        self.kept_because.append(f"net.{name}: {why}")

    def core(self, model: nn.Module, name: str) -> nn.Module:
        return _core(model.get_submodule(name))

    def try_remove(self, name: str, idxs: list[int], outputs: bool) -> bool:
        """Remove channels `idxs` of `name` (outputs, else inputs) with everything coupled to them,
        where that is exact: every layer whose output reaches past the group there outputs 0 (the
        inputs of a linear layer: nothing but that layer reads them), and the output on the probe
        batch stays the same."""
        trial = copy.deepcopy(self.model)
        graph = _graph(trial, self.probe[:1])
        core = self.core(trial, name)
        handler = tp.prune_conv_out_channels if isinstance(core, nn.Conv2d) else tp.prune_linear_out_channels
        if not outputs:
            handler = tp.prune_linear_in_channels
        group = graph.get_pruning_group(core, handler, idxs=idxs)
        items = [(dep.target.module, dep.handler.__name__, [int(getattr(i, "idx", i)) for i in dep_idxs])
                 for dep, dep_idxs in group]
        weighted = [(m, h, i) for m, h, i in items if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not outputs:  # other layers read them, or a flatten maps them to whole channels: the linear selects
            readers = {id(m) for m, h, _ in weighted if "in_channels" in h and m is not core}
            if readers or any(len(i) != len(idxs) for _, _, i in weighted):
                return False
        else:
            silent = self._silent_in_group(trial, graph, name, weighted, len(idxs))
            if silent is None:
                return False
            if len(silent) < len(idxs):
                self.say(name, f"{len(idxs) - len(silent)} zero-gated filters kept: the gated layers coupled with "
                               "those channels keep them open")
                return bool(silent) and self.try_remove(name, [idxs[p] for p in sorted(silent)], outputs)
        try:
            group.prune()
            with torch.no_grad():
                same = _close(trial(self.probe), self.reference)
        except RuntimeError as error:  # a graph Torch-Pruning cannot cut there
            self.say(name, f"{len(idxs)} zero-gated units kept: removing them fails ({str(error).splitlines()[0]})")
            return False
        if not same:
            self.say(name, f"{len(idxs)} zero-gated {'filters' if outputs else 'inputs'} kept: removing them "
                           "changes the output (a module after them turns 0 into a constant)")
            return False
        self._record(trial, items)
        self.model = trial
        return True

    def _silent_in_group(self, trial: nn.Module, graph, name: str, weighted, n: int) -> set[int] | None:
        """The positions of the group's channels at which every layer whose output goes on past the
        group outputs 0 (a layer that feeds only the group's depthwise convs does not count: those
        are removed with it); None, with the reason recorded, when an ungated layer's does."""
        producers = {id(self.core(trial, n)): n for n in self.names}
        depthwise = {id(m) for m, h, _ in weighted
                     if "out_channels" in h and isinstance(m, nn.Conv2d) and m.groups > 1}
        silent = None
        for module, handler, idxs in weighted:
            if "out_channels" not in handler or _feeds_only(graph, module, depthwise):
                continue
            if id(module) not in producers:
                self.say(name, f"{n} zero-gated filters kept: ungated net.{_name_of(trial, module)} also outputs "
                                "those channels")
                return None
            zero = set(_silent_outputs(trial.get_submodule(producers[id(module)])))
            here = {p for p, i in enumerate(idxs) if i in zero}
            silent = here if silent is None else silent & here
        return set() if silent is None else silent

    def _record(self, trial: nn.Module, done) -> None:
        """Each gated layer's surviving original units, after the group `done` was removed."""
        cores = {id(self.core(trial, n)): n for n in self.names}
        for module, handler, idxs in done:
            name = cores.get(id(module))
            if name is None:
                continue
            side = 1 if "out_channels" in handler else 0
            gone = set(idxs)
            self.units[name][side] = [u for p, u in enumerate(self.units[name][side]) if p not in gone]
            if isinstance(module, nn.Conv2d) and module.groups > 1:  # depthwise: inputs follow outputs
                self.units[name][0] = list(self.units[name][1])

    def select_inputs(self, name: str) -> None:
        """A linear layer whose zero-gated inputs could not be removed with what feeds them picks
        the inputs it reads (always exact)."""
        linear = self.core(self.model, name)
        read = linear.weight.ne(0).any(0)
        if bool(read.all()):
            return
        index = read.nonzero().flatten()
        small = nn.Linear(len(index), linear.out_features, bias=linear.bias is not None)
        with torch.no_grad():
            small.weight.copy_(linear.weight[:, index])
            if linear.bias is not None:
                small.bias.copy_(linear.bias)
        parent, _, child = name.rpartition(".")
        holder = self.model.get_submodule(parent) if parent else self.model
        setattr(holder, child, selecting(index, small))
        self.units[name][0] = [u for u, r in zip(self.units[name][0], read.tolist()) if r]


def _feeds_only(graph, module: nn.Module, targets: set[int]) -> bool:
    """Whether everything `module` outputs reaches only the layers in `targets` (through
    parameter-free modules and BatchNorm) and nothing else, not the model's output."""
    stack, seen = list(graph.module2node[module].outputs), set()
    if not stack:
        return False
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.module, (nn.Conv2d, nn.Linear)):
            if id(node.module) not in targets:
                return False
            continue
        if not node.outputs:
            return False
        stack.extend(node.outputs)
    return True


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next((n for n, m in model.named_modules() if m is module), type(module).__name__)


def compact_graph(model: nn.Module, gates: dict[str, torch.Tensor]) -> Compacted:
    """`model` (a GatedModule with gated convs) compacted: a plain copy, in evaluation mode, with
    every zero-gated channel group removed where that is exact (see the module's docstring)."""
    example_shape = getattr(model, "example_shape", None)
    if example_shape is None:
        raise ConfigError("counting gated convs inside a graph needs the input's shape: gate_classifier(..., "
                          "example=(C, H, W))")
    gated = {name.removeprefix("net."): layer for name, layer in model.gated_layers().items()}
    gates = {name.removeprefix("net."): g for name, g in gates.items()}
    pruner = _Pruner(model.net, gated, gates, example_shape)
    for name in pruner.names:
        core = pruner.core(pruner.model, name)
        if isinstance(core, nn.Conv2d):
            dead = _silent_outputs(pruner.model.get_submodule(name))
            if dead and len(dead) < core.out_channels:
                pruner.try_remove(name, dead, outputs=True)
            elif dead:
                pruner.say(name, "every filter is zero-gated; one channel of zeros is kept so that the graph stays "
                                 "connected")
                if len(dead) > 1:
                    pruner.try_remove(name, dead[1:], outputs=True)
    for name in pruner.names:
        core = pruner.core(pruner.model, name)
        if isinstance(core, nn.Linear):
            unread = _unread_inputs(core)
            if unread and len(unread) < core.in_features:
                before = len(pruner.kept_because)
                if not pruner.try_remove(name, unread, outputs=False):
                    del pruner.kept_because[before:]  # not kept: the linear layer picks its inputs instead
                    pruner.select_inputs(name)
    with torch.no_grad():
        if not _close(pruner.model(pruner.probe), pruner.reference):
            raise ConfigError("compact() of a graph model changed its output; please report this model")
    masks = {}
    for name, layer in model.gated_layers().items():
        short = name.removeprefix("net.")
        n_in = layer.in_channels if isinstance(layer, GatedConv2d) else layer.in_features
        n_out = layer.out_channels if isinstance(layer, GatedConv2d) else layer.out_features
        keep_in, keep_out = torch.zeros(n_in, dtype=torch.bool), torch.zeros(n_out, dtype=torch.bool)
        keep_in[pruner.units[short][0]] = True
        keep_out[pruner.units[short][1]] = True
        masks[name] = (keep_in, keep_out)
    small = nn.Sequential(OrderedDict([("net", pruner.model)])).eval()
    return Compacted(small, masks, pruner.kept_because)
