"""The switcher's peers: gates learned without a U-Net, used by the same gated layers.

`direct`: one non-negative gate per unit, ReLU of a parameter that starts at 1; trained exactly
as the switcher is (same phases, cross-entropy only). It is the switcher with the U-Net removed.

`l0`: the hard-concrete gates of Louizos, Welling and Kingma (ICLR 2018), trained jointly with
the TNN under the expected-L0 penalty. Facts from the paper and the authors' code: stretch limits
(-0.1, 1.1), temperature 2/3, log alpha initialised at log(1 - d) - log(d) (std 0.01) for an
initial drop rate d (0.2 for the MLP's input layer, 0.5 elsewhere) and clamped to
[log 0.01, log 100] after every step; a unit's probability of being non-zero counts once per
weight it gates; the penalty is lambda / N times the expected number of non-zero weights (the
paper's lambda = 0.1/N is lambda 0.1 here); evaluation and counting use the deterministic gate
clamp(sigmoid(log alpha) * 1.2 - 0.1, 0, 1).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

GATES = ("switcher", "direct", "l0")
LIMIT_LOW, LIMIT_HIGH = -0.1, 1.1   # the hard concrete's stretch
TEMPERATURE = 2 / 3
EPSILON = 1e-6
LOG_ALPHA_RANGE = (math.log(1e-2), math.log(1e2))


class DirectGate(nn.Module):
    """relu(value), one value per unit (or per connection), initialised at 1."""

    reads_weights = False

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.value = nn.Parameter(torch.ones(shape))

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.value)


class HardConcreteGate(nn.Module):
    """Hard-concrete gates z in [0, 1]: a sample per step in training, the deterministic gate in
    evaluation; `expected_l0()` is the expected number of non-zero weights they gate."""

    reads_weights = False

    def __init__(self, shape: tuple[int, ...], group_size: int = 1, droprate_init: float = 0.5):
        super().__init__()
        if not 0 < droprate_init < 1:
            raise ValueError(f"droprate_init must lie in (0, 1), got {droprate_init}")
        self.group_size = group_size  # weights gated by each z (a unit's outgoing row or filter)
        self.log_alpha = nn.Parameter(torch.empty(shape))
        nn.init.normal_(self.log_alpha, math.log(1 - droprate_init) - math.log(droprate_init), 1e-2)

    def deterministic(self) -> torch.Tensor:
        """The test-time gate: clamp(sigmoid(log alpha) * (high - low) + low, 0, 1)."""
        return (torch.sigmoid(self.log_alpha) * (LIMIT_HIGH - LIMIT_LOW) + LIMIT_LOW).clamp(0, 1)

    def sample(self) -> torch.Tensor:
        """One draw of the stretched, clamped hard concrete (shared by the whole minibatch)."""
        u = torch.rand_like(self.log_alpha).clamp(EPSILON, 1 - EPSILON)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / TEMPERATURE)
        return (s * (LIMIT_HIGH - LIMIT_LOW) + LIMIT_LOW).clamp(0, 1)

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample() if self.training else self.deterministic()

    def nonzero_probability(self) -> torch.Tensor:
        """P(z != 0) per gate: sigmoid(log alpha - temperature * log(-low / high))."""
        return torch.sigmoid(self.log_alpha - TEMPERATURE * math.log(-LIMIT_LOW / LIMIT_HIGH))

    def expected_l0(self) -> torch.Tensor:
        return self.nonzero_probability().sum() * self.group_size

    @torch.no_grad()
    def after_step(self) -> None:
        self.log_alpha.clamp_(*LOG_ALPHA_RANGE)
