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
