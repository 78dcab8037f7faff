"""Ranking criteria: one interface, one registry (as Torch-Pruning's `Importance`).

A criterion gives every gated layer's units one score each (higher = more important); the
frontier removes the lowest-ranked share of each layer. A new criterion is one class and one
line in `CRITERIA`; the frontier, its CSV, the pages and the legends read names and labels here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .attribution import kernel_l1, unit_conductance
from .errors import ConfigError


@dataclass(frozen=True)
class RankingInputs:
    """What a criterion may read besides the model: a sample of training digits (a TensorDataset),
    the seed, the model's own evaluation gates and conductance's integration steps."""

    sample: object = None
    seed: int = 0
    gates: dict[str, torch.Tensor] | None = None
    steps: int = 32


class Criterion:
    """Scores each gated layer's units of a model.

    `name`: the key in frontier.csv; `label`: what pages and legends call it; `sources`: the
    frontier models it ranks ("switcher": the switcher model with its gates folded, "dense");
    `peer_run`: the peer run it ranks by that run's own gate, if any.
    """

    name: str = ""
    label: str = ""
    sources: tuple[str, ...] = ("switcher", "dense")
    peer_run: str | None = None

    def scores(self, model, inputs: RankingInputs) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class OwnGate(Criterion):
    """The model's own evaluation-mode gate."""

    def __init__(self, name: str, label: str, sources: tuple[str, ...] = (), peer_run: str | None = None):
        self.name, self.label, self.sources, self.peer_run = name, label, sources, peer_run

    def scores(self, model, inputs):
        if inputs.gates is None:
            raise ConfigError(f"the {self.label} criterion needs the model's gates")
        return {name: inputs.gates[name].float().cpu() for name in model.gated_layers()}


class L1Norm(Criterion):
    """L1 norm of each unit's weights (magnitude pruning)."""

    name, label = "magnitude", "L1 norm"

    def scores(self, model, inputs):
        return {name: kernel_l1(layer) for name, layer in model.gated_layers().items()}


class Random(Criterion):
    """A random score per unit, seeded per layer."""

    name, label = "random", "random"

    def scores(self, model, inputs):
        return {name: torch.rand(layer.weight.shape[0], generator=torch.Generator().manual_seed(inputs.seed * 1000 + i))
                for i, (name, layer) in enumerate(model.gated_layers().items())}


class Conductance(Criterion):
    """captum's mean |conductance| of each unit over a sample of training digits."""

    name, label = "conductance", "conductance"

    def scores(self, model, inputs):
        x, y = inputs.sample.tensors
        return {name: unit_conductance(model, name, x, y, inputs.steps) for name in model.gated_layers()}


CRITERIA: dict[str, Criterion] = {c.name: c for c in (
    OwnGate("switcher", "switcher gate", sources=("switcher",)),
    L1Norm(),
    Random(),
    Conductance(),
    OwnGate("direct", "direct gate", peer_run="direct"),
    OwnGate("joint", "joint switcher gate", peer_run="joint"),
)}


def criterion(name: str) -> Criterion:
    """The registered criterion called `name`."""
    if name not in CRITERIA:
        raise ConfigError(f"unknown criterion {name!r}; choose one of {', '.join(CRITERIA)}")
    return CRITERIA[name]
