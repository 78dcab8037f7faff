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
        """Every parameter that is not a gate's: the gated layers' weights and biases, and any
        ungated part (a backbone, BatchNorm)."""
        gate_params = {id(p) for p in self.gate_parameters()}
        return [p for p in self.parameters() if id(p) not in gate_params]

    def gate_parameters(self) -> list[nn.Parameter]:
        """Every gate's parameters, each once (a joint switcher is shared by its layers)."""
        return list(dict.fromkeys(p for layer in self.gated_layers().values() if layer.gate is not None
                                  for p in layer.gate.parameters()))

    def gate_batchnorm_parameters(self) -> list[nn.Parameter]:
        """The scale and shift of every BatchNorm inside a gate, each once (the release trains
        them in the TNN phase too)."""
        return list(dict.fromkeys(p for layer in self.gated_layers().values() if layer.gate is not None
                                  for m in layer.gate.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                                  for p in m.parameters()))

    def gates(self, mode: str = "eval") -> dict[str, torch.Tensor]:
        """Each switched-on layer's gate (see GatedLayer.gate_in_mode), on the CPU."""
        return {name: layer.gate_in_mode(mode).cpu() for name, layer in self.gated_layers().items()
                if layer.active}

    def switcher_images(self) -> dict[str, torch.Tensor]:
        """The weight image each switcher reads, on the CPU (none for gates that read no weights)."""
        with torch.no_grad():
            return {name: layer.switcher_image().detach().cpu()
                    for name, layer in self.gated_layers().items() if layer.gate is not None and layer.reads_weights}

    def lambdas_per_layer(self, lambdas: tuple[float, ...]) -> list[float]:
        """One --l0-lambda per gated layer (a single value is repeated); a wrong count is refused
        when some gate uses lambda."""
        layers = self.gated_layers()
        if len(lambdas) not in (1, len(layers)) and any(m.gate is not None and m.gate.uses_lambda
                                                        for m in layers.values()):
            raise ConfigError(f"--l0-lambda takes one value or one per gated layer ({len(layers)}), got {len(lambdas)}")
        return list(lambdas) * len(layers) if len(lambdas) == 1 else list(lambdas)

    def gate_penalty(self, l0_lambdas: tuple[float, ...], n_train: int) -> torch.Tensor | None:
        """What the gates add to the cross-entropy, divided by the training set's size N (L0:
        lambda / N times its expected non-zero weights; BC-GNJ: KL / N); None for gates that
        train on the cross-entropy alone (the switcher, direct gates). `l0_lambdas`: one value
        for every layer, or one per gated layer."""
        terms = [layer.gate.penalty(layer.weight, lam)
                 for lam, layer in zip(self.lambdas_per_layer(l0_lambdas), self.gated_layers().values())
                 if layer.gate is not None]
        terms = [t for t in terms if t is not None]
        return sum(terms) / n_train if terms else None

    def after_step(self) -> None:
        """What each gate does after an optimiser step (L0: clamp log alpha; BC: clip variances)."""
        for layer in self.gated_layers().values():
            if layer.gate is not None:
                layer.gate.after_step()


class MLP(GatedNet):
    """784-300-100-10, bias-free, ReLU between layers; weights N(0, 0.01) as in the release."""

    def __init__(self, strategy="neuron", switcher: str | SwitcherSpec | None = "paper",
                 sizes=(784, 300, 100, 10), init_std: float | None = 0.01, gate: str = "switcher"):
        layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            if i > 1:
                layers.append((f"relu{i - 1}", nn.ReLU()))
            droprate = 0.2 if i == 1 else 0.5  # L0 gates' initial drop rate (the L0 authors' MLP)
            clip_var = 0.04 if i == 1 else None  # BC-GNJ: the input layer's weight variance clip (the BC authors')
            layers.append((f"fc{i}", GatedLinear(n_in, n_out, strategy, switcher, init_std, gate, droprate, clip_var)))
        super().__init__(OrderedDict(layers))


class LeNet5(GatedNet):
    """LeNet5-Caffe 20-50-800-500, no biases, with a ReLU after each conv (before its pooling),
    as the authors' release applies it inside its conv layers (Caffe's own LeNet has none there).
    Every activation and pool is a named module, so attribution hooks can reach it.
    `conv_strategy` (default: `strategy`) gates the convs apart: 'connection' gives one gate per
    (filter, input channel) kernel slice, as the release's conv2."""

    def __init__(self, strategy="neuron", switcher: str | SwitcherSpec | None = "paper",
                 init_std: float | None = None, gate: str = "switcher", conv_strategy: str | None = None):
        conv_strategy = conv_strategy or strategy
        super().__init__(OrderedDict([
            ("conv1", GatedConv2d(1, 20, 5, conv_strategy, switcher, gate)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", GatedConv2d(20, 50, 5, conv_strategy, switcher, gate)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", GatedLinear(800, 500, strategy, switcher, init_std, gate)),
            ("relu3", nn.ReLU()),
            ("fc2", GatedLinear(500, 10, strategy, switcher, init_std, gate)),
        ]))


def kaiming_init(model: GatedNet) -> None:
    """Kaiming normal (fan_out, relu) on every gated layer's weight as stored, as the release draws
    LeNet5's: a conv (out, in, k, k) gets std sqrt(2 / (out k k)), an FC weight stored (in, out)
    std sqrt(2 / in)."""
    for layer in model.gated_layers().values():
        nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")


def build_model(name: str, strategy: str = "neuron", switcher: str | SwitcherSpec | None = "paper",
                **kwargs) -> GatedNet:
    """An MLP or LeNet5 by name; `switcher=None` gives the dense TNN."""
    if name == "mlp":
        return MLP(strategy, switcher, **kwargs)
    if name == "lenet5":
        return LeNet5(strategy, switcher, **kwargs)
    raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
