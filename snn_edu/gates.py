"""The one gate interface, and the switcher's peers: gates learned without a U-Net.

Every gate (the switcher's U-Net, `direct`, `l0`, `bc`) is a `Gate`: it reads the layer's
weights or not (`reads_weights`), gives its gate (a sample in training where it is stochastic,
its deterministic gate in evaluation), adds a `penalty` to the cross-entropy or not, may draw
the layer's output itself in training (`samples_output`, BC-GNJ's local reparameterisation),
and may tidy its parameters `after_step`. Layers and models ask these, never the gate's class.

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

`bc`: Bayesian compression with group normal-Jeffreys priors (BC-GNJ; Louizos, Ullrich and
Welling, NIPS 2017), trained jointly with the TNN on cross-entropy + KL / N. Facts from the paper
and the authors' tutorial code: a Gaussian scale z per unit, q(z) = N(z_mu, z_var), z_mu
initialised N(1, 0.01) and log z_var N(-9, 0.01); a Gaussian posterior per weight whose mean is
the layer's weight and whose log variance starts at N(-9, 0.01) (the MLP's first layer clips that
variance at 0.04); in training, z is drawn per example and the layer's output is sampled with the
local reparameterisation trick; KL(q(z)||p(z)) by Molchanov et al.'s approximation in
log alpha = log z_var - log z_mu^2, KL(q(w|z)||p(w|z)) in closed form; a unit is pruned when
log alpha >= a threshold (the authors pick one per layer by hand; -3 here for every layer), and
evaluation and counting use the deterministic gate z_mu (0 where pruned).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .glossary import name

LIMIT_LOW, LIMIT_HIGH = -0.1, 1.1   # the hard concrete's stretch
TEMPERATURE = 2 / 3
EPSILON = 1e-6
LOG_ALPHA_RANGE = (math.log(1e-2), math.log(1e2))


class Gate(nn.Module):
    """What every gate answers; the defaults are the switcher's (reads the weights, trained on
    the cross-entropy alone, nothing to do after a step)."""

    reads_weights = True
    samples_output = False  # True: in training the layer asks `sample(batch)` for per-example unit
    #                         scales and `weight_variance()` for its weights' variances
    uses_lambda = False     # True: `penalty` is scaled by the layer's --l0-lambda
    # A weight-reading conv gate also has `reducer(weight) -> image`: the layer's (out, in, k, k)
    # kernels as the one image it reads (a submodule or a method, hence declared, not defined, here).
    reducer: Callable[[torch.Tensor], torch.Tensor]

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        """The gate: one value per unit (or per connection). `image` is what a gate that reads the
        weights (`reads_weights`) reads; the others ignore it."""
        raise NotImplementedError

    def deterministic(self) -> torch.Tensor:
        """The gate without noise, which evaluation and counting read (gates that read no weights)."""
        return self.forward()

    def sample(self, batch: int) -> torch.Tensor:
        """Per-example unit scales, (batch, units), for a gate that draws the layer's output (`samples_output`)."""
        raise NotImplementedError(f"{type(self).__name__} does not draw the layer's output")

    def weight_variance(self) -> torch.Tensor:
        """The variance of each of the layer's weights (`samples_output` gates)."""
        raise NotImplementedError(f"{type(self).__name__} does not draw the layer's output")

    def penalty(self, weight: torch.Tensor, lam: float) -> torch.Tensor | None:
        """What the gate adds to the summed loss of the training set (divided by N by the
        model), or None."""
        return None

    def after_step(self) -> None:
        """Called after each optimiser step."""


class DirectGate(Gate):
    """relu(value), one value per unit (or per connection), initialised at 1."""

    reads_weights = False

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.value = nn.Parameter(torch.ones(shape))

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return F.relu(self.value)


class HardConcreteGate(Gate):
    """Hard-concrete gates z in [0, 1]: a sample per step in training, the deterministic gate in
    evaluation; `expected_l0()` is the expected number of non-zero weights they gate."""

    reads_weights = False
    uses_lambda = True

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

    def draw(self) -> torch.Tensor:
        """One draw of the stretched, clamped hard concrete (shared by the whole minibatch)."""
        u = torch.rand_like(self.log_alpha).clamp(EPSILON, 1 - EPSILON)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / TEMPERATURE)
        return (s * (LIMIT_HIGH - LIMIT_LOW) + LIMIT_LOW).clamp(0, 1)

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.draw() if self.training else self.deterministic()

    def nonzero_probability(self) -> torch.Tensor:
        """P(z != 0) per gate: sigmoid(log alpha - temperature * log(-low / high))."""
        return torch.sigmoid(self.log_alpha - TEMPERATURE * math.log(-LIMIT_LOW / LIMIT_HIGH))

    def expected_l0(self) -> torch.Tensor:
        return self.nonzero_probability().sum() * self.group_size

    def penalty(self, weight: torch.Tensor, lam: float) -> torch.Tensor:
        """lambda times the expected number of non-zero weights."""
        return lam * self.expected_l0()

    @torch.no_grad()
    def after_step(self) -> None:
        self.log_alpha.clamp_(*LOG_ALPHA_RANGE)


KL_K1, KL_K2, KL_K3 = 0.63576, 1.87320, 1.48695  # Molchanov et al. (2017), eq. 14
BC_THRESHOLD = -3.0  # prune a unit when log alpha >= this (dropout rate alpha / (1 + alpha) above 4.7 %)


class GroupNJGate(Gate):
    """BC-GNJ: a Gaussian scale per unit and a Gaussian posterior over the gated layer's weights
    (mean: the layer's weight; log variance: `weight_logvar`, here)."""

    reads_weights = False
    samples_output = True

    def __init__(self, units: tuple[int, ...], weight_shape: tuple[int, ...], clip_var: float | None = None,
                 threshold: float = BC_THRESHOLD):
        super().__init__()
        self.z_mu = nn.Parameter(torch.empty(units).normal_(1.0, 1e-2))
        self.z_logvar = nn.Parameter(torch.empty(units).normal_(-9.0, 1e-2))
        self.weight_logvar = nn.Parameter(torch.empty(weight_shape).normal_(-9.0, 1e-2))
        self.clip_var, self.threshold = clip_var, threshold

    def log_alpha(self) -> torch.Tensor:
        return self.z_logvar - torch.log(self.z_mu.pow(2) + 1e-8)

    def deterministic(self) -> torch.Tensor:
        """The test-time gate: z_mu where log alpha < threshold, else 0."""
        return self.z_mu * (self.log_alpha() < self.threshold).to(self.z_mu.dtype)

    def forward(self, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.deterministic()

    def weight_variance(self) -> torch.Tensor:
        """The variance of the posterior over each of the layer's weights."""
        return self.weight_logvar.exp()

    def sample(self, batch: int) -> torch.Tensor:
        """One draw of z per example: (batch, units)."""
        return self.z_mu + torch.randn(batch, *self.z_mu.shape, device=self.z_mu.device) * (0.5 * self.z_logvar).exp()

    def kl(self, weight: torch.Tensor) -> torch.Tensor:
        """KL(q(z) || p(z)) (approximate) + KL(q(w | z) || p(w | z)) for the layer's `weight`."""
        log_alpha = self.log_alpha()
        kl_z = -(KL_K1 * torch.sigmoid(KL_K2 + KL_K3 * log_alpha) - 0.5 * F.softplus(-log_alpha) - KL_K1).sum()
        lv = self.weight_logvar
        kl_w = (0.5 * (lv.exp() + weight.pow(2) - lv) - 0.5).sum()
        return kl_z + kl_w

    def penalty(self, weight: torch.Tensor, lam: float) -> torch.Tensor:
        """The KL divergence (lambda plays no part)."""
        return self.kl(weight)

    @torch.no_grad()
    def after_step(self) -> None:
        if self.clip_var is not None:
            self.weight_logvar.clamp_(max=math.log(self.clip_var))


# -- the registry of gate kinds ------------------------------------------------------------------
@dataclass(frozen=True)
class GateKind:
    """One kind of gate (`--gate`): its names, what it needs and how a layer builds it.

    `build(units, group_size, droprate_init, weight_shape, clip_var)` makes the gate of one
    layer (None for the switcher, which the layer builds from its switcher spec); `schedule` is
    the training schedule it defaults to (None: the config's); `describe` formats a recipe's
    words from a config dict ({switcher}, {lambdas}).
    """

    name: str
    label: str
    build: Callable | None = None
    has_switcher: bool = False
    gates_connections: bool = True
    schedule: str | None = None
    describe: str = ""
    called: str = ""  # its name inside a sentence ("the direct gate")
    model: str = ""   # the model it gates, as figures call it ("direct model")

    def recipe_words(self, config: dict) -> str:
        return self.describe.format(switcher=config.get("switcher"),
                                    lambdas=", ".join(map(str, config.get("l0_lambda", ()))))

    def reported_gate(self, gate_stats: str) -> str:
        """How metrics.json's accuracy and counts read this kind's gate."""
        return (f"eval mode (BatchNorm {gate_stats} statistics)" if self.has_switcher
                else f"eval mode ({self.name} gates' deterministic value)")


GATE_KINDS: dict[str, GateKind] = {k.name: k for k in (
    GateKind("switcher", "switcher", has_switcher=True, describe="switcher {switcher}", called="the switcher",
             model="switcher model"),
    GateKind("direct", "direct gate", build=lambda units, group, drop, shape, clip: DirectGate(units),
             describe="direct gates", called="the direct gate", model="direct model"),
    GateKind("l0", name("L0"), build=lambda units, group, drop, shape, clip: HardConcreteGate(units, group, drop),
             schedule="joint", describe=f"{name('L0')} gates (lambda {{lambdas}} / N)", called=name("L0"),
             model=f"{name('L0')} model"),
    GateKind("bc", name("BC-GNJ"), build=lambda units, group, drop, shape, clip: GroupNJGate(units, shape, clip),
             gates_connections=False, schedule="joint", describe=f"{name('BC-GNJ')} gates", called=name("BC-GNJ"),
             model=f"{name('BC-GNJ')} model"),
)}
GATES = tuple(GATE_KINDS)
