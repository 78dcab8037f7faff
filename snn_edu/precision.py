"""Numeric precision of the switcher: fp32, or bf16/fp16 autocast for its convolutions.

Only the switcher computes in lower precision. The TNN, its loss and softmax, the gate's final
values, BatchNorm statistics and the optimiser state stay fp32.
"""
from __future__ import annotations

import sys
from contextlib import nullcontext

import torch

from . import machine
from .errors import ConfigError
from .stats import spearman

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check(precision: str) -> str:
    """`precision` if it is one of PRECISIONS, else a one-line ConfigError."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def native_bf16(device: torch.device) -> bool:
    """True when `device` computes bf16 in hardware: a GPU that supports it, or a CPU with AMX
    or AVX512-BF16 (without them oneDNN emulates bf16, more slowly than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(machine.cpu_bf16_flags())


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"this CPU ({machine.cpu_model()})"


def resolve(precision: str, device: torch.device, warn=None) -> str:
    """The precision a run on `device` computes in: 'fp32', 'bf16' or 'fp16'.

    'auto' is bf16 where the device runs it natively, else fp32. bf16 on a CPU without bf16
    hardware, and fp16 anywhere but CUDA, fall back to fp32 with one line through `warn`
    (default: standard error).
    """
    check(precision)
    warn = warn or (lambda line: print(line, file=sys.stderr))
    native = native_bf16(device)
    if precision == "auto":
        return "bf16" if native else "fp32"
    if precision == "bf16" and not native:
        why = ("no amx_bf16 or avx512_bf16 flag" if device.type == "cpu" else "no bf16 support")
        warn(f"precision bf16 asked for, but {_hardware(device)} has {why}: computing in fp32")
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        warn("precision fp16 needs a CUDA device (on the CPU use bf16): computing in fp32")
        return "fp32"
    return precision


def autocast(precision: str, device: torch.device):
    """The autocast context for an effective precision (a no-op for fp32)."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler, enabled for fp16 only (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def gate_agreement(model, precision: str, mode: str = "eval") -> dict[str, dict]:
    """Per switched-on layer: how its gate computed in `precision` agrees with its fp32 gate for
    the same weights: largest absolute difference (and relative to the largest fp32 gate),
    Spearman's rank correlation (nan when a gate is constant, see snn_edu.stats.spearman), and how
    many units each prunes (gate 0) and in one only.
    The model's own precision is left as it was."""
    layers = {name: layer for name, layer in model.gated_layers().items() if layer.active}
    saved = {name: layer.precision for name, layer in layers.items()}
    try:
        gates = {}
        for p in ("fp32", precision):
            model.set_precision(p)
            gates[p] = model.gates(mode)
    finally:
        for name, layer in layers.items():
            layer.precision = saved[name]
    out = {}
    for name in gates["fp32"]:
        full, low = gates["fp32"][name].double(), gates[precision][name].double()
        diff = (full - low).abs().max().item()
        scale = full.abs().max().item()
        out[name] = {"units": full.numel(), "max_abs_diff": diff, "max_rel_diff": diff / scale if scale else 0.0,
                     "spearman": spearman(full, low), "pruned_fp32": int((full == 0).sum()),
                     "pruned_low": int((low == 0).sum()), "pruned_disagree": int(((full == 0) != (low == 0)).sum())}
    return out
