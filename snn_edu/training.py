"""Training with phases (warm-up, TNN, switcher), per-epoch history, checkpoints and resume."""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import precision as numeric
from .data import load_dataset, shape_and_classes, subset
from .errors import CheckpointError, ConfigError, DivergenceError
from .gates import GATE_KINDS, GATES
from .compiled import compile_switchers
from .layers import cached_gates
from .metrics import epoch_line, run_metrics
from .runfolder import RunFolder, RunStopped, stopping_on_signals
from .schedules import LR_SCHEDULES, make_schedule
from .models import GatedNet, build_model, kaiming_init
from .memory import check_fits
from .joint import SCOPES, make_joint
from .nets import NETWORKS, build_network, init_fc
from .switcher import Switcher, use_fast_kernels

SCHEDULES = ("alternate", "separate", "joint", "dense")
OPTIMIZERS = ("sgd", "adam")
PHASES = ("warmup", "tnn", "snn", "joint", "dense")
CONV_GATES = ("filter", "slice")


@dataclass
class TrainConfig:
    """Everything that defines a run; the defaults are the release's recipe."""

    model: str = "mlp"
    strategy: str = "neuron"
    schedule: str = "alternate"
    switcher: str = "paper"
    data: str = "mnist5k"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (50, 75, 100)
    gamma: float = 0.1
    lr_schedule: str = "step"             # step (milestones) or plateau (per phase; see snn_edu.schedules)
    patience: int = 20                    # plateau: epochs without improvement before the rate drops
    stop_lr: float | None = None          # plateau: stop once every phase's rate is below this
    warmup_epochs: int | None = None      # None: 4 for LeNet5, 0 for the MLP (the release)
    even_phase: str | None = None         # phase of even epochs after warm-up; None: release parity
    separate_tnn_epochs: int | None = None  # SL: TNN-only epochs before the switcher; None: half
    init_std: float | str | None = -1.0   # -1: the model's default (N(0, 0.01) for the MLP and the FC
                                          # layers of the CIFAR networks); None: PyTorch's uniform;
                                          # "kaiming": every gated weight Kaiming normal (the release's LeNet5)
    conv_gates: str = "filter"            # LeNet5: one gate per filter, or per (filter, input channel)
                                          # slice ("slice", as the release's conv2)
    switcher_bn_in_tnn: bool = False      # train the switchers' BatchNorm scale and shift in the TNN
                                          # phase too (the release never freezes them)
    gate_stats: str = "running"           # BatchNorm statistics of the evaluation gate
    switcher_input: str = "weights"       # ablation controls: shuffled, noise, constant
    clip_grad_norm: float | None = None   # off by default (a deviation from the release)
    switcher_lr: float | None = None      # the gates' rate; None: lr (the release)
    tnn_lr_gated: float | None = None     # the TNN's rate once the gates turn on after a warm-up; None: lr
                                          # (the release); no effect without a warm-up
    gates_start_open: bool = False        # every switcher gate starts at 1 (Switcher.start_open); the release: not
    gates_start_scale: float = 0.0        # with gates_start_open: the last BatchNorm's starting scale
    train_size: int | None = None         # subsample the training set (smoke runs)
    test_size: int | None = None
    max_steps: int | None = None          # cap on steps per epoch (smoke runs)
    record_images: bool = True            # keep each epoch's switcher input (float16) in the history
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"               # the switcher's: fp32, bf16, fp16 (CUDA) or auto
    compile: bool = False                 # torch.compile the switchers (see snn_edu.compiled)
    optimizer: str = "sgd"                # sgd (the release's) or adam (the L0 authors')
    gate: str = "switcher"                # what gates the units: switcher, direct, l0 or bc (see snn_edu.gates)
    l0_lambda: tuple[float, ...] = (0.1,)  # L0 penalty lambda (times 1/N): one value, or one per gated layer
    gate_convs: bool = False              # vgg-cov2: gate its convs too (the first paper), not only its FC layers
    switcher_scope: str = "layer"         # layer: a switcher per layer (the release); joint: one for all FC
                                          # layers and one for all conv layers (first paper, 3.3; snn_edu.joint)

    def __post_init__(self):
        self.milestones = tuple(self.milestones)
        self.l0_lambda = tuple(self.l0_lambda)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.gate not in GATES:
            raise ConfigError(f"unknown gate {self.gate!r}; choose one of {', '.join(GATES)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"unknown --lr-schedule {self.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}")
        if self.switcher_scope not in SCOPES:
            raise ConfigError(f"unknown --switcher-scope {self.switcher_scope!r}; choose one of {', '.join(SCOPES)}")
        if self.switcher_scope == "joint" and (not GATE_KINDS[self.gate].has_switcher or self.strategy != "neuron"
                                               or self.switcher_input != "weights"):
            raise ConfigError("--switcher-scope joint needs --gate switcher, --strategy neuron and the weights as "
                              "the switcher's input")
        if self.conv_gates not in CONV_GATES:
            raise ConfigError(f"unknown --conv-gates {self.conv_gates!r}; choose one of {', '.join(CONV_GATES)}")
        if self.conv_gates == "slice" and self.model != "lenet5":
            raise ConfigError(f"--conv-gates slice applies to lenet5's convs, not {self.model}")
        if self.even_phase not in (None, "tnn", "snn"):
            raise ConfigError(f"even_phase must be 'tnn' or 'snn', got {self.even_phase!r}")
        _check_numbers(self)
        numeric.check(self.precision)

    @property
    def warmup(self) -> int:
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return 4 if self.model == "lenet5" else 0


# (field, test, what is allowed), checked before any work; the message names the CLI flag
_RULES = (
    ("epochs", lambda v: v >= 1, "a whole number >= 1"),
    ("batch_size", lambda v: v >= 1, "a whole number >= 1"),
    ("lr", lambda v: math.isfinite(v) and v > 0, "a positive number"),
    ("momentum", lambda v: 0 <= v < 1, "a number in [0, 1)"),
    ("weight_decay", lambda v: math.isfinite(v) and v >= 0, "a number >= 0"),
    ("gamma", lambda v: math.isfinite(v) and v > 0, "a positive number"),
    ("milestones", lambda v: all(m >= 0 for m in v), "epochs >= 0"),
    ("patience", lambda v: v >= 0, "a whole number >= 0"),
    ("stop_lr", lambda v: v is None or (math.isfinite(v) and v > 0), "a positive number"),
    ("warmup_epochs", lambda v: v is None or v >= 0, "a whole number >= 0"),
    ("separate_tnn_epochs", lambda v: v is None or v >= 0, "a whole number >= 0"),
    ("init_std", lambda v: v is None or v in (-1.0, "kaiming") or (not isinstance(v, str) and math.isfinite(v) and v > 0),
     "'default', 'uniform', 'kaiming' or a positive standard deviation"),
    ("clip_grad_norm", lambda v: v is None or (math.isfinite(v) and v > 0), "a positive number"),
    ("switcher_lr", lambda v: v is None or (math.isfinite(v) and v > 0), "a positive number"),
    ("tnn_lr_gated", lambda v: v is None or (math.isfinite(v) and v > 0), "a positive number"),
    ("train_size", lambda v: v is None or v >= 1, "a whole number >= 1"),
    ("test_size", lambda v: v is None or v >= 1, "a whole number >= 1"),
    ("max_steps", lambda v: v is None or v >= 1, "a whole number >= 1"),
    ("seed", lambda v: v >= 0, "a whole number >= 0"),
    ("l0_lambda", lambda v: len(v) >= 1 and all(math.isfinite(x) and x >= 0 for x in v), "one or more numbers >= 0"),
)
_FLAGS = {"init_std": "--init"}


def _check_numbers(config: "TrainConfig") -> None:
    """A one-line ConfigError naming the first out-of-range setting by its command-line flag."""
    for name, ok, allowed in _RULES:
        value = getattr(config, name)
        if not ok(value):
            flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
            shown = "the default" if value == -1.0 and name == "init_std" else value
            raise ConfigError(f"{flag} must be {allowed}, got {shown}")


# Settings that may differ between a checkpoint and the run that resumes it.
RESUMABLE = {"epochs", "device", "record_images", "compile"}


def phase_for_epoch(config: TrainConfig, epoch: int) -> str:
    """'dense', 'warmup' (TNN, gates off), 'tnn' (TNN through the frozen switcher) or 'snn'."""
    if config.schedule == "dense":
        return "dense"
    if config.schedule == "joint":  # TNN and gates together (the L0 recipe), after any warm-up
        return "warmup" if epoch < config.warmup else "joint"
    if config.schedule == "separate":
        tnn_epochs = config.separate_tnn_epochs
        tnn_epochs = config.epochs // 2 if tnn_epochs is None else tnn_epochs
        return "warmup" if epoch < tnn_epochs else "snn"
    if epoch < config.warmup:
        return "warmup"
    even = config.even_phase or ("snn" if config.model == "lenet5" else "tnn")
    odd = "tnn" if even == "snn" else "snn"
    return even if epoch % 2 == 0 else odd


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but torch sees no CUDA device; use --device auto or cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def make_model(config: TrainConfig, in_shape: tuple[int, ...] | None = None, classes: int | None = None) -> GatedNet:
    """The model a config describes, initialised from its seed; the papers' CIFAR networks take
    the images' (channels, height, width) and the number of classes from the data (by default,
    from what the config's data set holds)."""
    torch.manual_seed(config.seed)
    switcher = None if config.schedule == "dense" else config.switcher
    if config.model in NETWORKS:
        shape, n_classes = shape_and_classes(config.data) if in_shape is None or classes is None else (None, None)
        model = build_network(config.model, config.strategy, switcher, config.gate, in_shape or shape,
                              classes or n_classes, config.gate_convs)
        if config.init_std not in (-1.0, "kaiming"):
            init_fc(model, config.init_std)
    elif config.gate_convs:
        raise ConfigError(f"--gate-convs applies to vgg-cov2, not {config.model}")
    else:
        kwargs = {} if config.init_std in (-1.0, "kaiming") else {"init_std": config.init_std}
        if config.conv_gates == "slice":
            kwargs["conv_strategy"] = "connection"
        model = build_model(config.model, config.strategy, switcher, gate=config.gate, **kwargs)
    if config.init_std == "kaiming":
        kaiming_init(model)
    if config.switcher_scope == "joint" and switcher is not None:
        make_joint(model, config.switcher)
    if config.gates_start_open:
        for m in model.modules():
            if isinstance(m, Switcher):
                m.start_open(config.gates_start_scale)
    model.set_gate_stats(config.gate_stats)
    if config.switcher_input != "weights":
        for i, layer in enumerate(model.gated_layers().values()):
            layer.set_switcher_input(config.switcher_input, seed=config.seed * 1000 + i)
    return model


def load_data(config: TrainConfig):
    """(train, test) for a config, subsampled when train_size / test_size are set."""
    train, test = load_dataset(config.data)
    for flag, size, split, name in (("--train-size", config.train_size, train, "training"),
                                    ("--test-size", config.test_size, test, "test")):
        if size and size > len(split):
            raise ConfigError(f"{flag} {size} is larger than {config.data}'s {len(split):,} {name} digits")
    if config.train_size:
        train = subset(train, config.train_size, config.seed)
    if config.test_size:
        test = subset(test, config.test_size, config.seed)
    return train, test


@dataclass
class History:
    """Per-epoch records: metrics, both gate modes and (optionally) the switcher inputs."""

    epochs: list[dict] = field(default_factory=list)
    diverged: str | None = None

    def column(self, key: str) -> list:
        return [e[key] for e in self.epochs]

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "diverged": self.diverged}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(list(d["epochs"]), d.get("diverged"))


def model_for_data(config: TrainConfig, train_set, test_set, device: torch.device) -> GatedNet:
    """The config's model; the papers' CIFAR networks sized by the data in hand. A switcher run is
    checked against the device's memory first (on a GPU shared by jobs: against its free memory)."""
    switchers = GATE_KINDS[config.gate].has_switcher and config.schedule != "dense"
    if config.model in NETWORKS:
        images, labels = train_set.tensors[0], torch.cat([train_set.tensors[1], test_set.tensors[1]])
        # the data set's classes, even when a subset lacks some (so that the run folder reloads)
        in_shape, classes = tuple(images.shape[1:]), max(int(labels.max()) + 1, shape_and_classes(config.data)[1])
        if switchers:
            check_fits(config.model, config.switcher, str(device), in_shape, classes)  # before any work
        return make_model(config, in_shape, classes)
    if switchers and device.type == "cuda":
        check_fits(config.model, config.switcher, str(device))
    return make_model(config)


def make_optimizer(config: TrainConfig, model: GatedNet) -> torch.optim.Optimizer:
    """SGD or Adam over the model; the TNN and the gates in two groups at their own rates when the
    config gives the switchers a rate of their own or the TNN another rate once gated."""
    switcher_lr = config.switcher_lr or config.lr
    groups = model.parameters() if config.switcher_lr is None and config.tnn_lr_gated is None else [
        {"params": model.tnn_parameters(), "lr_scale": 1.0},
        {"params": model.gate_parameters(), "lr": switcher_lr, "lr_scale": switcher_lr / config.lr}]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


class Trainer:
    """Trains a gated model by phases and records everything the notebooks step through."""

    def __init__(self, config: TrainConfig, train_set, test_set, out: str | Path | None = None,
                 progress: bool = True, model: GatedNet | None = None, verbose: bool = False,
                 reference: bool = False):
        self.config = config
        self.device = resolve_device(config.device)
        self.model = (model if model is not None else model_for_data(config, train_set, test_set, self.device)).to(self.device)
        self.precision = numeric.resolve(config.precision, self.device)  # what the switchers compute in
        self.model.set_precision(self.precision)
        self.scaler = numeric.grad_scaler(self.precision, self.device)
        if config.compile:
            compile_switchers(self.model, self.device)
        self.train_x, self.train_y = (t.to(self.device) for t in train_set.tensors)
        self.test_x, self.test_y = (t.to(self.device) for t in test_set.tensors)
        self.optimizer = make_optimizer(config, self.model)
        self.scheduler = make_schedule(config, self.optimizer)
        self.history = History()
        self.out = Path(out) if out is not None else None
        self.folder = RunFolder(self.out) if out is not None else None
        self.model.lambdas_per_layer(config.l0_lambda)  # a wrong number of --l0-lambda values stops here, before any work
        self.progress = progress
        self.verbose = verbose
        self.reference = reference  # benchmark baseline: the release's redundant work (see bench.py)
        use_fast_kernels(self.model, not reference)
        self._frozen: list[torch.nn.Parameter] = []
        self.grad_norms: list[torch.Tensor] = []  # this epoch's total gradient norm per step, before clipping
        self.epoch = 0  # the next epoch to train
        self.phase = None

    # -- phases -------------------------------------------------------------------------------
    def enter_phase(self, phase: str) -> None:
        """Freeze and unfreeze parameters and switch gates on or off for `phase`."""
        if phase not in PHASES:
            raise ConfigError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)}")
        self.phase = phase
        self.model.set_gated(phase in ("tnn", "snn", "joint"))
        tnn, switcher = self.model.tnn_parameters(), self.model.gate_parameters()
        also = {id(p) for p in self.model.gate_batchnorm_parameters()} \
            if phase == "tnn" and self.config.switcher_bn_in_tnn else set()  # the release's
        self._frozen = {"snn": tnn, "joint": []}.get(phase, [p for p in switcher if id(p) not in also])
        for p in tnn:
            p.requires_grad_(phase != "snn" or self.reference)
        for p in switcher:
            p.requires_grad_(phase in ("snn", "joint") or id(p) in also or self.reference)

    def step(self, x: torch.Tensor, y: torch.Tensor, epoch: int = 0, index: int = 0) -> tuple[float, int]:
        """One SGD step of the current phase; returns (loss, correct)."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        value = loss.item()  # the cross-entropy: what every method is compared on
        if not math.isfinite(value):
            raise DivergenceError(f"training diverged: loss became {value} at epoch {epoch}, step {index}, "
                                  f"phase {self.phase}; try a lower --lr or --clip-grad-norm")
        if self.phase in ("snn", "joint"):  # L0 gates pay for their expected non-zero weights, BC its KL
            penalty = self.model.gate_penalty(self.config.l0_lambda, len(self.train_y))
            loss = loss if penalty is None else loss + penalty
        self.scaler.scale(loss).backward()
        if self.reference:  # gradients were computed for everything; the frozen side must not move
            for p in self._frozen:
                p.grad = None
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])) if grads \
            else torch.zeros((), device=self.device)
        self.grad_norms.append(norm)  # before clipping
        if self.config.clip_grad_norm is not None and grads:  # as clip_grad_norm_ does, reusing the norm
            torch._foreach_mul_(grads, (self.config.clip_grad_norm / (norm + 1e-6)).clamp(max=1.0))
        self.scaler.step(self.optimizer)  # optimizer.step(), skipped when fp16 gradients overflowed
        self.scaler.update()
        self.model.after_step()
        return value, int((logits.argmax(1) == y).sum())

    def _settle(self) -> None:
        """The gates turn on after the warm-up: the TNN's rate becomes tnn_lr_gated (times any decay so far)."""
        group = self.optimizer.param_groups[0]
        factor = self.config.tnn_lr_gated / self.config.lr
        group["lr"] *= factor
        group["lr_scale"] = group.get("lr_scale", 1.0) * factor

    def train_epoch(self, epoch: int, phase: str | None = None) -> dict:
        """One epoch in `phase` (default: the schedule's); returns its training metrics."""
        self.enter_phase(phase or phase_for_epoch(self.config, epoch))
        self.scheduler.enter(self.phase)
        if self.config.tnn_lr_gated is not None and epoch == self.config.warmup > 0:
            self._settle()
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        torch.manual_seed(self.config.seed * 100_003 + epoch)  # stochastic gates draw the same on resume
        order = torch.randperm(len(self.train_y), generator=generator).to(self.device)
        batches = order.split(self.config.batch_size)[: self.config.max_steps]
        total_loss = correct = seen = 0
        self.grad_norms = []
        bar = tqdm(batches, desc=f"epoch {epoch} [{self.phase}]", leave=False, disable=not self.progress)
        for i, idx in enumerate(bar):
            loss, hits = self.step(self.train_x[idx], self.train_y[idx], epoch, i)
            total_loss += loss * len(idx)
            correct += hits
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{100 * correct / seen:.1f}%", refresh=False)
        norms = torch.stack(self.grad_norms).float().cpu()
        return {"train_loss": total_loss / seen, "train_accuracy": 100.0 * correct / seen,
                "grad_norm_mean": float(norms.mean()), "grad_norm_max": float(norms.max()),
                "weight_norms": {name: float(layer.weight.detach().norm())
                                 for name, layer in self.model.gated_layers().items()}}

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self) -> dict:
        """Test loss and raw accuracy (percent), computing each gate once for the whole pass
        (once per batch in reference mode)."""
        return evaluate(self.model, self.test_x, self.test_y, self.config.batch_size,
                        cache_gates=not self.reference)

    # -- the run --------------------------------------------------------------------------------
    def fit(self, resume: bool = False, overwrite: bool = False) -> History:
        """Train up to config.epochs, saving each epoch; stops cleanly on divergence.

        With an output folder the run holds the folder's lock throughout, a folder that already
        holds a run needs `resume` (continue it) or `overwrite` (replace it), and SIGINT or
        SIGTERM stop the run between saves with RunStopped."""
        if self.folder is None:
            if resume:
                raise CheckpointError("resume needs an output folder holding checkpoint.pt")
            return self._fit()
        with self.folder.owned(resume, overwrite), stopping_on_signals():
            if resume:
                self.restore()
            try:
                return self._fit()
            except RunStopped as stop:
                raise RunStopped(f"stopped by {stop.signal_name} during epoch {self.epoch}; {self.folder.where()}",
                                 stop.signal_name) from None

    def _fit(self) -> History:
        epochs = range(self.epoch, self.config.epochs)
        bar = tqdm(epochs, desc="training", disable=not self.progress, initial=self.epoch,
                   total=self.config.epochs)
        for epoch in bar:
            if self.scheduler.finished():
                tqdm.write(f"stopped after epoch {epoch - 1}: every phase's learning rate is below "
                           f"{self.config.stop_lr} (the plateau schedule's stopping rule)")
                break
            start = time.perf_counter()
            try:
                record = self.train_epoch(epoch)
            except DivergenceError as exc:
                self.history.diverged = str(exc)
                tqdm.write(str(exc))
                break
            train_seconds = time.perf_counter() - start
            result = self.evaluate()
            gates_eval = result.pop("gates")
            record.update(result)
            record.update(epoch=epoch, phase=self.phase, lr=self.optimizer.param_groups[0]["lr"],
                          train_seconds=train_seconds, seconds=time.perf_counter() - start)
            record.update(self.snapshot(gates_eval))
            self.history.epochs.append(record)
            self.scheduler.step(self.phase, record["train_loss"])
            self.epoch = epoch + 1
            bar.set_postfix(test_acc=f"{record['test_accuracy']:.2f}%", phase=self.phase)
            if self.verbose:
                tqdm.write(epoch_line(self.model, record))
            if self.folder is not None:
                self.folder.save(self.state_dict(), self.history.epochs)
        return self.history

    def snapshot(self, gates_eval: dict) -> dict:
        """Both gate modes (and the switcher inputs) of every switched-on layer, on the CPU."""
        snap = {"gates_eval": gates_eval, "gates_train": self.model.gates("train")}
        if self.config.record_images and snap["gates_eval"]:
            snap["images"] = {k: v.half() for k, v in self.model.switcher_images().items()}
        return snap

    def metrics(self) -> dict:
        """The run's numbers so far (see snn_edu.metrics.run_metrics)."""
        return run_metrics(self.model, self.history, self.config, self.device, self.precision,
                           {"train": len(self.train_y), "test": len(self.test_y)})

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything training needs to continue exactly (the history is saved per epoch beside it)."""
        return {"config": asdict(self.config), "epoch": self.epoch, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def restore(self) -> None:
        """Continue the run saved in the output folder (its config must match, bar RESUMABLE)."""
        state, records = self.folder.load(self.config, RESUMABLE)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint in {self.out} does not match this model "
                                  f"({type(exc).__name__}); use a fresh --out") from None
        self.history = History(records)
        self.epoch = int(state["epoch"])


def evaluate(model: GatedNet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
             cache_gates: bool = True) -> dict:
    """Loss, raw accuracy (percent) and the gates of `model` in eval mode.

    Each layer's gate is computed once for the whole pass (or, with cache_gates=False, again
    for every batch, as the release does; the result is the same).
    """
    model.eval()
    total_loss = correct = 0.0
    with torch.no_grad(), (cached_gates(model) if cache_gates else nullcontext()) as gates:
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            logits = model(xb)
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
        gates = {name: g.cpu() for name, g in (gates or model.gates("eval")).items()}
    return {"test_loss": total_loss / len(y), "test_accuracy": 100.0 * correct / len(y), "gates": gates}


def run(config: TrainConfig, out: str | Path | None = None, resume: bool = False, progress: bool = True,
        verbose: bool = False, overwrite: bool = False) -> Trainer:
    """Load the config's data, train, and return the trainer (model, history, metrics())."""
    trainer = Trainer(config, *load_data(config), out=out, progress=progress, verbose=verbose)
    trainer.fit(resume=resume, overwrite=overwrite)
    return trainer
