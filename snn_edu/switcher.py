"""The switcher network (SNN): a U-Net that reads a weight matrix as an image and outputs gates."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

HEADS = ("rows", "map")
PRESETS = ("paper", "lite")


@dataclass(frozen=True)
class SwitcherSpec:
    """Channel widths per U-Net level (one pool between levels) and the row-head width."""

    widths: tuple[int, ...]
    row_channels: int = 32

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


def switcher_spec(preset: str, shape: tuple[int, int]) -> SwitcherSpec:
    """The spec a preset uses for a weight image of `shape`.

    `paper`: the release's widths: 8..256 (5 pools) for a large image such as the
    784x300 layer, 8..128 (4 pools) otherwise, and a 32-channel row head.
    `lite`: 4, 8, 16 (2 pools) and an 8-channel row head, far cheaper at full resolution.
    """
    if preset == "paper":
        large = shape[0] * shape[1] >= 2**17
        return SwitcherSpec((8, 16, 32, 64, 128, 256) if large else (8, 16, 32, 64, 128), 32)
    if preset == "lite":
        return SwitcherSpec((4, 8, 16), 8)
    raise ConfigError(f"unknown switcher preset {preset!r}; choose one of {', '.join(PRESETS)}")


def conv_bn_relu(c_in: int, c_out: int, kernel=3, padding=1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU, the switcher's building block."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class Upsample2x(nn.ConvTranspose2d):
    """ConvTranspose2d(kernel 2, stride 2, no bias), computed as a 1x1 conv and a pixel shuffle.

    The 2x2 output blocks don't overlap, so this is the same sum; it is several times faster
    on CPUs. Parameters and state-dict keys are those of nn.ConvTranspose2d.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_in, c_out = self.weight.shape[:2]
        w = self.weight.permute(1, 2, 3, 0).reshape(c_out * 4, c_in, 1, 1)
        return F.pixel_shuffle(F.conv2d(x, w), 2)


class RowConv(nn.Conv2d):
    """Conv2d with a (1, W) kernel over one (1, 1, H, W) image, computed as one matmul."""

    def __init__(self, c_out: int, width: int):
        super().__init__(1, c_out, (1, width), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[0, 0] @ self.weight.flatten(1).t()).t()[None, :, :, None]


class Up(nn.Module):
    """Decoder level: transposed conv x2, then a conv over [upsampled, skip]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.up = nn.Sequential(
            Upsample2x(c_in, c_out),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )
        self.fuse = conv_bn_relu(2 * c_out, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.up(x), skip], dim=1))


class Switcher(nn.Module):
    """U-Net over a (H, W) weight image; non-negative gates of shape (H,) ('rows') or (H, W) ('map').

    Any H and W work: the image is zero-padded to a multiple of 2**depth and the output
    cropped back, so no kernel sizes are tuned per layer.
    """

    def __init__(self, shape: tuple[int, int], head: str = "rows", spec: SwitcherSpec | str = "paper"):
        super().__init__()
        if head not in HEADS:
            raise ConfigError(f"unknown switcher head {head!r}; choose one of {', '.join(HEADS)}")
        if len(shape) != 2 or min(shape) < 1:
            raise ConfigError(f"switcher needs a 2-d weight image shape, got {tuple(shape)}")
        if head == "rows" and shape[0] < 2:
            raise ConfigError("a rows switcher needs at least 2 rows: its BatchNorm normalises over them")
        self.shape = tuple(int(s) for s in shape)
        self.head = head
        self.spec = switcher_spec(spec, self.shape) if isinstance(spec, str) else spec
        w = self.spec.widths
        self.down = nn.ModuleList(conv_bn_relu(c_in, c_out) for c_in, c_out in zip((1,) + w[:-1], w))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(Up(w[i + 1], w[i]) for i in reversed(range(self.spec.depth)))
        self.out = conv_bn_relu(w[0], 1)
        if head == "rows":
            rc = self.spec.row_channels
            self.rows = nn.Sequential(
                nn.Sequential(RowConv(rc, self.shape[1]), nn.BatchNorm2d(rc), nn.ReLU()),
                conv_bn_relu(rc, 1, kernel=1, padding=0),
            )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape != self.shape:
            raise ConfigError(f"switcher built for a {self.shape} weight image got {tuple(image.shape)}")
        h, w = self.shape
        m = 2**self.spec.depth
        # pad to a multiple of 2**depth, with at least two rows at the bottom level (BatchNorm)
        pad_h = max(-h % m, 2 * m - h)
        x = F.pad(image[None, None], (0, -w % m, 0, pad_h))
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, skip in zip(self.up, reversed(skips[:-1])):
            x = up(x, skip)
        x = self.out(x)[:, :, :h, :w]
        if self.head == "rows":
            return self.rows(x).reshape(h)
        return x.reshape(h, w)
