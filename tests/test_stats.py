"""The package's one Spearman: average ranks for ties, nan for a constant side, and how reports print nan."""
import math

import pytest
import torch

from snn_edu import stats
from snn_edu.bench import format_agreement
from snn_edu.perfdoc import agreement_table


def test_average_ranks_share_ties():
    assert stats.average_ranks(torch.tensor([10.0, 20.0, 20.0, 30.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert stats.average_ranks(torch.tensor([[3.0, 1.0], [3.0, 2.0]])).tolist() == [3.5, 1.0, 3.5, 2.0]
    assert stats.average_ranks(torch.tensor([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_spearman_equals_hand_computed_values():
    # x ranks 1..5; y = (5, 6, 7, 8, 7) ranks (1, 2, 3.5, 5, 3.5). Centred: (-2, -1, 0, 1, 2) and
    # (-2, -1, 0.5, 2, 0.5); dot product 8, squared norms 10 and 9.5
    x, y = torch.tensor([1.0, 2, 3, 4, 5]), torch.tensor([5.0, 6, 7, 8, 7])
    assert stats.spearman(x, y) == pytest.approx(8 / math.sqrt(10 * 9.5))
    assert stats.spearman(y, x) == pytest.approx(8 / math.sqrt(10 * 9.5))
    # without ties: 1 - 6 sum(d^2) / (n (n^2 - 1)); d = (0, -2, 1, 1, 0), sum 6, n = 5
    assert stats.spearman(x, torch.tensor([0.1, 0.4, 0.2, 0.3, 0.5])) == pytest.approx(1 - 6 * 6 / (5 * 24))
    a = torch.arange(10.0)
    assert stats.spearman(a, a ** 3) == pytest.approx(1.0) and stats.spearman(a, -a) == pytest.approx(-1.0)
    assert -1.0 <= stats.spearman(a, -a) and stats.spearman(a, a ** 3) <= 1.0  # never outside [-1, 1]
    assert stats.spearman(a.reshape(2, 5), a) == pytest.approx(1.0)  # flattened: shapes may differ, lengths not
    with pytest.raises(ValueError, match="equal lengths, got 10 and 9"):
        stats.spearman(a, a[:9])


@pytest.mark.parametrize("a, b", [(torch.ones(4), torch.arange(4.0)), (torch.arange(4.0), torch.zeros(4)),
                                  (torch.ones(4), torch.ones(4)), (torch.tensor([2.0]), torch.tensor([3.0])),
                                  (torch.zeros(0), torch.zeros(0))])
def test_spearman_is_nan_when_a_side_is_constant(a, b):
    assert math.isnan(stats.spearman(a, b))


def test_reports_say_undefined_for_a_constant_gate():
    assert stats.format_rho(0.98765) == "0.9877" and stats.format_rho(-0.5, "+.2f") == "-0.50"
    assert stats.format_rho(math.nan) == stats.format_rho(None) == "undefined (constant)"
    a = {"units": 4, "max_abs_diff": 0.0, "max_rel_diff": 0.0, "spearman": stats.spearman(torch.ones(4), torch.ones(4)),
         "pruned_fp32": 0, "pruned_low": 0, "pruned_disagree": 0}
    assert "Spearman undefined (constant), pruned 0" in format_agreement("fc1", a)
    run = {"gate_agreement": {"lite": {"bf16": {"eval": {"fc1": a}}}}}
    assert "| 0.0000 (0.00 %) | undefined (constant) | 0 |" in agreement_table(run)


def test_a_duration_is_rounded_before_it_is_split_into_minutes_and_seconds():
    from snn_edu.report import minutes

    assert minutes(539.6) == "9 min 00 s" and minutes(59.4) == "0 min 59 s" and minutes(3427.2) == "57 min 07 s"
