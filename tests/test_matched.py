"""Comparisons at matched weights removed: curves read only where they were measured."""
import pytest

from snn_edu import frontier
from snn_edu.matched import AT, Match, REACH, compare_at, read_at, verdict_ranges


def test_a_curve_is_read_only_near_its_measured_points():
    curve = [(0.0, 95.0), (10.0, 94.0), (40.0, 90.0)]
    assert read_at(curve, 10.0) == 94.0
    assert read_at(curve, 5.0) == pytest.approx(94.5)
    assert read_at(curve, 25.0) is None  # 30 points between neighbours: more than REACH
    assert read_at(curve, 25.0, reach=30) == pytest.approx(92.0)
    assert read_at(curve, 45.0) is None and read_at(curve, -1.0) is None  # never extrapolated
    assert REACH == 15


def test_a_point_a_target_put_within_half_a_point_of_the_place_counts_as_measured_there():
    """Targets in weights removed land a hair off (40.01 % for 40): that point is read, with no
    interpolation from a neighbour 15.1 points away; one farther than AT is not."""
    assert AT == 0.5
    assert read_at([(0.0, 95.0), (24.9, 93.0), (40.01, 90.0)], 40.0) == 90.0
    assert read_at([(0.0, 95.0), (24.9, 93.0), (94.98, 30.0)], 95.0) == 30.0  # just short of the end
    assert read_at([(0.0, 95.0), (24.9, 93.0), (40.6, 90.0)], 40.0) is None  # 15.7 between neighbours
    assert read_at([(39.8, 91.0), (40.3, 89.0)], 40.0) == 91.0  # the nearest of two close points


def rows(curve, criterion, source, spread=0.2):
    """Frontier rows of three seeds from [(target, removed, accuracy)], accuracies spread per seed."""
    return [{"model": "lenet5", "criterion": criterion, "source": source, "target_removed_pct": t,
             "finetune_epochs": 0, "seed": seed, "test_accuracy": a + spread * (seed - 1),
             "params_removed_pct": r + seed * 0.7} for t, r, a in curve for seed in range(3)]


def test_a_frontier_verdict_is_refused_where_the_curves_were_not_measured_close_by():
    # the switcher model's curve starts at 70 % of the weights removed, the dense model's ends at 45 %
    gate = rows([(0, 70.0, 96.0), (25, 80.0, 95.0), (50, 90.0, 90.0)], "switcher", "switcher")
    dense = rows([(0, 0.0, 97.0), (25, 20.0, 96.5), (50, 45.0, 95.0)], "magnitude", "dense")
    summary = frontier.summarise(gate + dense)
    pair = (("switcher", "switcher"), ("magnitude", "dense"))
    for removed in (45.0, 60.0, 70.0):  # at units-removed target 0 the two curves sit 70 points apart
        assert frontier.verdict(summary, "lenet5", *pair, 0, removed) is None
    assert frontier.value_at(summary, "lenet5", "magnitude", "dense", 0, 75.0) == "not measured (seed 0's curve was measured only from 0.0 to 45.0 % removed)"
    text = frontier.findings(summary, "lenet5")
    assert any("the switcher model pruned by its gate is without fine-tuning, not measured within reach of each other "
               "at 0-100 %" in t for t in text)


def test_verdicts_follow_the_curves_where_both_were_measured():
    flat = [(0, 0.0, 95.0), (25, 10.0, 95.0), (50, 20.0, 95.0), (75, 30.0, 95.0)]
    a = rows(flat, "switcher", "switcher")
    b = rows([(0, 0.0, 93.0), (25, 10.0, 93.0), (50, 20.0, 92.8), (75, 30.0, 92.6)], "magnitude", "switcher")
    summary = frontier.summarise(a + b)
    curves = [frontier.curves_of(summary, "lenet5", c, s, 0) for c, s in (("switcher", "switcher"), ("magnitude", "switcher"))]
    m = compare_at(*curves, 20.0)  # seed s's points sit 0.7 s further right: seeds 1 and 2 are read between points
    assert m.verdict == "ahead" and m.diff == pytest.approx(2.186) and m.drop == pytest.approx(0.2)
    assert compare_at(*curves, 0.0) is None  # seeds 1 and 2 were first measured at 0.7 and 1.4 %
    ranges = verdict_ranges(*curves)
    assert ranges[0] == ("not measured", [0]) and ranges[1] == ("ahead", [5, 10, 15, 20, 25, 30])
    assert ranges[-1] == ("not measured", [35, 40] + list(range(45, 101, 5)))
    # seed by seed a - b is -0.4, +0.1, +0.6: mean +0.1, and the 95 % interval (-1.14 to +1.34) includes 0
    level = rows([(t, r, acc - 0.1) for t, r, acc in flat], "random", "switcher", spread=-0.3)
    summary = frontier.summarise(a + level)
    assert compare_at(*[frontier.curves_of(summary, "lenet5", c, "switcher", 0) for c in ("switcher", "random")],
                      10.0).verdict == "level"
    # the same mean difference in every seed: the interval is that difference alone, and excludes 0
    steady = rows([(t, r, acc - 0.1) for t, r, acc in flat], "random", "switcher")
    summary = frontier.summarise(a + steady)
    assert compare_at(*[frontier.curves_of(summary, "lenet5", c, "switcher", 0) for c in ("switcher", "random")],
                      10.0).verdict == "ahead"


def test_a_straight_line_across_a_drop_larger_than_the_margin_decides_nothing():
    a = rows([(0, 0.0, 95.0), (25, 10.0, 95.0), (50, 20.0, 94.0), (75, 30.0, 90.0)], "switcher", "switcher")
    b = rows([(0, 0.0, 95.0), (25, 10.0, 94.0), (50, 20.0, 91.0), (75, 30.0, 80.0)], "magnitude", "switcher")
    summary = frontier.summarise(a + b)
    curves = [frontier.curves_of(summary, "lenet5", c, s, 0) for c, s in (("switcher", "switcher"), ("magnitude", "switcher"))]
    m = compare_at(*curves, 20.0)  # 2.86 points apart, but b was read across a fall of 3 points between its points
    assert m.diff == pytest.approx(2.86) and m.drop == pytest.approx(3.0) and m.verdict == "unsettled"
    ahead = ((90.5, 80.2), (90.0, 80.0), (89.5, 79.8))  # 10.3, 10.0, 9.7 points apart
    assert Match(50.0, 90.0, 0.5, 80.0, 0.2, drop=9.0, pairs=ahead).verdict == "ahead"  # a margin of 10 beats a drop of 9
    small = ((90.1, 89.9), (90.0, 89.8), (89.9, 89.7))  # 0.2 points apart in every seed
    assert Match(50.0, 90.0, 0.1, 89.8, 0.1, drop=0.6, pairs=small).verdict == "unsettled"  # smaller than the drop
    assert Match(50.0, 90.0, 0.1, 89.8, 0.1, drop=0.0, pairs=small).verdict == "ahead"


def test_why_a_curve_cannot_be_read_says_which_rule_stops_it():
    from snn_edu.matched import why_unread

    curve = [(10.0, 90.0), (20.0, 88.0), (50.0, 60.0), (55.0, 58.0)]
    assert why_unread(curve, 15.0) is None and why_unread(curve, 52.0) is None
    assert why_unread(curve, 30.0) == "has its nearest points at 20.0 and 50.0 % removed, 30.0 apart, more than 15"
    assert why_unread(curve, 5.0) == why_unread(curve, 60.0) == "was measured only from 10.0 to 55.0 % removed"
    assert why_unread([(98.3, 50.0)], 86.9) == "was measured only at 98.3 % removed"


def test_curves_not_measured_for_one_reason_are_named_together_once():
    gate = rows([(0, 70.0, 96.0), (25, 80.0, 95.0), (50, 90.0, 90.0)], "switcher", "switcher")
    summary = frontier.summarise(gate)
    parts = frontier.grouped_values(summary, "lenet5", 0, 50.0)
    assert parts[-1].endswith("not measured, each for the same reason (no runs of this curve)"), parts
    assert len(parts) == 2 and parts[0].startswith("switcher gate") and "not measured" in parts[0]
