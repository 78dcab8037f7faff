"""The switcher network (SNN): a U-Net that reads a weight matrix as an image and outputs gates."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from .errors import ConfigError
from .gates import Gate

HEADS = ("rows", "map")
PRESETS = ("paper", "lite", "release")


@dataclass(frozen=True)
class SwitcherSpec:
    """Channel widths per U-Net level (one pool between levels), the row-head width, the pooling
    window (2, 2), or (2, 1) for a one-column image, and the stages of a conv layer's kernel
    reducer (2, or the release's 3)."""

    widths: tuple[int, ...]
    row_channels: int = 32
    pool: tuple[int, int] = (2, 2)
    reducer_stages: int = 2

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


def switcher_spec(preset: str, shape: tuple[int, int]) -> SwitcherSpec:
    """The spec a preset uses for a weight image of `shape`.

    `paper`: the release's widths: 8..256 (5 pools) for a large image such as the
    784x300 layer, 8..128 (4 pools) otherwise, and a 32-channel row head.
    `lite`: 4, 8, 16 (2 pools) and an 8-channel row head, far cheaper at full resolution.
    `release`: `paper`, as the release builds it for LeNet5's convs too: a one-column image
    (conv1's 20 x 1) gets widths 8..64 with (2, 1) pooling, and kernel reducers have 3 stages.
    """
    if preset == "release":
        if shape[1] == 1:
            return SwitcherSpec((8, 16, 32, 64), 32, pool=(2, 1), reducer_stages=3)
        return SwitcherSpec(switcher_spec("paper", shape).widths, 32, reducer_stages=3)
    if preset == "paper":
        large = shape[0] * shape[1] >= 2**17
        return SwitcherSpec((8, 16, 32, 64, 128, 256) if large else (8, 16, 32, 64, 128), 32)
    if preset == "lite":
        return SwitcherSpec((4, 8, 16), 8)
    raise ConfigError(f"unknown switcher preset {preset!r}; choose one of {', '.join(PRESETS)}")


class _InputGradAsConv(torch.autograd.Function):
    """conv2d (stride 1, square kernel) whose input gradient is a forward convolution with the
    flipped, transposed kernel: the same sum, computed by the CPU's fast forward kernels.

    Under autocast it computes in the autocast dtype, as F.conv2d would, and returns each
    gradient in its input's dtype."""

    @staticmethod
    def forward(ctx, x, weight, padding):
        ctx.dtypes = (x.dtype, weight.dtype)
        if torch.is_autocast_enabled("cpu"):
            dtype = torch.get_autocast_dtype("cpu")
            x, weight = x.to(dtype), weight.to(dtype)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight)
        ctx.padding = padding
        with torch.autocast("cpu", enabled=False):
            return F.conv2d(x, weight, padding=padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.to(weight.dtype)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            flipped = weight.transpose(0, 1).flip(2, 3)
            grad_x = F.conv2d(grad, flipped, padding=weight.shape[-1] - 1 - ctx.padding).to(ctx.dtypes[0])
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                grad, x, weight, None, [1, 1], [ctx.padding] * 2, [1, 1], False, [0, 0], 1,
                [False, True, False])[1].to(ctx.dtypes[1])
        return grad_x, grad_w, None


class SwitcherConv(nn.Conv2d):
    """nn.Conv2d (stride 1, square kernel, no bias) with a faster exact backward on CPUs.

    `fast = False` computes with the stock module, as the authors' release does.
    """

    fast = True

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int):
        super().__init__(c_in, c_out, kernel, padding=padding, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast and x.device.type == "cpu" and torch.is_grad_enabled():
            return _InputGradAsConv.apply(x, self.weight, self.padding[0])
        return super().forward(x)


def conv_bn_relu(c_in: int, c_out: int, kernel=3, padding=1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU, the switcher's building block."""
    return nn.Sequential(SwitcherConv(c_in, c_out, kernel, padding), nn.BatchNorm2d(c_out), nn.ReLU())


class RowConv(nn.Conv2d):
    """Conv2d with a (1, W) kernel over one (1, 1, H, W) image, computed as one matmul;
    `fast = False` computes with the stock module."""

    fast = True

    def __init__(self, c_out: int, width: int):
        super().__init__(1, c_out, (1, width), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast:
            return super().forward(x)
        return (x[0, 0] @ self.weight.flatten(1).t()).t()[None, :, :, None]


def use_fast_kernels(module: nn.Module, enabled: bool = True) -> None:
    """Switch every switcher in `module` between its fast exact kernels (the default) and the
    stock PyTorch modules the authors' release uses (the benchmark's reference)."""
    for m in module.modules():
        if isinstance(m, (SwitcherConv, RowConv, Switcher)):
            m.fast = enabled


def _format(x: torch.Tensor) -> torch.memory_format:
    """The memory format of a multi-channel map `x` (a one-channel map counts as contiguous)."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1 \
        else torch.contiguous_format


def _max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """MaxPool2d(2) as the maximum of the four strided sub-images: the same values (inference only)."""
    return torch.maximum(torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]),
                         torch.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]))


def _max_pool2x1(x: torch.Tensor) -> torch.Tensor:
    """MaxPool2d((2, 1)) as the maximum of the two row-strided sub-images (inference only)."""
    return torch.maximum(x[:, :, 0::2], x[:, :, 1::2])


def _run_block(block: nn.Sequential, *parts: torch.Tensor, fold: bool = False) -> torch.Tensor:
    """conv -> BatchNorm -> ReLU over the channel concatenation of `parts`.

    `fold=True` (inference, BatchNorm on its running statistics): the BatchNorm is folded into
    the conv, and the conv over the concatenation is summed from one conv per part.
    """
    if not fold:
        return block(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
    conv, bn = block[0], block[1]
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    if isinstance(conv, nn.ConvTranspose2d):
        weight = (conv.weight * scale[None, :, None, None]).contiguous(memory_format=_format(parts[0]))
        return F.conv_transpose2d(parts[0], weight, shift, stride=conv.stride).clamp_min_(0)
    weight = conv.weight * scale[:, None, None, None]
    out, start = None, 0
    for x in parts:
        w = weight[:, start:start + x.shape[1]].contiguous(memory_format=_format(x))
        y = F.conv2d(x, w, shift if out is None else None, padding=conv.padding)
        out = y if out is None else out.add_(y)
        start += x.shape[1]
    return out.clamp_min_(0)


class Up(nn.Module):
    """Decoder level: `up` (transposed conv x2) and `fuse` (a conv over [upsampled, skip]);
    the Switcher runs them."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int] = (2, 2)):
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose2d(c_in, c_out, pool, stride=pool, bias=False),
                                nn.BatchNorm2d(c_out), nn.ReLU())
        self.fuse = conv_bn_relu(2 * c_out, c_out)


def row_head(row_channels: int, width: int) -> nn.Sequential:
    """The rows head: a (1, width) conv over a one-channel (1, 1, H, width) map, BatchNorm, ReLU,
    then a 1x1 conv to one channel: one non-negative gate per row."""
    return nn.Sequential(nn.Sequential(RowConv(row_channels, width), nn.BatchNorm2d(row_channels), nn.ReLU()),
                         conv_bn_relu(row_channels, 1, kernel=1, padding=0))


class Switcher(Gate):
    """U-Net over a (H, W) weight image; non-negative gates of shape (H,) ('rows') or (H, W) ('map').

    Any H and W work: the image is zero-padded to a multiple of 2**depth and the output
    cropped back, so no kernel sizes are tuned per layer. Without grad and with every
    BatchNorm on its running statistics (evaluation), each BatchNorm is folded into its conv
    and the maps are kept channels-last: the same function, computed faster. With `channels`
    > 1 (a joint switcher, snn_edu.joint) it reads a (channels, H, W) image and its 'map' head
    gives (channels, H, W) maps.
    """

    fast = True

    def __init__(self, shape: tuple[int, int], head: str = "rows", spec: SwitcherSpec | str = "paper",
                 channels: int = 1):
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"unknown switcher head {head!r}; choose one of {', '.join(HEADS)}")
        if len(shape) != 2 or min(shape) < 1:
            raise ConfigError(f"switcher needs a 2-d weight image shape, got {tuple(shape)}")
        if head == "rows" and shape[0] < 2:
            raise ConfigError("a rows switcher needs at least 2 rows: its BatchNorm normalises over them")
        if head == "rows" and channels != 1:
            raise ConfigError("a switcher with several channels gives maps (head 'map'); each layer adds its row head")
        self.shape = tuple(int(s) for s in shape)
        self.head = head
        self.channels = channels
        self.spec = switcher_spec(spec, self.shape) if isinstance(spec, str) else spec
        w = self.spec.widths
        self.down = nn.ModuleList(conv_bn_relu(c_in, c_out) for c_in, c_out in zip((channels,) + w[:-1], w))
        self.pool = nn.MaxPool2d(self.spec.pool)
        self.up = nn.ModuleList(Up(w[i + 1], w[i], self.spec.pool) for i in reversed(range(self.spec.depth)))
        self.out = conv_bn_relu(w[0], channels)
        if head == "rows":
            self.rows = row_head(self.spec.row_channels, self.shape[1])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def start_open(self, scale: float = 0.0) -> None:
        """Make the gates start at 1: the last BatchNorm before the output ReLU gets shift 1 and
        scale `scale` (0: every gate exactly 1, as residual networks zero their blocks' last scale;
        a small scale: gates spread around 1, so that the switcher's convs get gradients at once),
        so that switching the gates on leaves the TNN about as it was."""
        last = self.rows[-1][1] if self.head == "rows" else self.out[1]
        with torch.no_grad():
            last.weight.fill_(scale)
            last.bias.fill_(1.0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        expected = self.shape if self.channels == 1 else (self.channels, *self.shape)
        if image.shape != expected:
            raise ConfigError(f"switcher built for a {expected} weight image got {tuple(image.shape)}")
        h, w = self.shape
        m, m_w = (p**self.spec.depth for p in self.spec.pool)
        # pad to a multiple of the pooling, with at least two rows at the bottom level (BatchNorm)
        pad_h = max(-h % m, 2 * m - h)
        x = F.pad(image[None, None] if self.channels == 1 else image[None], (0, -w % m_w, 0, pad_h))
        fold = self.fast and not torch.is_grad_enabled() and not any(
            bn.training for bn in self.modules() if isinstance(bn, nn.BatchNorm2d))
        pool = (_max_pool2x2 if self.spec.pool == (2, 2) else _max_pool2x1) if fold else self.pool
        skips = []
        for i, down in enumerate(self.down):
            x = _run_block(down, x if i == 0 else pool(x), fold=fold)
            if fold and i == 0:
                x = x.contiguous(memory_format=torch.channels_last)
            skips.append(x)
        for up, skip in zip(self.up, reversed(skips[:-1])):
            x = _run_block(up.fuse, _run_block(up.up, x, fold=fold), skip, fold=fold)
        x = _run_block(self.out, x, fold=fold)[:, :, :h, :w]
        if self.head == "rows":
            return self.rows(x).reshape(h)
        return x.reshape(h, w) if self.channels == 1 else x[0]
