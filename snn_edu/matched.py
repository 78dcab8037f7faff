"""Comparisons at matched weights removed.

Each seed's curve is its test accuracy against params removed. A curve is read only where it
was measured: at a measured point (one within `AT` points of params removed counts, since a
target in weights removed lands that close to it), or by linear interpolation between two
neighbouring points at most `REACH` points of params removed apart; never beyond its ends. Two
methods are compared only where every seed of both has a value, seed against seed, and one is
called ahead or behind only when the 95 % t-interval of the seeds' paired differences excludes 0
(stats.paired_verdict), and the difference exceeds any accuracy drop a straight-line read
spanned (otherwise the verdict is 'unsettled').
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from .stats import paired_verdict

REACH = 15.0  # the widest gap (points of params removed) a curve is interpolated across
AT = 0.5  # a measured point this close (points of params removed) to where a curve is read is read as measured there
GRID = tuple(range(0, 101, 5))  # where two curves are compared (params removed, %)

Curves = dict[int, list[tuple[float, float]]]  # {seed: [(params removed, accuracy), ...] by removed}


def seed_curves(points: list[dict]) -> Curves:
    """{seed: sorted (removed, accuracy)} from summarised points (frontier.summarise's 'per_seed')."""
    curves: Curves = {}
    for p in points:
        for seed, (removed, accuracy) in p.get("per_seed", {}).items():
            if not math.isnan(accuracy):
                curves.setdefault(seed, []).append((removed, accuracy))
    return {seed: sorted(c) for seed, c in sorted(curves.items())}


def read_with_drop(curve: list[tuple[float, float]], removed: float,
                   reach: float = REACH) -> tuple[float, float] | None:
    """(accuracy, drop) of the curve at `removed` %: the nearest measured point within AT of it (drop
    0), or the straight line between its neighbours when they lie at most `reach` apart, with the
    accuracy the curve changes by between them (how far a straight-line read may be off); None
    where it was not measured."""
    near = [(abs(x - removed), a) for x, a in curve if abs(x - removed) <= AT]
    if near:
        nearest = min(d for d, _ in near)
        return statistics.mean(a for d, a in near if d == nearest), 0.0
    for (x0, a0), (x1, a1) in zip(curve, curve[1:]):
        if x0 < removed < x1:
            return (a0 + (a1 - a0) * (removed - x0) / (x1 - x0), abs(a1 - a0)) if x1 - x0 <= reach else None
    return None


def read_at(curve: list[tuple[float, float]], removed: float, reach: float = REACH) -> float | None:
    """The curve's accuracy at `removed` %: a measured point there (within AT), or the straight line
    between its neighbours when they lie at most `reach` apart; None where it was not measured."""
    found = read_with_drop(curve, removed, reach)
    return None if found is None else found[0]


def why_unread(curve: list[tuple[float, float]], removed: float, reach: float = REACH) -> str | None:
    """Why `read_at` gives None at `removed` % (a predicate for 'the curve ...'): beyond its ends,
    or between two points more than `reach` apart; None when the curve can be read there."""
    if read_at(curve, removed, reach) is not None:
        return None
    xs = [x for x, _ in curve]
    if not xs:
        return "has no points"
    if removed < xs[0] or removed > xs[-1]:
        where = f"at {xs[0]:.1f} %" if math.isclose(xs[0], xs[-1]) else f"from {xs[0]:.1f} to {xs[-1]:.1f} %"
        return f"was measured only {where} removed"
    x0, x1 = max(x for x in xs if x < removed), min(x for x in xs if x > removed)
    return f"has its nearest points at {x0:.1f} and {x1:.1f} % removed, {x1 - x0:.1f} apart, more than {reach:g}"


@dataclass(frozen=True)
class Match:
    """Two methods at matched weights removed: means and standard deviations over seeds."""

    removed: float
    a: float
    a_std: float
    b: float
    b_std: float
    drop: float = 0.0  # the largest accuracy change across a segment either side was read on (0: measured points)
    pairs: tuple = ()  # ((a, b) per seed): the seeds' paired values behind the means

    @property
    def diff(self) -> float:
        return self.a - self.b

    @property
    def verdict(self) -> str:
        """'ahead' or 'behind' when the 95 % t-interval of the seeds' paired differences excludes 0
        (stats.paired_verdict), 'level' when it includes 0 (no difference shown), and 'unsettled'
        where a curve was read by a straight line across a drop as large as the difference."""
        word = paired_verdict([a for a, _ in self.pairs], [b for _, b in self.pairs])
        if word == "same":
            return "level"
        return "unsettled" if self.drop >= abs(self.diff) else "ahead" if word == "more" else "behind"


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def versus(a: dict[int, tuple[float, float]], b: Curves, reach: float = REACH) -> Match | None:
    """Method a ({seed: (removed, accuracy)}) against curve b, each seed at its own removed %;
    None unless both have every seed and b was measured there in each."""
    return _versus(a, b, reach)


def _versus(a: dict[int, tuple[float, float]], b: Curves, reach: float, a_drop: float = 0.0) -> Match | None:
    if not a or set(a) != set(b):
        return None
    b_read = [read_with_drop(b[seed], removed, reach) for seed, (removed, _) in a.items()]
    if any(v is None for v in b_read):
        return None
    a_values, b_values = [acc for _, acc in a.values()], [v for v, _ in b_read]
    return Match(statistics.mean(x for x, _ in a.values()), statistics.mean(a_values), _std(a_values),
                 statistics.mean(b_values), _std(b_values), max([a_drop, *(d for _, d in b_read)]),
                 tuple(zip(a_values, b_values)))


def compare_at(a: Curves, b: Curves, removed: float, reach: float = REACH) -> Match | None:
    """Curves a and b at the same `removed` %, seed against seed; None where either was not
    measured there (a verdict is refused, not guessed)."""
    read = {seed: read_with_drop(curve, removed, reach) for seed, curve in a.items()}
    if any(v is None for v in read.values()):
        return None
    return _versus({seed: (removed, v) for seed, (v, _) in read.items()}, b, reach,
                   max((d for _, d in read.values()), default=0.0))


def verdict_ranges(a: Curves, b: Curves, grid=GRID, reach: float = REACH) -> list[tuple[str, list[float]]]:
    """[(verdict, [removed %, ...])] along `grid`, one entry per run of equal verdicts; the
    verdict is 'not measured' where the curves cannot be compared."""
    out: list[tuple[str, list[float]]] = []
    for x in grid:
        m = compare_at(a, b, x, reach)
        word = "not measured" if m is None else m.verdict
        if out and out[-1][0] == word:
            out[-1][1].append(x)
        else:
            out.append((word, [x]))
    return out


def span(xs: list[float]) -> str:
    """'40-80 %' or '30 %'."""
    return f"{xs[0]:g} %" if len(xs) == 1 else f"{xs[0]:g}-{xs[-1]:g} %"
