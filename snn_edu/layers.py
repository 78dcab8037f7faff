"""Gated layers: each owns its TNN weight and the switcher that gates it."""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from . import precision as numeric
from .errors import ConfigError
from .gates import GATE_KINDS, Gate
from .switcher import Switcher, SwitcherSpec, conv_bn_relu

STRATEGIES = ("neuron", "connection")
GATE_STATS = ("running", "image")
SWITCHER_INPUTS = ("weights", "shuffled", "noise", "constant")  # the last three are ablation controls


@contextmanager
def batchnorm_image_stats(module: nn.Module):
    """Make every BatchNorm in `module` normalise with the current input's statistics,
    without touching its running statistics."""
    saved = []
    for bn in module.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            saved.append((bn, bn.training, bn.momentum, bn.num_batches_tracked.clone()))
            bn.train(True)
            bn.momentum = 0.0
    try:
        yield
    finally:
        for bn, training, momentum, tracked in saved:
            bn.train(training)
            bn.momentum = momentum
            bn.num_batches_tracked.copy_(tracked)


class KernelReducer(nn.Module):
    """Turns a conv weight (out, in, k, k) into an (out, in) image: one feature row per filter.

    A k x k conv to `hidden` channels, with 3 `stages` a 1x1 conv at that width (the release's),
    then a 1x1 conv back to `in` channels; each with BatchNorm and ReLU."""

    def __init__(self, in_channels: int, kernel_size: int, stages: int = 2):
        super().__init__()
        if stages not in (2, 3):
            raise ConfigError(f"a kernel reducer has 2 or 3 stages, not {stages}")
        hidden = max(16, 2 * in_channels)
        self.reduce = conv_bn_relu(in_channels, hidden, kernel=kernel_size, padding=0)
        if stages == 3:
            self.middle = conv_bn_relu(hidden, hidden, kernel=1, padding=0)
        self.expand = conv_bn_relu(hidden, in_channels, kernel=1, padding=0)

    @property
    def stages(self) -> int:
        return 3 if hasattr(self, "middle") else 2

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        x = self.reduce(weight)
        if self.stages == 3:
            x = self.middle(x)
        return self.expand(x).flatten(1)


def _read_old_gate_keys(state_dict, prefix, *args) -> None:
    """Checkpoints written before the gate had its own name stored it under `switcher.`."""
    for key in [k for k in state_dict if k.startswith(prefix + "switcher.")]:
        state_dict[prefix + "gate." + key[len(prefix + "switcher."):]] = state_dict.pop(key)


class GatedLayer(nn.Module):
    """Shared gate logic: switcher on/off, the gate cache and the two BatchNorm modes."""

    weight: nn.Parameter
    gate: Gate | None  # the switcher or one of its peers (snn_edu.gates); None when ungated

    def __init__(self, strategy: str):
        super().__init__()
        if strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        self.strategy = strategy
        self.gated = True
        self.gate_stats = "running"
        self.switcher_input = "weights"
        self.precision = "fp32"  # the switcher's: fp32, bf16 or fp16 (see snn_edu.precision)
        self.register_buffer("fixed_gate", None)
        self._cached_gate: torch.Tensor | None = None
        self._register_load_state_dict_pre_hook(_read_old_gate_keys)

    @property
    def active(self) -> bool:
        """True when the layer is switched on and has a switcher or a fixed gate."""
        return self.gated and (self.gate is not None or self.fixed_gate is not None)

    def set_fixed_gate(self, gate: torch.Tensor | None) -> None:
        """Use a constant gate (a pruning mask, say) instead of the switcher's; None removes it."""
        self.fixed_gate = None if gate is None else gate.detach().to(self.weight.device, self.weight.dtype)

    def set_switcher_input(self, kind: str, seed: int = 0) -> None:
        """What the switcher reads: 'weights' (the method), or a control: 'shuffled' (the weights
        under a fixed random permutation), 'noise' (fixed Gaussian noise at the weights' current
        scale) or 'constant' (zeros)."""
        if kind not in SWITCHER_INPUTS:
            raise ConfigError(f"unknown switcher input {kind!r}; choose one of {', '.join(SWITCHER_INPUTS)}")
        self.switcher_input = kind
        gen = torch.Generator().manual_seed(seed)
        if kind == "shuffled":
            self.register_buffer("input_permutation", torch.randperm(self.weight.numel(), generator=gen))
        elif kind == "noise":
            self.register_buffer("input_noise", torch.randn(self.weight.shape, generator=gen))

    def switcher_source(self) -> torch.Tensor:
        """The weight tensor as the switcher is fed it (see set_switcher_input)."""
        w = self.weight
        if self.switcher_input == "shuffled":
            return w.flatten()[self.input_permutation].view_as(w)
        if self.switcher_input == "noise":
            return self.input_noise * w.detach().std()
        if self.switcher_input == "constant":
            return torch.zeros_like(w)
        return w

    def switcher_image(self) -> torch.Tensor:
        """The 2-d image the switcher's U-Net reads."""
        return self.switcher_source()

    @property
    def reads_weights(self) -> bool:
        """True for the switcher (a U-Net reading the weights); False for the peers (direct, L0, BC-GNJ)."""
        return self.gate is None or self.gate.reads_weights

    def switch(self) -> torch.Tensor:
        """The switcher's output for the current weights, in the layer's precision; the gate's
        values are returned in the weight's dtype (fp32). Gates that read no weights just answer."""
        if not self.reads_weights:
            return self.gate()
        with numeric.autocast(self.precision, self.weight.device):
            gate = self.gate(self.switcher_image())
        return gate.to(self.weight.dtype)

    def compute_gate(self) -> torch.Tensor:
        """The gate from the current weights, honouring the module's train/eval mode."""
        if self.fixed_gate is not None:
            return self.fixed_gate
        if not self.training and self.gate_stats == "image":
            with batchnorm_image_stats(self.gate):
                return self.switch()
        return self.switch()

    def gate_in_mode(self, mode: str) -> torch.Tensor:
        """The gate as training ('train': BatchNorm over this image) or evaluation ('eval':
        the gate evaluation uses) computes it, without grad and without changing any state.
        Gates without BatchNorm give their evaluation gate in both modes (for L0: not a sample)."""
        if mode not in ("train", "eval"):
            raise ConfigError(f"gate mode must be 'train' or 'eval', got {mode!r}")
        with torch.no_grad():
            if mode == "train" and self.fixed_gate is None and self.reads_weights:
                with batchnorm_image_stats(self.gate):
                    return self.switch()
            was_training = self.training
            self.eval()
            try:
                return self.compute_gate()
            finally:
                self.train(was_training)

    def current_gate(self) -> torch.Tensor:
        """The cached gate when evaluation has frozen one, else a fresh one."""
        return self._cached_gate if self._cached_gate is not None else self.compute_gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.gated and self.fixed_gate is None and self.gate is not None \
                and self.gate.samples_output:
            return self.sampled_output(x, self.gate.sample(x.shape[0]), self.gate.weight_variance())
        return self.apply_weight(x, self.current_gate() if self.active else None)

    def sampled_output(self, x: torch.Tensor, z: torch.Tensor, weight_var: torch.Tensor) -> torch.Tensor:
        """BC-GNJ in training: one output drawn per example, from per-example unit scales `z`
        and the weights' variances (the local reparameterisation trick)."""
        raise NotImplementedError

    def effective_weight(self, gate: torch.Tensor | None) -> torch.Tensor:
        """The weight with the gate folded in (for compact models and connection gates)."""
        raise NotImplementedError

    def apply_weight(self, x: torch.Tensor, gate: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


def make_gate(kind: str, switcher, shape: tuple[int, int], head: str, group_size: int, droprate_init: float,
              build_switcher, weight_shape: tuple[int, ...] = (), clip_var: float | None = None) -> nn.Module | None:
    """The module that gates a layer: the switcher (`build_switcher(head, spec)`), a direct gate,
    an L0 gate or a BC-GNJ gate, one per unit (neuron strategy) or per connection (not BC); None
    without a switcher spec."""
    if kind not in GATE_KINDS:
        raise ConfigError(f"unknown gate {kind!r}; choose one of {', '.join(GATE_KINDS)}")
    if switcher is None:
        return None
    spec = GATE_KINDS[kind]
    if spec.has_switcher:
        return build_switcher(head, switcher)
    if head != "rows" and not spec.gates_connections:
        raise ConfigError(f"{spec.label} gates units (neuron strategy), not single connections")
    units = shape[:1] if head == "rows" else shape
    return spec.build(units, group_size if head == "rows" else 1, droprate_init, weight_shape, clip_var)


class GatedLinear(GatedLayer):
    """y = (x * g) @ W (neuron: one gate per input feature) or x @ (W * G) (connection).

    The weight is stored as (in, out), the image the switcher reads. `init_std=None` uses
    PyTorch's default uniform(+-1/sqrt(in)); the release's MLP uses N(0, 0.01). `bias=True`
    adds an ungated bias per output (the heads of torchvision's classifiers have one).
    """

    family = "fc"  # which joint switcher reads it (snn_edu.joint)

    def __init__(self, in_features: int, out_features: int, strategy: str = "neuron",
                 switcher: str | SwitcherSpec | None = "paper", init_std: float | None = 0.01,
                 gate: str = "switcher", droprate_init: float = 0.5, clip_var: float | None = None,
                 bias: bool = False):
        super().__init__(strategy)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        if init_std is None:
            bound = 1 / math.sqrt(in_features)
            nn.init.uniform_(self.weight, -bound, bound)
        else:
            nn.init.normal_(self.weight, 0.0, init_std)
        head = "rows" if strategy == "neuron" else "map"
        self.gate = make_gate(gate, switcher, (in_features, out_features), head, out_features, droprate_init,
                                  lambda head, spec: Switcher((in_features, out_features), head, spec),
                                  self.weight.shape, clip_var)

    def effective_weight(self, gate):
        if gate is None:
            return self.weight
        return self.weight * (gate[:, None] if self.strategy == "neuron" else gate)

    def apply_weight(self, x, gate):
        if x.shape[-1] != self.in_features:
            raise ConfigError(f"layer expects {self.in_features} input features, got {x.shape[-1]}")
        if gate is not None and self.strategy == "neuron":
            out = (x * gate) @ self.weight
        else:
            out = x @ self.effective_weight(gate)
        return out if self.bias is None else out + self.bias

    def sampled_output(self, x, z, weight_var):
        xz = x * z
        mean, var = xz @ self.weight, xz.pow(2) @ weight_var
        out = mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)
        return out if self.bias is None else out + self.bias

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, strategy={self.strategy}"
                + (", bias=True" if self.bias is not None else ""))


class ConvSwitcher(Gate):
    """Kernel reducer followed by the U-Net: conv weight -> (out,) or (out, in) gates."""

    def __init__(self, out_channels, in_channels, kernel_size, head, spec):
        super().__init__()
        self.unet = Switcher((out_channels, in_channels), head, spec)
        self.reducer = KernelReducer(in_channels, kernel_size, self.unet.spec.reducer_stages)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.unet(image)


class GatedConv2d(GatedLayer):
    """Conv whose output filters (neuron) or filter slices (connection) are gated; bias-free
    unless asked (the bias of a pruned filter is gated with it). `groups` is 1 or, for a
    depthwise conv, its channel count (each filter then reads one input channel)."""

    family = "conv"  # which joint switcher reads it (snn_edu.joint)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, strategy: str = "neuron",
                 switcher: str | SwitcherSpec | None = "paper", gate: str = "switcher", droprate_init: float = 0.5,
                 stride: int = 1, padding: int = 0, bias: bool = False, groups: int = 1):
        super().__init__(strategy)
        if groups != 1 and not groups == in_channels == out_channels:
            raise ConfigError(f"a gated conv has groups 1 or depthwise groups ({in_channels} in and out), not {groups}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.groups = stride, padding, groups
        fan_in = in_channels // groups  # the input channels each filter reads
        self.weight = nn.Parameter(torch.empty(out_channels, fan_in, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # PyTorch's Conv2d default
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        head = "rows" if strategy == "neuron" else "map"
        self.gate = make_gate(gate, switcher, (out_channels, fan_in), head, fan_in * kernel_size ** 2,
                                  droprate_init,
                                  lambda head, spec: ConvSwitcher(out_channels, fan_in, kernel_size, head, spec),
                                  self.weight.shape)

        self.norm: nn.Module | None = None  # a BatchNorm2d applied before the gate (see gate_after_norm)

    def gate_after_norm(self, norm: nn.BatchNorm2d) -> None:
        """Take in the BatchNorm2d that follows this conv and gate after it, as network slimming's
        scaling factors do: a pruned filter then outputs exactly 0, not BatchNorm's shift."""
        if self.strategy != "neuron" or (self.gate is not None and self.gate.samples_output):
            raise ConfigError("a gate after BatchNorm needs neuron gates that do not draw the output (not connection "
                              "gates, not BC-GNJ)")
        if norm.num_features != self.out_channels:
            raise ConfigError(f"BatchNorm2d over {norm.num_features} channels cannot follow a conv of "
                              f"{self.out_channels} filters")
        self.norm = norm

    def switcher_image(self):
        return self.gate.reducer(self.switcher_source())

    def effective_weight(self, gate):
        if gate is None:
            return self.weight
        return self.weight * (gate[:, None, None, None] if self.strategy == "neuron" else gate[:, :, None, None])

    def effective_bias(self, gate):
        """The bias with a neuron gate folded in (None without a bias)."""
        if self.bias is None or gate is None or self.strategy != "neuron":
            return self.bias
        return self.bias * gate

    def apply_weight(self, x, gate):
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ConfigError(f"conv layer expects (N, {self.in_channels}, H, W) input, got {tuple(x.shape)}")
        if self.norm is not None:  # conv, BatchNorm, then the gate
            y = self.norm(F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups))
            return y if gate is None else y * gate[None, :, None, None]
        return F.conv2d(x, self.effective_weight(gate), self.effective_bias(gate), self.stride, self.padding, 1,
                        self.groups)

    def sampled_output(self, x, z, weight_var):
        conv = lambda inp, w: F.conv2d(inp, w, None, self.stride, self.padding, 1, self.groups)  # noqa: E731
        z = z[:, :, None, None]
        mean, var = conv(x, self.weight) * z, conv(x.pow(2), weight_var) * z.pow(2)
        out = mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)
        return out if self.bias is None else out + self.bias[:, None, None] * z

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, strategy={self.strategy}"
                + (f", stride={self.stride}" if self.stride != 1 else "")
                + (f", padding={self.padding}" if self.padding else "") + (", bias=True" if self.bias is not None else "")
                + (f", groups={self.groups}" if self.groups != 1 else ""))


@contextmanager
def cached_gates(model: nn.Module):
    """Compute every active layer's gate once (no grad) and reuse it until the block ends.

    Yields {layer name: gate}. Exact whenever the weights do not change inside the block,
    since the gate depends on the weights only.
    """
    layers = {name: m for name, m in model.named_modules() if isinstance(m, GatedLayer) and m.active}
    with torch.no_grad():
        for layer in layers.values():
            layer._cached_gate = layer.compute_gate()
    try:
        yield {name: layer._cached_gate for name, layer in layers.items()}
    finally:
        for layer in layers.values():
            layer._cached_gate = None
