"""Named run configurations for the notebooks: smoke, cpu (teaches on a laptop) and paper."""
from __future__ import annotations

import os

from .errors import ConfigError
from .nets import NETWORKS
from .training import TrainConfig

LEVELS = ("smoke", "cpu", "paper", "release")

# The release's MNIST recipe, as its MNIST/*_Optimal_Model_Neurons folders build it (README's
# recipe table): SGD lr 0.1 without momentum, batch 64, MultiStepLR [50, 75, 100], 100 epochs on
# full MNIST; the MLP's weights N(0, 0.01); LeNet5's weights Kaiming normal (fan_out), a 4-epoch
# warm-up, conv gates per (filter, input channel) slice and 3-stage kernel reducers; the switchers'
# BatchNorm scale and shift trained in the TNN phase too.
RELEASE = {"mlp": dict(switcher="release", data="mnist", epochs=100, switcher_bn_in_tnn=True),
           "lenet5": dict(switcher="release", data="mnist", epochs=100, switcher_bn_in_tnn=True,
                          init_std="kaiming", conv_gates="slice")}

# Deviations from the release's recipe measured as its fix (snn_edu.recipes, docs/recipes.md):
# "LEVEL+NAME" applies one to a level, e.g. release+clip. `check` is a size, not a deviation: the
# GPU recipe on mnist5k for 16 epochs, which a 2-core CPU trains in minutes (its first 8 epochs
# are exactly an 8-epoch run's). The MLP needs them: from the release's N(0, 0.01) init on 4,000
# digits it passes 80 % only after about 8 epochs.
FIXES = {
    "switcher-lr": (dict(switcher_lr=0.01), "the switchers' rate 0.01 instead of 0.1, the TNN's staying 0.1"),
    "clip": (dict(clip_grad_norm=1.0), "gradient norm clipped at 1 in every phase"),
    "open": (dict(gates_start_open=True), "every gate starts at 1 (each switcher's last BatchNorm: scale 0, shift 1) "
             "instead of a random share of them closed"),
    "settle": (dict(tnn_lr_gated=0.01), "once the gates turn on after LeNet5's warm-up, the TNN learns at 0.01 "
               "instead of 0.1 (the switchers keep 0.1); the MLP, which has no warm-up, is unchanged"),
    "ajar": (dict(gates_start_open=True, gates_start_scale=0.25), "gates start around 1 (each switcher's last "
             "BatchNorm: scale 0.25, shift 1), so hardly any starts closed and the switcher learns from the first step"),
}
SIZES = {"check": (dict(data="mnist5k", epochs=16), "mnist5k (4,000 / 1,000), 16 epochs"),
         "eight": (dict(data="mnist5k", epochs=8), "mnist5k (4,000 / 1,000), 8 epochs: the `train --epochs 8` check"),
         "mnist5k": (dict(data="mnist5k"), "mnist5k (4,000 / 1,000), the level's own epochs (paper: 100)")}
PAPER_FIX = "settle"  # the fix `paper` adds to `release`, chosen by measurement (snn_edu.recipes.chosen, docs/recipes.md)


def split_level(level: str) -> tuple[str, list[str]]:
    """'release+clip+check' -> ('release', ['clip', 'check']); refuses unknown parts in one line."""
    base, *mods = level.split("+")
    bad = [m for m in mods if m not in FIXES and m not in SIZES]
    if base not in LEVELS or bad or len(set(mods)) != len(mods):
        raise ConfigError(f"unknown preset level {level!r}; choose one of {', '.join(LEVELS)}, optionally followed by "
                          f"+FIX ({', '.join(FIXES)}) and +SIZE ({', '.join(SIZES)}), e.g. release+clip+check")
    return base, mods


def smoke_mode() -> bool:
    """True when SNN_EDU_SMOKE=1: notebooks and tests use their tiny configurations."""
    return os.environ.get("SNN_EDU_SMOKE", "") == "1"


def preset(model: str, level: str | None = None, **overrides) -> TrainConfig:
    """The configuration of `model` at `level` (default: smoke in smoke mode, else cpu).

    smoke: a few steps on a few hundred digits, lite switcher: checks that things run.
    cpu:   lite switcher on mnist5k with the deviations listed in the README (PyTorch's uniform
           init, momentum 0.9, lr 0.05 for the MLP and 0.01 for LeNet5, one warm-up epoch for
           LeNet5); minutes on a laptop CPU.
    release: the release's recipe verbatim on full MNIST (100 epochs; RELEASE); meant for a GPU.
    paper: release plus the one measured fix (PAPER_FIX).
    A level may add +FIX and +SIZE parts (FIXES, SIZES), e.g. "release+clip+check".
    """
    base, mods = split_level(level or ("smoke" if smoke_mode() else "cpu"))
    extra = {k: v for m in mods for k, v in {**FIXES, **SIZES}[m][0].items()}
    if model in NETWORKS:
        if base == "release":
            raise ConfigError(f"the release level covers the MNIST networks; {model}'s paper level follows the "
                              "release's CIFAR recipe")
        return TrainConfig(model=model, **{**network_preset(model, base), **extra, **overrides})
    if base in ("release", "paper"):
        fix = FIXES[PAPER_FIX][0] if base == "paper" else {}
        return TrainConfig(model=model, **{**RELEASE.get(model, RELEASE["mlp"]), **fix, **extra, **overrides})
    lenet = model == "lenet5"
    warm = {"warmup_epochs": 1} if lenet else {}
    base = {
        "smoke": dict(switcher="lite", data="mnist5k", epochs=3, train_size=256, test_size=200,
                      max_steps=3, **warm),
        "cpu": dict(switcher="lite", data="mnist5k", epochs=8, lr=0.01 if lenet else 0.05, momentum=0.9,
                    init_std=None, **warm),
    }[base]
    return TrainConfig(model=model, **{**base, **extra, **overrides})


# The papers' CIFAR networks. paper: the release's CIFAR recipe (SGD lr 0.1 for both phases,
# batch 64, no momentum; Kaiming normal convs and N(0, 0.01) FC weights, in snn_edu.nets) on
# CIFAR-10, with its stopping rule: ReduceLROnPlateau (factor 0.1, patience 20) on each phase's
# training loss, and the run ends once both phases' rates are below 0.005 (two reductions),
# or at max_epoch 1,000 (4,000 for VGG-cov2), whichever comes first (snn_edu.schedules).
# cpu and smoke: the lite switcher; vgg-cov2 on the shipped digits (28x28, offline), the
# others on 5,000 / 1,000 CIFAR-10 images (which must be downloaded first).
# VGG-cov2 at the cpu level is cheaper than the MNIST networks': its switcher reads a 12,544 x 256
# weight image, about 4.6 s per step on one core against 0.5 s without a switcher, so it trains
# on 1,000 of the 4,000 training digits: four warm-up epochs without gates, then four alternating
# ones starting with the switcher (as LeNet5's release recipe does), about 6 minutes per switcher
# run. Three deviations made it learn in that budget (each measured on seed 0, mnist5k): PyTorch's
# uniform FC init (after three epochs without gates: 23 % test accuracy with the release's N(0, 0.01), 63 %
# with the uniform one);
# evaluation gates from the image's own BatchNorm statistics (`gate_stats="image"`: with running
# statistics after so few steps the evaluation gates pruned fc2 entirely, 25 % against 66 %);
# and gradient clipping at norm 1.
VGG_COV2_CPU = dict(train_size=1000, epochs=8, warmup_epochs=4, even_phase="snn", init_std=None,
                    gate_stats="image", clip_grad_norm=1.0)


def network_preset(model: str, level: str) -> dict:
    """The TrainConfig fields of one of snn_edu.nets.NETWORKS at `level`."""
    digits = model == "vgg-cov2"
    return {
        "smoke": dict(switcher="lite", data="mnist5k" if digits else "cifar10", epochs=2, train_size=256,
                      test_size=200, max_steps=2),
        "cpu": {**dict(switcher="lite", data="mnist5k" if digits else "cifar10", epochs=8, lr=0.01, momentum=0.9),
                **(VGG_COV2_CPU if digits else dict(train_size=5000, test_size=1000))},
        "paper": dict(switcher="paper", data="cifar10", epochs=4000 if digits else 1000, lr=0.1, batch_size=64,
                      gamma=0.1, lr_schedule="plateau", patience=20, stop_lr=5e-3),
    }[level]
