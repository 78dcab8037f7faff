"""Rank statistics shared by the whole package: average ranks and Spearman's rank correlation.

A base-layer module: it imports nothing from snn_edu, so any layer may use it.
"""
from __future__ import annotations

import math

import torch


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of the values of `x` (flattened, as float64 on the CPU), ties sharing the
    average of the ranks they span: [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]."""
    x = x.detach().flatten().double().cpu()
    _, inverse, counts = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return (ends - (counts.double() - 1) / 2)[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of `a` and `b` (flattened; ties take average ranks), in [-1, 1].

    nan when either side is constant (or has fewer than two values): the correlation of a
    constant is undefined, so two identical constant gates give nan, not 1. Raises ValueError
    when the two hold different numbers of values.
    """
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.numel() != rb.numel():
        raise ValueError(f"spearman needs equal lengths, got {ra.numel()} and {rb.numel()}")
    if ra.numel() < 2 or bool(ra.eq(ra[0]).all()) or bool(rb.eq(rb[0]).all()):
        return math.nan
    ra, rb = ra - ra.mean(), rb - rb.mean()
    rho = float(ra @ rb) / float(ra.norm() * rb.norm())
    return min(1.0, max(-1.0, rho))


def format_rho(rho: float | None, spec: str = ".4f") -> str:
    """A Spearman value for a report: formatted with `spec`, or 'undefined (constant)' for nan
    (or None, as a strict JSON reader may hold it)."""
    return "undefined (constant)" if rho is None or math.isnan(rho) else format(rho, spec)


# Student's t, two-sided 95 %: the 0.975 quantile by degrees of freedom (standard tables); beyond
# 30 degrees of freedom the normal quantile 1.96 is used (off by less than 0.05).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}


def paired_interval(a: list[float], b: list[float]) -> tuple[float, float, float] | None:
    """(mean, low, high) of the paired differences a - b (pairs in order, e.g. by seed): the mean
    with its 95 % t-interval. None with fewer than two pairs (no spread to estimate)."""
    if len(a) != len(b):
        raise ValueError(f"paired_interval needs pairs, got {len(a)} and {len(b)} values")
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    if n < 2:
        return None
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = T_975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def interval_text(interval: tuple[float, float, float], unit: str = " points") -> str:
    """'+2.35 points (95 % interval -1.20 to +5.90)'."""
    mean, low, high = interval
    return f"{mean:+.2f}{unit} (95 % interval {low:+.2f} to {high:+.2f})"


def paired_verdict(a: list[float], b: list[float]) -> str:
    """'more' when the 95 % t-interval of the paired differences a - b (pairs in order, e.g. by seed)
    lies above 0, 'less' when it lies below, 'same' when it includes 0 or there are fewer than two
    pairs: the one test behind every comparison sentence of the package's pages."""
    interval = paired_interval(a, b)
    if interval is None or interval[1] <= 0 <= interval[2]:
        return "same"
    return "more" if interval[1] > 0 else "less"
