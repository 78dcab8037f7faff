"""The kinds of training run a study makes: one registry, beside the jobs (`snn_edu.study`).

Each variant carries its configuration overrides, a one-line description for the pages, its
label (dropdowns, figures), its name in a table beside the papers' rows, and its group: the
ablation (`ablation`), the switcher's peers (`peer`), or how many switchers read the weights
(`scope`). A new variant is one line here; the CLI's choices, the study's jobs, the pages and
the notebooks' pickers read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .glossary import name
from .training import TrainConfig

SNN, AL = name("SNN"), name("AL")  # the glossary's spelling, shared by every label below


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict = field(default_factory=dict)
    description: str = ""
    label: str = ""
    table_name: str = ""
    group: str = "ablation"
    scope_name: str = ""  # how the switchers' scope comparison names it (scopes), if it takes part

    def __post_init__(self):
        object.__setattr__(self, "label", self.label or self.name)
        object.__setattr__(self, "table_name", self.table_name or self.label)


# L0 trains with Adam as its authors do, at lr 0.01: their 1e-3 suits 200 epochs of 60,000 digits;
# in the cpu level's 8 epochs of 4,000 it moved no gate to 0 (lambda 0.1 to 10, measured).
# Measured at the cpu level (seed 0), params removed from lambda 0.0001 to 0.3: MLP 28 to 89 %
# (lambda 0 removes nothing: the border pixels fall as soon as anything pulls), LeNet5 0 to 96 %
# (its accuracy falls to 25 % at 0.3 and to chance at 1).
L0_LAMBDAS = (0.0001, 0.001, 0.01, 0.03, 0.05, 0.1, 0.3)
# L0 and BC-GNJ start gated from the first epoch, as their authors' code does (no warm-up, no KL annealing).
# BC-GNJ, like L0, moved no unit past its threshold at Adam's lr 1e-3 in the cpu level's 8 epochs (measured).
_JOINT_ADAM = {"schedule": "joint", "optimizer": "adam", "lr": 0.01, "warmup_epochs": 0}

REGISTRY: dict[str, Variant] = {v.name: v for v in (
    Variant("al", {}, "SNN-AL: switcher and TNN alternate by epoch (the method)", f"switcher ({SNN}-{AL})",
            scope_name=f"one switcher per layer ({SNN}-{AL})"),
    Variant("sl", {"schedule": "separate"}, "SNN-SL: TNN alone first, then the switcher alone on the frozen TNN",
            f"switcher ({SNN}-{name('SL')})"),
    Variant("dense", {"schedule": "dense"}, "dense baseline: no switcher", "dense baseline"),
    Variant("shuffled", {"switcher_input": "shuffled"}, "control: the switcher reads the weights shuffled",
            "control: shuffled weights"),
    Variant("noise", {"switcher_input": "noise"}, "control: the switcher reads Gaussian noise of the weights' scale",
            "control: noise"),
    Variant("constant", {"switcher_input": "constant"}, "control: the switcher reads a constant image",
            "control: constant image"),
    Variant("connection", {"strategy": "connection"}, "connection strategy: one gate per weight",
            "connection strategy"),
    Variant("direct", {"gate": "direct"}, "direct gates: one learned gate per unit, trained as the switcher is, no U-Net",
            "direct gate", "direct gate (no U-Net)", group="peer"),
    *(Variant(f"l0-{lam:g}", {"gate": "l0", "l0_lambda": (lam,), **_JOINT_ADAM},
              f"L0 hard-concrete gates, lambda {lam:g}/N, trained jointly with the TNN (Adam)",
              f"{name('L0')}, lambda {lam:g}", f"{name('L0')} hard concrete, lambda {lam:g} (one lambda for all layers)",
              group="peer")
      for lam in L0_LAMBDAS),
    Variant("bc", {"gate": "bc", **_JOINT_ADAM},
            "BC-GNJ: Bayesian compression with group normal-Jeffreys priors, trained jointly with the TNN (Adam)",
            name("BC-GNJ"), group="peer"),
    Variant("joint", {"switcher_scope": "joint"}, "joint switchers: one reads all FC layers, one all conv layers "
            "(the first paper's section 3.3), trained as SNN-AL", "joint switcher", group="scope",
            scope_name="one joint switcher per family (FC, conv)"),
)}


def group(name: str) -> dict[str, tuple[dict, str]]:
    """{variant: (overrides, description)} of one group, in registry order."""
    return {v.name: (v.overrides, v.description) for v in REGISTRY.values() if v.group == name}


VARIANTS = group("ablation")   # the ablation study's runs
PEERS = group("peer")          # the switcher's peers (snn_edu.gates): made when asked for (--variants)
SCOPE_RUNS = group("scope")    # how many switchers read the weights (snn_edu.joint)
RUNS = {**VARIANTS, **PEERS, **SCOPE_RUNS}  # every kind of training run a study knows


def label(name: str) -> str:
    """A run kind as a reader knows it: 'switcher (SNN-AL)', 'L0, lambda 0.001', 'BC-GNJ'."""
    return REGISTRY[name].label if name in REGISTRY else name


def variant_config(base: TrainConfig, variant: str, seed: int) -> TrainConfig:
    """The configuration of one variant at one seed."""
    return replace(base, seed=seed, **REGISTRY[variant].overrides)


@dataclass(frozen=True)
class Measure:
    """A job that measures a seed's trained runs instead of training one: the runs it `needs`, and
    whether its rows are frontier points (`points`: they go into frontier.csv)."""

    name: str
    needs: tuple[str, ...]
    points: bool
    description: str


MEASURE_REGISTRY: dict[str, Measure] = {m.name: m for m in (
    Measure("magnitude", ("al", "dense"), False, "the dense run pruned by L1 norm to the AL run's "
            "surviving units per layer, before and after fine-tuning"),
    Measure("frontier", ("al", "dense"), True, "every criterion's curve on the switcher and dense models"),
    Measure("peers", tuple(PEERS), True, "the peers' own points and own-gate curves"),
    Measure("scopes", tuple(SCOPE_RUNS), True, "the joint switcher's own point and own-gate curve"),
)}
MEASURES = tuple(MEASURE_REGISTRY)
