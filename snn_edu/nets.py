"""The papers' other task networks (CIFAR-10/100, Mini-ImageNet) and switchers on any classifier.

`vgg-cov2` is a chain (two 3x3 convs of 64, a max-pool, FC 256-256-classes), gated in its FC
layers as the release does, or in every layer as the first paper says (`gate_convs=True`).
`vgg16`, `resnet18`, `resnet34` and `mobilenet-v1` are the common CIFAR versions (3x3 stems of
stride 1, no max-pool before the blocks) with the FC heads the papers report, gated there only:
VGG16 512-4096-4096-classes, ResNet 512-classes, MobileNetV1 1024-classes. Choices the papers
leave open, taken from the common CIFAR code: VGG16 with BatchNorm and dropout 0.5 in its head,
MobileNetV1's 13 depthwise-separable blocks with strides 1,2,1,2,1,2,1,1,1,1,1,2,1.

`gate_classifier(model, ...)` puts gates on the nn.Linear and nn.Conv2d layers of any PyTorch
classifier, keeping their trained weights.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from .analysis import ZERO_PRESERVING
from .errors import ConfigError
from .layers import GatedConv2d, GatedLayer, GatedLinear
from .models import GatedNet
from .switcher import SwitcherSpec

NETWORKS = ("vgg-cov2", "vgg16", "resnet18", "resnet34", "mobilenet-v1")
# the release's per-channel normalisation of CIFAR (values over 255)
CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
MOBILENET_BLOCKS = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)


class ImageInput(nn.Module):
    """Images (uint8 0-255, or float 0-1) -> float, normalised per channel; in training, with
    `augment`, a random crop after zero padding of 4 pixels and a random horizontal flip, drawn
    per image from torch's generator (so the run's seed fixes them)."""

    def __init__(self, channels: int, mean=None, std=None, augment: bool = True, pad: int = 4):
        super().__init__()
        mean = mean if mean is not None else (CIFAR_MEAN if channels == 3 else (0.0,))
        std = std if std is not None else (CIFAR_STD if channels == 3 else (1.0,))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.augment, self.pad = augment, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.training and self.augment:
            x = self._crop_and_flip(x)
        return (x - self.mean) / self.std

    def _crop_and_flip(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.pad
        padded = nn.functional.pad(x, (p, p, p, p))
        top = torch.randint(0, 2 * p + 1, (n,), device=x.device)
        left = torch.randint(0, 2 * p + 1, (n,), device=x.device)
        rows = (top[:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, :]
        flip = torch.rand(n, device=x.device) < 0.5
        cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
        batch = torch.arange(n, device=x.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()

    def extra_repr(self):
        return f"channels={self.mean.shape[1]}, augment={self.augment}"


def _init_paper(model: nn.Module) -> None:
    """The release's initialisation: Kaiming normal convs, FC weights N(0, 0.01), zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, GatedConv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.Linear, GatedLinear)):
            nn.init.normal_(m.weight, 0.0, 0.01)
        if isinstance(m, (nn.Conv2d, nn.Linear, GatedLayer)) and getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)


def init_fc(model: nn.Module, init_std: float | None) -> None:
    """Re-initialise every gated FC weight: N(0, init_std), or PyTorch's uniform(+-1/sqrt(in))
    when `init_std` is None (what --init sets for the papers' networks)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, GatedLinear):
                if init_std is None:
                    bound = 1 / math.sqrt(m.in_features)
                    nn.init.uniform_(m.weight, -bound, bound)
                else:
                    nn.init.normal_(m.weight, 0.0, init_std)


def vgg_cov2(in_shape=(3, 32, 32), classes: int = 10, strategy: str = "neuron",
             switcher: str | SwitcherSpec | None = "paper", gate: str = "switcher",
             gate_convs: bool = False) -> GatedNet:
    """conv3x3 64, conv3x3 64, max-pool 2, FC 256, 256, classes; FC input 64 x H/2 x W/2
    (16,384 on CIFAR, 12,544 on 28x28 digits)."""
    channels, height, width = in_shape

    def conv(n_in):
        if gate_convs:
            return GatedConv2d(n_in, 64, 3, strategy, switcher, gate, padding=1)
        return nn.Conv2d(n_in, 64, 3, padding=1, bias=False)

    fc_in = 64 * (height // 2) * (width // 2)
    net = GatedNet(OrderedDict([
        ("input", ImageInput(channels, augment=channels == 3)),
        ("conv1", conv(channels)), ("relu1", nn.ReLU()),
        ("conv2", conv(64)), ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
        ("fc1", GatedLinear(fc_in, 256, strategy, switcher, 0.01, gate)), ("relu3", nn.ReLU()),
        ("fc2", GatedLinear(256, 256, strategy, switcher, 0.01, gate)), ("relu4", nn.ReLU()),
        ("fc3", GatedLinear(256, classes, strategy, switcher, 0.01, gate)),
    ]))
    _init_paper(net)
    return net


def _cifar_resnet(depth: int, channels: int) -> nn.Module:
    """torchvision's ResNet18/34 with the CIFAR stem (3x3 conv of stride 1, no max-pool) and no
    FC layer: (N, C, H, W) -> (N, 512)."""
    import torchvision.models as tvm

    net = {18: tvm.resnet18, 34: tvm.resnet34}[depth](weights=None)
    net.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
    net.maxpool, net.fc = nn.Identity(), nn.Identity()
    return net


def _cifar_vgg16(channels: int) -> nn.Module:
    """torchvision's VGG16 with BatchNorm, its 13 convs and 5 pools, averaged to (N, 512)."""
    import torchvision.models as tvm

    features = tvm.vgg16_bn(weights=None).features
    if channels != 3:
        features[0] = nn.Conv2d(channels, 64, 3, padding=1)
    return nn.Sequential(OrderedDict([("convs", features), ("avgpool", nn.AdaptiveAvgPool2d(1)),
                                      ("flatten", nn.Flatten())]))


class DepthwiseSeparable(nn.Module):
    """MobileNetV1's block: depthwise 3x3 conv, BN, ReLU, pointwise 1x1 conv, BN, ReLU."""

    def __init__(self, n_in: int, n_out: int, stride: int):
        super().__init__()
        self.depthwise = nn.Conv2d(n_in, n_in, 3, stride, 1, groups=n_in, bias=False)
        self.bn1, self.relu1 = nn.BatchNorm2d(n_in), nn.ReLU()
        self.pointwise = nn.Conv2d(n_in, n_out, 1, bias=False)
        self.bn2, self.relu2 = nn.BatchNorm2d(n_out), nn.ReLU()

    def forward(self, x):
        return self.relu2(self.bn2(self.pointwise(self.relu1(self.bn1(self.depthwise(x))))))


def _cifar_mobilenet_v1(channels: int) -> nn.Module:
    """MobileNetV1 for 32x32 images: a 3x3 stem of 32 and stride 1, 13 blocks, average pool:
    (N, C, H, W) -> (N, 1024)."""
    layers: list[tuple[str, nn.Module]] = [("stem", nn.Conv2d(channels, 32, 3, 1, 1, bias=False)),
                                           ("stem_bn", nn.BatchNorm2d(32)), ("stem_relu", nn.ReLU())]
    n_in = 32
    for i, spec in enumerate(MOBILENET_BLOCKS, start=1):
        n_out, stride = spec if isinstance(spec, tuple) else (spec, 1)
        layers.append((f"block{i}", DepthwiseSeparable(n_in, n_out, stride)))
        n_in = n_out
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
    return nn.Sequential(OrderedDict(layers))


BACKBONES = {"vgg16": (_cifar_vgg16, (512, 4096, 4096)), "resnet18": (lambda c: _cifar_resnet(18, c), (512,)),
             "resnet34": (lambda c: _cifar_resnet(34, c), (512,)), "mobilenet-v1": (_cifar_mobilenet_v1, (1024,))}


def backbone_net(name: str, in_shape=(3, 32, 32), classes: int = 10, strategy: str = "neuron",
                 switcher: str | SwitcherSpec | None = "paper", gate: str = "switcher") -> GatedNet:
    """A CIFAR backbone (ungated) followed by its gated FC head; the classifier keeps a bias."""
    build, sizes = BACKBONES[name]
    layers: list[tuple[str, nn.Module]] = [("input", ImageInput(in_shape[0], augment=in_shape[0] == 3)),
                                           ("features", build(in_shape[0]))]
    sizes = (*sizes, classes)
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        if i > 1:
            layers += [(f"relu{i - 1}", nn.ReLU()), (f"drop{i - 1}", nn.Dropout(0.5))]
        last = i == len(sizes) - 1
        layers.append((f"fc{i}", GatedLinear(n_in, n_out, strategy, switcher, 0.01, gate, bias=last)))
    net = GatedNet(OrderedDict(layers))
    _init_paper(net)
    return net


def build_network(name: str, strategy: str = "neuron", switcher: str | SwitcherSpec | None = "paper",
                  gate: str = "switcher", in_shape=(3, 32, 32), classes: int = 10, gate_convs: bool = False) -> GatedNet:
    """One of NETWORKS by name, for images of `in_shape` (channels, height, width)."""
    if name == "vgg-cov2":
        return vgg_cov2(in_shape, classes, strategy, switcher, gate, gate_convs)
    if gate_convs:
        raise ConfigError(f"--gate-convs applies to vgg-cov2; {name} is gated in its FC layers, as in the papers")
    if name in BACKBONES:
        return backbone_net(name, in_shape, classes, strategy, switcher, gate)
    raise ConfigError(f"unknown network {name!r}; choose one of {', '.join(NETWORKS)}")


# -- switchers on any classifier --------------------------------------------------------------------
def _matches(name: str, wanted) -> bool:
    import fnmatch

    if wanted is True or wanted is False or not wanted:
        return wanted is True
    wanted = [wanted] if isinstance(wanted, str) else wanted
    return any(name == w or fnmatch.fnmatch(name, w) for w in wanted)


def gated_linear_from(linear: nn.Linear, strategy: str, switcher, gate: str) -> GatedLinear:
    """A GatedLinear carrying `linear`'s trained weight (stored transposed, (in, out)) and bias."""
    layer = GatedLinear(linear.in_features, linear.out_features, strategy, switcher, None, gate,
                        bias=linear.bias is not None)
    with torch.no_grad():
        layer.weight.copy_(linear.weight.t())
        if linear.bias is not None:
            layer.bias.copy_(linear.bias)
    return layer.to(linear.weight.device)


def gated_conv_from(conv: nn.Conv2d, strategy: str, switcher, gate: str, name: str) -> GatedConv2d:
    """A GatedConv2d carrying `conv`'s trained weight and bias (square kernels, ungrouped or
    depthwise)."""
    k, s, p = conv.kernel_size, conv.stride, conv.padding
    depthwise = conv.groups == conv.in_channels == conv.out_channels
    if (conv.groups != 1 and not depthwise) or k[0] != k[1] or s[0] != s[1] or not isinstance(p, tuple) \
            or p[0] != p[1] or conv.dilation != (1, 1):
        raise ConfigError(f"{name}: only square, undilated convs, ungrouped or depthwise, can be gated (got {conv})")
    layer = GatedConv2d(conv.in_channels, conv.out_channels, k[0], strategy, switcher, gate,
                        stride=s[0], padding=p[0], bias=conv.bias is not None, groups=conv.groups)
    with torch.no_grad():
        layer.weight.copy_(conv.weight)
        if conv.bias is not None:
            layer.bias.copy_(conv.bias)
    return layer.to(conv.weight.device)


def _in_chain(model: nn.Module, convs: list[str], linears: list[str], modules: dict) -> bool:
    """Whether gated convs `convs` are ungrouped direct layers of an nn.Sequential model, each
    followed up to the next gated layer by modules that keep a zero channel zero (the chain that
    counting follows without tracing)."""
    if not isinstance(model, nn.Sequential) or any("." in n or modules[n].groups != 1 for n in convs):
        return False
    names = [n for n, _ in model.named_children()]
    for conv in convs:
        for j, name in enumerate(names[names.index(conv) + 1:]):
            if name in convs or name in linears:
                break
            module = getattr(model, name)
            if not (isinstance(module, ZERO_PRESERVING) or (j == 0 and isinstance(module, nn.BatchNorm2d))):
                return False
    return True


def _example_shape(example, conv: str) -> tuple[int, ...]:
    if example is None:
        raise ConfigError(f"{conv}: gated convs outside a plain nn.Sequential need the input's shape to trace the "
                          "graph: gate_classifier(..., example=(3, 32, 32))")
    return tuple(example.shape[1:]) if isinstance(example, torch.Tensor) else tuple(example)


def gate_classifier(model: nn.Module, linear=True, conv=(), strategy: str = "neuron",
                    switcher: str | SwitcherSpec | None = "paper", gate: str = "switcher", example=None) -> GatedNet:
    """`model` with gates on its nn.Linear layers (`linear`: True for all, or names / glob
    patterns such as "fc" or "classifier.*") and on the nn.Conv2d layers named in `conv` (names
    or patterns such as "layer3.*"), keeping their trained weights. Returns a GatedNet: training
    phases, gate history, counting and compact() then work on it.

    Gated convs that are direct layers of an nn.Sequential are counted along that chain. Gated
    convs anywhere else (inside residual blocks, depthwise, before a concatenation) are counted
    through the traced graph (snn_edu.coupled), which needs `example`, the input's shape (C, H, W)
    or a batch. A gated conv whose output only a BatchNorm2d reads takes that BatchNorm in and
    gates after it (its place holds an nn.Identity), so that a pruned filter outputs 0."""
    modules = dict(model.named_modules())
    chosen_conv = [n for n, m in modules.items() if isinstance(m, nn.Conv2d) and conv and _matches(n, conv)]
    chosen_linear = [n for n, m in modules.items() if isinstance(m, nn.Linear) and _matches(n, linear)]
    if not chosen_linear and not chosen_conv:
        raise ConfigError(f"no layer of {type(model).__name__} matches linear={linear!r}, conv={conv!r}")
    chain = _in_chain(model, chosen_conv, chosen_linear, modules)
    shape = None if chain or not chosen_conv else _example_shape(example, chosen_conv[0])
    if shape is not None and strategy != "neuron":
        raise ConfigError(f"{chosen_conv[0]}: gated convs inside a graph take neuron gates (one per filter), "
                          f"not {strategy} gates")
    if chain:
        norm_after = {n: after for n in chosen_conv if (after := _sibling_after(model, n)) is not None}
    else:
        from .coupled import find_norm_after

        norm_after = find_norm_after(model, chosen_conv, shape) if chosen_conv else {}
    for name in chosen_linear + chosen_conv:
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        old = modules[name]
        new = (gated_linear_from(old, strategy, switcher, gate) if isinstance(old, nn.Linear)
               else gated_conv_from(old, strategy, switcher, gate, name))
        setattr(parent, child, new)
        if name in norm_after:
            norm_parent, _, norm_child = norm_after[name].rpartition(".")
            holder = modules[norm_parent] if norm_parent else model
            new.gate_after_norm(getattr(holder, norm_child))  # the gate moves after the BatchNorm, which it takes in
            setattr(holder, norm_child, nn.Identity())
    if chain and isinstance(model, nn.Sequential):
        return GatedNet(OrderedDict(model.named_children()))
    return GatedModule(model, shape)


def given_gates(model: GatedNet, closed: float = 1 / 3, seed: int = 0) -> None:
    """Fix every gated layer's gates at random, about `closed` of them 0 and the rest between 0.5
    and 1.5: a model to count and compact without training it."""
    generator = torch.Generator().manual_seed(seed)
    for layer in model.gated_layers().values():
        n = layer.out_channels if isinstance(layer, GatedConv2d) else layer.in_features
        gate = torch.rand(n, generator=generator) + 0.5
        gate[torch.rand(n, generator=generator) < closed] = 0
        layer.set_fixed_gate(gate)


def _sibling_after(model: nn.Sequential, name: str) -> str | None:
    """The BatchNorm2d right after layer `name` of a chain, if any."""
    names = [n for n, _ in model.named_children()]
    at = names.index(name)
    after = names[at + 1] if at + 1 < len(names) else None
    return after if after is not None and isinstance(getattr(model, after), nn.BatchNorm2d) else None


class GatedModule(GatedNet):
    """Any classifier with gated layers, as one GatedNet of a single child, `net`.

    With gated Linear layers only, counting and compact() treat them as one chain, in the order
    the module registers them; that holds for a single gated head (ResNet, MobileNet) and for a
    head of several Linear layers in one nn.Sequential (VGG). With gated convs, they follow the
    traced graph (`coupled`), from inputs of `example_shape`."""

    def __init__(self, net: nn.Module, example_shape: tuple[int, ...] | None = None):
        super().__init__(OrderedDict([("net", net)]))
        self.example_shape = example_shape

    @property
    def coupled(self) -> bool:
        """Whether counting follows the traced graph (gated convs) rather than a chain."""
        return any(isinstance(m, GatedConv2d) for m in self.gated_layers().values())

    def gated_layers(self) -> dict[str, GatedLayer]:
        return {name: m for name, m in self.named_modules() if isinstance(m, GatedLayer)}
