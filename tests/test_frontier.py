"""The frontier: ranking, masks, folding and the measured points."""
import math

import pytest
import torch

from snn_edu import frontier
from snn_edu.analysis import params_removed_pct
from snn_edu.attribution import unit_conductance
from snn_edu.errors import ConfigError
from snn_edu.models import build_model
from snn_edu.training import Trainer, TrainConfig


def test_keep_top_breaks_ties_by_index_and_never_revives():
    scores = torch.tensor([0.5, 2.0, 0.5, 3.0, 0.5])
    assert frontier.keep_top(scores, 3).tolist() == [True, True, False, True, False]
    alive = torch.tensor([True, False, True, True, True])
    assert frontier.keep_top(scores, 3, alive).tolist() == [True, False, True, True, False]
    assert frontier.keep_top(scores, 5, alive).tolist() == alive.tolist()  # a removed unit stays removed


def test_n_keep():
    assert [frontier.n_keep(20, t) for t in (0, 25, 50, 75, 90, 95)] == [20, 15, 10, 5, 2, 1]
    assert frontier.n_keep(784, 25) == 588 and frontier.n_keep(3, 100) == 1


@pytest.fixture(scope="module")
def trained_pair(tiny):
    """A briefly trained switcher MLP (one TNN and one switcher epoch) and a dense MLP."""
    config = TrainConfig(switcher="lite", epochs=2, max_steps=6, lr=0.05, momentum=0.9, init_std=None)
    al = Trainer(config, *tiny, progress=False)
    al.fit()
    dense = Trainer(TrainConfig(**{**config.__dict__, "schedule": "dense"}), *tiny, progress=False)
    dense.fit()
    return al, dense, config


def test_folded_copy_computes_what_the_gated_model_computes(trained_pair):
    al, _, _ = trained_pair
    gates = al.model.gates("eval")
    folded, alive = frontier.folded_copy(al.model, gates)
    x = al.test_x[:50]
    with torch.no_grad():
        torch.testing.assert_close(folded(x), al.model.eval()(x), atol=1e-5, rtol=1e-4)
    assert all(layer.gate is None for layer in folded.gated_layers().values())
    for name, gate in gates.items():
        assert torch.equal(alive[name], gate != 0)


def test_frontier_rows(trained_pair, tiny):
    al, dense, config = trained_pair
    settings = frontier.FrontierSettings(targets=(0, 50, 90), finetune_epochs=1, attribution_digits=16,
                                         attribution_steps=2, unit="units")
    rows = frontier.frontier_rows(al.model, dense.model, al.metrics(), config, *tiny, settings)
    assert len(rows) == 1 + len(frontier.CURVES) * 3 * 2
    assert all(set(r) == set(frontier.COLUMNS) for r in rows)
    natural = rows[0]
    assert natural["criterion"] == "natural" and natural["target_removed_pct"] is None

    def pick(criterion, source, target, epochs):
        (row,) = [r for r in rows if (r["criterion"], r["source"], r["target_removed_pct"], r["finetune_epochs"])
                  == (criterion, source, target, epochs)]
        return row

    # gates folded in, nothing more removed: exactly the switcher model as trained
    at_zero = pick("switcher", "switcher", 0, 0)
    assert at_zero["test_accuracy"] == natural["test_accuracy"]
    assert at_zero["params_removed_pct"] == natural["params_removed_pct"]
    # the dense model at target 0 is the dense model
    assert pick("magnitude", "dense", 0, 0)["test_accuracy"] == dense.evaluate()["test_accuracy"]
    for criterion in ("magnitude", "random", "conductance"):
        # the same number of units per layer for every dense-model criterion; masks stay fixed in fine-tuning
        assert pick(criterion, "dense", 50, 0)["params_removed_pct"] == pick("magnitude", "dense", 50, 0)["params_removed_pct"]
        assert pick(criterion, "dense", 90, 1)["params_removed_pct"] == pick(criterion, "dense", 90, 0)["params_removed_pct"]
    removed = [pick("switcher", "switcher", t, 0)["params_removed_pct"] for t in (0, 50, 90)]
    assert removed == sorted(removed) and removed[-1] > 90
    # the switcher source never brings back a unit the switcher removed
    assert pick("random", "switcher", 50, 0)["params_removed_pct"] >= pick("random", "dense", 50, 0)["params_removed_pct"]


def test_measure_keeps_masked_units_out(trained_pair, tiny):
    _, dense, config = trained_pair
    masks = {name: torch.arange(layer.weight.shape[0]) % 2 == 0 for name, layer in dense.model.gated_layers().items()}
    before = {name: layer.weight.detach().clone() for name, layer in dense.model.gated_layers().items()}
    points = frontier.measure(dense.model, masks, config, *tiny, finetune_epochs=1)
    assert [p[0] for p in points] == [0, 1] and points[0][2] == points[1][2]
    for name, layer in dense.model.gated_layers().items():  # measured on a copy
        assert torch.equal(layer.weight, before[name]) and layer.fixed_gate is None


@pytest.mark.parametrize("name, sizes", [("mlp", {"fc1": 784, "fc2": 300, "fc3": 100}),
                                         ("lenet5", {"conv1": 20, "conv2": 50, "fc1": 800, "fc2": 500})])
def test_unit_conductance_has_one_value_per_gated_unit(name, sizes, tiny):
    model = build_model(name, switcher=None, **({"init_std": None} if name == "mlp" else {}))
    x, y = tiny[1].tensors[0][:6], tiny[1].tensors[1][:6]
    model.gated_layers()[next(iter(sizes))].set_fixed_gate(torch.cat([torch.zeros(2), torch.ones(sizes[next(iter(sizes))] - 2)]))
    for layer, n in sizes.items():
        c = unit_conductance(model, layer, x, y, n_steps=2, chunk=4)
        assert c.shape == (n,) and bool((c >= 0).all())
    first = unit_conductance(model, next(iter(sizes)), x, y, n_steps=2, chunk=4)
    assert first[:2].abs().sum() == 0 and first[2:].abs().sum() > 0  # a removed unit conducts nothing


def test_csv_round_trip_and_summary(tmp_path):
    rows = [{"model": "mlp", "criterion": c, "source": "dense", "target_removed_pct": t, "finetune_epochs": 0,
             "seed": s, "test_accuracy": 90.0 + s + (t or 0) / 100, "params_removed_pct": 10.0 * (t or 0) / 25}
            for c in ("magnitude", "natural") for t in ((50.0,) if c == "magnitude" else (None,)) for s in (0, 1, 2)]
    rows.append({**rows[0], "seed": 3, "test_accuracy": math.nan})
    frontier.write_csv(rows, tmp_path / "f.csv")
    back = frontier.read_csv(tmp_path / "f.csv")
    assert back[:6] == rows[:6] and math.isnan(back[6]["test_accuracy"])
    assert (tmp_path / "f.csv").read_text().splitlines()[0] == ",".join(frontier.COLUMNS)
    point = frontier.point(frontier.summarise(back), "mlp", "magnitude", "dense", 50.0, 0)
    assert point["n"] == 3 and point["seeds"] == 4
    assert point["accuracy"] == pytest.approx(91.5) and point["accuracy_std"] == pytest.approx(1.0)


def test_params_removed_counts_the_masks(trained_pair):
    _, dense, _ = trained_pair
    masks = {n: frontier.keep_top(frontier.unit_scores("magnitude", dense.model, None, frontier.SETTINGS["smoke"], 0)[n],
                                  frontier.n_keep(layer.weight.shape[0], 50))
             for n, layer in dense.model.gated_layers().items()}
    kept = 392 * 150 + 150 * 50 + 50 * 10
    assert params_removed_pct(dense.model, {n: m.float() for n, m in masks.items()}) == pytest.approx(
        100 * (1 - kept / (784 * 300 + 300 * 100 + 100 * 10)))


def test_every_registered_criterion_scores_each_unit_and_names_its_curves(trained_pair, tiny):
    from snn_edu.criteria import CRITERIA, RankingInputs
    from snn_edu.data import subset

    al, _, _ = trained_pair
    inputs = RankingInputs(subset(tiny[0], 8, 0), seed=0, gates=al.model.gates("eval"), steps=4)
    for name, criterion in CRITERIA.items():
        scores = criterion.scores(al.model, inputs)
        assert {n: len(s) for n, s in scores.items()} == {n: l.weight.shape[0] for n, l in al.model.gated_layers().items()}, name
    assert [c for c, _ in frontier.CURVES] == [n for s in frontier.SOURCES for n, c in CRITERIA.items() if s in c.sources]
    assert frontier.curve_label("magnitude", "dense") == f"{CRITERIA['magnitude'].label} (dense model)"
    with pytest.raises(ConfigError, match="unknown criterion 'taylor'"):
        frontier.unit_scores("taylor", al.model, None, frontier.SETTINGS["smoke"], 0)


def test_targets_in_weights_put_every_curve_at_the_same_weights_removed(trained_pair, tiny):
    al, dense, config = trained_pair
    settings = frontier.FrontierSettings(targets=(50, 90), finetune_epochs=0, attribution_digits=16,
                                         attribution_steps=2, unit="weights")
    rows = [r for r in frontier.frontier_rows(al.model, dense.model, al.metrics(), config, *tiny, settings)
            if r["criterion"] != "natural"]
    natural = al.metrics()["params_removed_pct"]
    assert sum(r["source"] == "dense" for r in rows) >= 6  # every dense curve at both targets, at least
    for r in rows:  # units are whole: within a point of the target, where the source has not removed more already
        if r["source"] == "dense" or natural < r["target_removed_pct"]:
            assert abs(r["params_removed_pct"] - r["target_removed_pct"]) < 1.0, r
    by_units = frontier.target_masks(dense.model, {n: torch.rand(len(m)) for n, m in
                                                   frontier.alive_unit_masks(dense.model, {}).items()}, 50, "units")
    assert all(m.any() for m in by_units.values())


def test_the_frontier_table_says_what_its_targets_count():
    from snn_edu.report import frontier_table

    rows = [{"model": "mlp", "criterion": c, "source": s, "target_removed_pct": 50.0, "finetune_epochs": 0,
             "seed": 0, "test_accuracy": 90.0, "params_removed_pct": 50.2} for c, s in frontier.CURVES]
    summary = frontier.summarise(rows)
    assert frontier_table(summary, "mlp", 0, "weights").startswith("| target: weights removed | 50 % |")
    assert frontier_table(summary, "mlp", 0).startswith("| units removed per layer | 50 % |")
