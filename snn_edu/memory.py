"""Peak memory of one training step of a network with its switchers, and an estimate made
before any work, so that a configuration that cannot fit says so in one line.

A switcher reads a gated layer's weight matrix as an image: over VGG16's 4096 x 4096 FC
weights that is a 16.7-megapixel image, and its U-Net keeps several feature maps of that size
for the backward pass. The estimate measures each switcher's memory per pixel on a small image
(its activations grow with the pixel count) and adds the network's own step, measured with
its gates switched off.
"""
from __future__ import annotations

import multiprocessing as mp

import torch
import torch.nn.functional as F

from . import machine
from .data import shape_and_classes
from .errors import ConfigError
from .gates import GATE_KINDS
from .layers import GatedLayer
from .models import MODELS, build_model
from .nets import build_network

LIMITS_GB = {"cpu": 24.0, "cuda": 16.0}  # a 24 GB machine, a 16 GB GPU
PROBE_SIDE = 256  # the probe image is PROBE_SIDE x PROBE_SIDE


def _step(model, x, y, phase: str) -> None:
    """One step's forward and backward in `phase` (tnn: gates applied, the TNN's gradients;
    snn: the gates' gradients); no optimiser state, which SGD without momentum does not keep."""
    model.train()
    model.set_gated(phase != "dense")
    for p in model.tnn_parameters():
        p.requires_grad_(phase != "snn")
    for p in model.gate_parameters():
        p.requires_grad_(phase == "snn")
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def _child(network, switcher, in_shape, classes, batch, phases, device, queue) -> None:
    try:
        torch.manual_seed(0)
        model = build_network(network, switcher=switcher, in_shape=in_shape, classes=classes).to(device)
        x = torch.randint(0, 256, (batch, *in_shape), dtype=torch.uint8, device=device)
        y = torch.randint(0, classes, (batch,), device=device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() / 2**20
        else:
            base = machine.reset_peak_rss()
        for phase in phases:
            _step(model, x, y, phase)
        peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else machine.peak_rss_mb()
        queue.put((peak, base))
    except BaseException as e:  # noqa: BLE001 - reported to the parent in one line
        queue.put(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def measure_step_mb(network: str, switcher: str | None, in_shape=(3, 32, 32), classes: int = 10, batch: int = 64,
                    device: str = "cpu") -> dict:
    """Peak and baseline memory (MB) of one TNN step and one switcher step (one dense step for
    switcher=None), in a fresh process: the resident set on the CPU, allocations on CUDA."""
    phases = ("dense",) if switcher is None else ("tnn", "snn")
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_child, args=(network, switcher, in_shape, classes, batch, phases,
                                                                device, queue))
    proc.start()
    try:
        value = queue.get(timeout=1800)
    finally:
        proc.join(timeout=60)
    if isinstance(value, str):
        raise ConfigError(f"{network} with the {switcher} switcher could not take a step: {value}")
    peak, base = value
    return {"peak_mb": peak, "baseline_mb": base, "step_mb": peak - base}


def _saved_mb(run) -> float:
    """MB of the tensors autograd keeps for the backward pass while `run()` computes a forward."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return total / 2**20


def switcher_mb_per_pixel(switcher: str, rows: int, cols: int) -> float:
    """MB per weight-image pixel that one switcher keeps for its backward pass, measured on a
    PROBE_SIDE-square image with the spec the real (rows x cols) image would get."""
    from .switcher import Switcher, switcher_spec

    spec = switcher_spec(switcher, (rows, cols))
    unet = Switcher((PROBE_SIDE, PROBE_SIDE), "rows", spec)
    image = torch.randn(PROBE_SIDE, PROBE_SIDE, requires_grad=True)
    return _saved_mb(lambda: unet(image)) / PROBE_SIDE ** 2


def _dense(network: str, in_shape, classes: int):
    """The network without gates, and two inputs of its kind (uint8 images for the CIFAR
    networks, which normalise them inside; pixels in [0, 1] for the MNIST ones)."""
    if network in MODELS:
        return build_model(network, switcher=None), torch.rand(2, 1, 28, 28)
    model = build_network(network, switcher=None, in_shape=in_shape, classes=classes)
    return model, torch.randint(0, 256, (2, *in_shape), dtype=torch.uint8)


def estimate_step_mb(network: str, switcher: str | None, in_shape=(3, 32, 32), classes: int = 10,
                     batch: int = 64) -> float:
    """An estimate made before any work: the network's weights and gradients, what autograd
    keeps of a dense forward (measured on 2 images, scaled to `batch`), and what every
    switcher keeps over its weight image (its MB per pixel, from a probe, times the pixels)."""
    torch.manual_seed(0)
    model, x = _dense(network, in_shape, classes)
    model.train()
    dense = _saved_mb(lambda: model(x)) * batch / 2 + 2 * sum(p.numel() for p in model.parameters()) * 4 / 2**20
    if switcher is None:
        return dense
    shapes = [tuple(m.weight.shape[:2]) for m in model.modules() if isinstance(m, GatedLayer)]
    per_pixel = {shape: switcher_mb_per_pixel(switcher, *shape) for shape in set(shapes)}
    return dense + sum(per_pixel[s] * s[0] * s[1] for s in shapes)


def device_limit(device: str) -> tuple[float, str]:
    """(GB a step may use, what that limit is): a CUDA card's memory free right now
    (torch.cuda.mem_get_info, so that jobs already on it count), else LIMITS_GB."""
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        name = torch.cuda.get_device_name(torch.device(device))
        return free / 2**30, f"the {free / 2**30:.1f} GB free on {device} ({name})"
    if device.startswith("cuda"):
        return LIMITS_GB["cuda"], "a 16 GB GPU"
    return LIMITS_GB["cpu"], f"{LIMITS_GB['cpu']:g} GB"


def check_fits(network: str, switcher: str | None, device: str = "cpu", in_shape=(3, 32, 32), classes: int = 10,
               limit_gb: float | None = None) -> float:
    """The estimate in GB; raises one line when it exceeds the device's limit (device_limit)."""
    limit, where = (limit_gb, f"{limit_gb:g} GB") if limit_gb is not None else device_limit(device)
    gb = estimate_step_mb(network, switcher, in_shape, classes) / 1024
    if gb > limit:
        raise ConfigError(f"{network} with the {switcher} switcher needs about {gb:.1f} GB for one training step "
                          f"(switcher activations over its weight images), more than {where}; use the lite switcher, "
                          "gate fewer layers, or a larger device")
    return gb


def check_shared(configs, device: str, workers: int) -> float:
    """Before a study puts `workers` jobs on one card at once: the largest estimate among the
    switcher runs of `configs` (TrainConfigs), in GB; refuses in one line when `workers` of them
    exceed the card's free memory (device_limit)."""
    sizes = {(c.model, c.switcher): estimate_step_mb(c.model, c.switcher, *shape_and_classes(c.data)) / 1024
             for c in configs if GATE_KINDS[c.gate].has_switcher and c.schedule != "dense"}
    if not sizes:
        return 0.0
    (model, switcher), need = max(sizes.items(), key=lambda kv: kv[1])
    limit, where = device_limit(device)
    if need * workers > limit:
        raise ConfigError(f"{workers} jobs at once need about {need * workers:.1f} GB ({model} with the {switcher} "
                          f"switcher, about {need:.2f} GB a step), more than {where}; use --jobs "
                          f"{max(1, int(limit // need))} or fewer")
    return need


def memory_table(networks, switchers=("lite", "paper"), device: str = "cpu", measure_below_gb: float = 12.0,
                 log=print) -> list[dict]:
    """One row per network and switcher (None: the dense network): the estimate, and the
    measured step where the estimate is below `measure_below_gb` (else not run)."""
    rows = []
    for network in networks:
        for switcher in (None, *switchers):
            est = estimate_step_mb(network, switcher) / 1024
            row = {"network": network, "switcher": switcher or "dense", "estimate_gb": est, "measured_gb": None,
                   "fits": {"24 GB machine": est <= LIMITS_GB["cpu"], "16 GB GPU": est <= LIMITS_GB["cuda"]}}
            if est <= measure_below_gb:
                row["measured_gb"] = measure_step_mb(network, switcher, device=device)["step_mb"] / 1024
            log(format_row(row))
            rows.append(row)
    return rows


def format_row(row: dict) -> str:
    measured = "not run (estimate above the limit set)" if row["measured_gb"] is None else f"{row['measured_gb']:.2f} GB"
    fits = ", ".join(f"{'fits' if ok else 'does not fit'} a {where}" for where, ok in row["fits"].items())
    return f"| {row['network']} | {row['switcher']} | {row['estimate_gb']:.2f} GB | {measured} | {fits} |"
