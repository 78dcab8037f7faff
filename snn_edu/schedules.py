"""Learning-rate schedules behind one small interface: `enter(phase)` before an epoch,
`step(phase, train_loss)` after it, `finished()` for a schedule that ends training itself.

- `step`: MultiStepLR at fixed epochs (the release's MNIST recipe), never finishes early.
- `plateau`: the release's CIFAR and Mini-ImageNet recipe. Each phase (TNN, SNN) keeps its own
  rate, lowered by `gamma` when that phase's mean training loss has not improved by a relative
  1e-4 for more than `patience` epochs. As in the release, every phase's tracker is stepped
  after every epoch with its phase's latest loss (the idle phase repeats its last value), and
  training stops once every alternating phase's rate is below `stop_lr` (the release: 5e-3,
  that is after two reductions from 0.1); `epochs` is then only a cap.
"""
from __future__ import annotations

import torch

from .errors import ConfigError

LR_SCHEDULES = ("step", "plateau")
THRESHOLD = 1e-4  # relative improvement that resets a phase's patience (torch's default, the release's)
_IDLE = ("warmup", "dense")  # phases that take no part in the stopping rule of an alternating run


class StepSchedule:
    """Fixed milestones for all phases together."""

    def __init__(self, optimizer: torch.optim.Optimizer, milestones, gamma: float):
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma)

    def enter(self, phase: str) -> None:
        pass

    def step(self, phase: str, train_loss: float) -> None:
        self.scheduler.step()

    def finished(self) -> bool:
        return False

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


class PhasePlateau:
    """ReduceLROnPlateau kept separately for each training phase (see the module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, gamma: float, patience: int,
                 stop_lr: float | None):
        self.optimizer, self.base_lr, self.gamma, self.patience, self.stop_lr = optimizer, lr, gamma, patience, stop_lr
        self.phases: dict[str, dict] = {}  # phase -> lr, best, bad epochs, last loss

    def enter(self, phase: str) -> None:
        tracker = self.phases.setdefault(phase, {"lr": self.base_lr, "best": float("inf"), "bad": 0, "last": None})
        for group in self.optimizer.param_groups:
            group["lr"] = tracker["lr"] * group.get("lr_scale", 1.0)

    def step(self, phase: str, train_loss: float) -> None:
        self.phases[phase]["last"] = float(train_loss)
        for tracker in self.phases.values():
            loss = tracker["last"]
            if loss is None:
                continue
            if loss < tracker["best"] * (1 - THRESHOLD):
                tracker["best"], tracker["bad"] = loss, 0
            else:
                tracker["bad"] += 1
            if tracker["bad"] > self.patience:
                tracker["lr"] *= self.gamma
                tracker["bad"] = 0

    def finished(self) -> bool:
        if self.stop_lr is None:
            return False
        rates = [t["lr"] for p, t in self.phases.items() if p not in _IDLE] or \
                [t["lr"] for t in self.phases.values()]
        return bool(rates) and all(r < self.stop_lr for r in rates)

    def state_dict(self) -> dict:
        return {"phases": {p: dict(t) for p, t in self.phases.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.phases = {p: dict(t) for p, t in state["phases"].items()}


def make_schedule(config, optimizer: torch.optim.Optimizer):
    """The schedule a TrainConfig asks for (`lr_schedule`)."""
    if config.lr_schedule == "step":
        return StepSchedule(optimizer, config.milestones, config.gamma)
    if config.lr_schedule == "plateau":
        return PhasePlateau(optimizer, config.lr, config.gamma, config.patience, config.stop_lr)
    raise ConfigError(f"unknown --lr-schedule {config.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
