"""Task networks (TNNs): the MLP 784-300-100-10 and LeNet5-Caffe 20-50-800-500, gated or dense."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .errors import ConfigError
from .precision import DTYPES
from .layers import GATE_STATS, GatedLayer, GatedConv2d, GatedLinear
from .switcher import SwitcherSpec

MODELS = ("mlp", "lenet5")


class GatedNet(nn.Sequential):
    """A sequence of named modules (captum can hook each one) with gated layers among them."""

    def gated_layers(self) -> dict[str, GatedLayer]:
        return {name: m for name, m in self.named_children() if isinstance(m, GatedLayer)}

    def set_gated(self, on: bool) -> None:
        """Switch every switcher on (gates applied) or off (plain TNN, as in warm-up)."""
        for layer in self.gated_layers().values():
            layer.gated = on

    def set_gate_stats(self, stats: str) -> None:
        """'running' (BatchNorm running statistics in eval mode, as the release) or 'image'."""
        if stats not in GATE_STATS:
            raise ConfigError(f"unknown gate statistics {stats!r}; choose one of {', '.join(GATE_STATS)}")
        for layer in self.gated_layers().values():
            layer.gate_stats = stats

    def set_precision(self, precision: str) -> None:
        """The precision every switcher computes in: 'fp32', 'bf16' or 'fp16' (an effective one,
        see snn_edu.precision.resolve)."""
        if precision not in ("fp32", *DTYPES):
            raise ConfigError(f"set_precision takes fp32, bf16 or fp16, not {precision!r}")
        for layer in self.gated_layers().values():
            layer.precision = precision

    def tnn_parameters(self) -> list[nn.Parameter]:
        return [layer.weight for layer in self.gated_layers().values()]

    def switcher_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.gated_layers().values() if layer.switcher is not None
                for p in layer.switcher.parameters()]

    def gates(self, mode: str = "eval") -> dict[str, torch.Tensor]:
        """Each switched-on layer's gate (see GatedLayer.gate_in_mode), on the CPU."""
        return {name: layer.gate_in_mode(mode).cpu() for name, layer in self.gated_layers().items()
                if layer.active}

    def switcher_images(self) -> dict[str, torch.Tensor]:
        """The weight image each switcher reads, on the CPU."""
        with torch.no_grad():
            return {name: layer.switcher_image().detach().cpu()
                    for name, layer in self.gated_layers().items() if layer.switcher is not None}


class MLP(GatedNet):
    """784-300-100-10, bias-free, ReLU between layers; weights N(0, 0.01) as in the release."""

    def __init__(self, strategy="neuron", switcher: str | SwitcherSpec | None = "paper",
                 sizes=(784, 300, 100, 10), init_std: float | None = 0.01):
        layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            if i > 1:
                layers.append((f"relu{i - 1}", nn.ReLU()))
            layers.append((f"fc{i}", GatedLinear(n_in, n_out, strategy, switcher, init_std)))
        super().__init__(OrderedDict(layers))


class LeNet5(GatedNet):
    """LeNet5-Caffe 20-50-800-500: no ReLU after the convs (as in Caffe and the release), no biases."""

    def __init__(self, strategy="neuron", switcher: str | SwitcherSpec | None = "paper",
                 init_std: float | None = None):
        super().__init__(OrderedDict([
            ("conv1", GatedConv2d(1, 20, 5, strategy, switcher)),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", GatedConv2d(20, 50, 5, strategy, switcher)),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", GatedLinear(800, 500, strategy, switcher, init_std)),
            ("relu1", nn.ReLU()),
            ("fc2", GatedLinear(500, 10, strategy, switcher, init_std)),
        ]))


def build_model(name: str, strategy: str = "neuron", switcher: str | SwitcherSpec | None = "paper",
                **kwargs) -> GatedNet:
    """An MLP or LeNet5 by name; `switcher=None` gives the dense TNN."""
    if name == "mlp":
        return MLP(strategy, switcher, **kwargs)
    if name == "lenet5":
        return LeNet5(strategy, switcher, **kwargs)
    raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
