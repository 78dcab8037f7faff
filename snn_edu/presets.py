"""Named run configurations for the notebooks: smoke, cpu (teaches on a laptop) and paper."""
from __future__ import annotations

import os

from .errors import ConfigError
from .training import TrainConfig

LEVELS = ("smoke", "cpu", "paper")


def smoke_mode() -> bool:
    """True when SNN_EDU_SMOKE=1: notebooks and tests use their tiny configurations."""
    return os.environ.get("SNN_EDU_SMOKE", "") == "1"


def preset(model: str, level: str | None = None, **overrides) -> TrainConfig:
    """The configuration of `model` at `level` (default: smoke in smoke mode, else cpu).

    smoke: a few steps on a few hundred digits, lite switcher: checks that things run.
    cpu:   lite switcher on mnist5k with the deviations listed in the README (PyTorch's uniform
           init, momentum 0.9, lr 0.05 for the MLP and 0.01 for LeNet5, one warm-up epoch for
           LeNet5); minutes on a laptop CPU.
    paper: the release's recipe on full MNIST (100 epochs, paper switcher); meant for a GPU.
    """
    level = level or ("smoke" if smoke_mode() else "cpu")
    if level not in LEVELS:
        raise ConfigError(f"unknown preset level {level!r}; choose one of {', '.join(LEVELS)}")
    lenet = model == "lenet5"
    warm = {"warmup_epochs": 1} if lenet else {}
    base = {
        "smoke": dict(switcher="lite", data="mnist5k", epochs=3, train_size=256, test_size=200,
                      max_steps=3, **warm),
        "cpu": dict(switcher="lite", data="mnist5k", epochs=8, lr=0.01 if lenet else 0.05, momentum=0.9,
                    init_std=None, **warm),
        "paper": dict(switcher="paper", data="mnist", epochs=100),
    }[level]
    return TrainConfig(model=model, **{**base, **overrides})
