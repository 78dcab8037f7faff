"""Joint switchers (section 3.3 of the first paper): one switcher reads every FC layer's weights
at once (3.3.1) and one reads every conv layer's kernels at once (3.3.2), instead of one
switcher per layer (the authors' release, and `--switcher-scope layer`).

The paper leaves three things open; this module chooses them, here and nowhere else:

- **FC: padding and cropping.** Layer k's image is its weight as stored, (in_k, out_k): one row
  per input unit, the units its gates prune. Each image is zero-padded at the bottom and on the
  right to the largest in and out of the group, and the images are stacked as the U-Net's input
  channels. The U-Net has one output channel per layer; layer k's channel is cropped back to
  (in_k, out_k), so no gate belongs to a padded position. The padded zeros still enter the
  U-Net's convolutions and its BatchNorm statistics, so they shape every layer's gates.
- **FC: from maps to gates.** The cropped channel goes through layer k's own row head (a
  (1, out_k) conv over each row, as a per-layer switcher's head does): one gate per row, that is
  per input unit, as the per-layer switcher gives.
- **Conv: kernel features.** Each conv layer turns its kernels (out_k, in_k, k, k) into FEATURES
  numbers per filter by its own convolution over the whole kernel (+ BatchNorm + ReLU). The
  rows of all conv layers are concatenated in layer order into one (sum of out_k, FEATURES)
  image; one rows switcher reads it, and row r's gate gates the filter of row r.

Each gated layer keeps a `gate` (a JointView): counting, `compact()`, the gate history, the
widgets, checkpoints and resume see the same gated layers as before. The joint switcher is
computed once per change of any weight it reads or of its own parameters, and each layer takes
its share.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .gates import Gate
from .switcher import Switcher, SwitcherSpec, conv_bn_relu, row_head, switcher_spec

SCOPES = ("layer", "joint")
FEATURES = 16  # numbers per conv filter in the conv switcher's image


class JointSwitcher(nn.Module):
    """What the joint switchers share: the member layers (not registered: they are the model's),
    and the gates of all of them, computed at most once per state of what they depend on."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.members = list(layers)  # a plain list: the model owns the layers
        self._cache: tuple | None = None

    def image(self) -> torch.Tensor:
        """The one image the switcher reads."""
        raise NotImplementedError

    def compute(self) -> list[torch.Tensor]:
        """Every member layer's gate, in order."""
        raise NotImplementedError

    def _state(self) -> tuple:
        tensors = [layer.weight for layer in self.members] + list(self.parameters())
        modes = tuple(m.training for m in self.modules())
        return (torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), modes,
                tuple(id(t) for t in tensors), tuple(t._version for t in tensors))

    def gates(self) -> list[torch.Tensor]:
        state = self._state()
        if self._cache is None or self._cache[0] != state:
            self._cache = (state, self.compute())
        return self._cache[1]

    def __getstate__(self):  # copies and pickles never carry the cached gates (or their graph)
        return {**self.__dict__, "_cache": None}


class JointFC(JointSwitcher):
    """3.3.1: the FC layers' (in, out) weights, zero-padded to the largest and stacked as channels."""

    def __init__(self, layers: list[nn.Module], spec: str | SwitcherSpec):
        super().__init__(layers)
        self.shapes = [tuple(layer.weight.shape) for layer in layers]
        self.height, self.width = max(h for h, _ in self.shapes), max(w for _, w in self.shapes)
        self.unet = Switcher((self.height, self.width), "map", spec, channels=len(layers))
        self.heads = nn.ModuleList(row_head(self.unet.spec.row_channels, w) for _, w in self.shapes)

    def image(self) -> torch.Tensor:
        return torch.stack([F.pad(layer.switcher_source(), (0, self.width - w, 0, self.height - h))
                            for layer, (h, w) in zip(self.members, self.shapes)])

    def compute(self) -> list[torch.Tensor]:
        maps = self.unet(self.image())
        return [head(maps[k, :h, :w][None, None]).reshape(h)
                for k, (head, (h, w)) in enumerate(zip(self.heads, self.shapes))]


class JointConv(JointSwitcher):
    """3.3.2: each conv layer's kernels as FEATURES numbers per filter, the filters of all layers
    as the rows of one image."""

    def __init__(self, layers: list[nn.Module], spec: str | SwitcherSpec):
        super().__init__(layers)
        self.rows = [layer.weight.shape[0] for layer in layers]
        self.features = nn.ModuleList(conv_bn_relu(layer.weight.shape[1], FEATURES, kernel=layer.weight.shape[-1],
                                                   padding=0) for layer in layers)
        shape = (sum(self.rows), FEATURES)
        self.unet = Switcher(shape, "rows", switcher_spec(spec, shape) if isinstance(spec, str) else spec)

    def image(self) -> torch.Tensor:
        return torch.cat([f(layer.switcher_source()).flatten(1) for f, layer in zip(self.features, self.members)])

    def compute(self) -> list[torch.Tensor]:
        return list(self.unet(self.image()).split(self.rows))


class JointView(Gate):
    """A layer's gate under a joint switcher: its share of the joint switcher's output. The
    joint switcher is registered under every member's view (one module, shared)."""

    def __init__(self, joint: JointSwitcher, index: int):
        super().__init__()
        self.joint = joint
        self.index = index

    def reducer(self, weight: torch.Tensor) -> torch.Tensor:
        """What a conv layer's view shows as its switcher input: its kernels, one row per filter
        (the joint switcher computes its own features)."""
        return weight.flatten(1)

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.joint.gates()[self.index]


JOINTS = {"fc": JointFC, "conv": JointConv}  # a gated layer's `family` -> its joint switcher


def make_joint(model: nn.Module, spec: str | SwitcherSpec) -> dict[str, JointSwitcher]:
    """Give every gated layer of `model` its share of one joint switcher per family (FC, conv)
    instead of its own switcher; returns {family: joint switcher}."""
    layers = list(model.gated_layers().values())
    if any(layer.gate is None or not layer.gate.reads_weights or layer.strategy != "neuron"
           or layer.switcher_input != "weights" for layer in layers):
        raise ConfigError("--switcher-scope joint needs the switcher gate (--gate switcher), the neuron strategy "
                          "and the weights as the switcher's input")
    joints = {}
    for family, build in JOINTS.items():
        members = [layer for layer in layers if layer.family == family]
        if members:
            joints[family] = build(members, spec)
            for i, layer in enumerate(members):
                layer.gate = JointView(joints[family], i)
    return joints


def joint_images(model: nn.Module) -> dict[str, torch.Tensor]:
    """{family: the image its joint switcher reads}, on the CPU, for the notebooks."""
    joints = {}
    for layer in model.gated_layers().values():
        if isinstance(layer.gate, JointView):
            joints.setdefault(layer.family, layer.gate.joint)
    with torch.no_grad():
        return {family: joint.image().detach().cpu() for family, joint in joints.items()}
