"""The switcher against its peers on the frontier: measuring, planning, sentences and figures."""
import json
import shutil

import matplotlib
import pytest
import torch

from snn_edu import frontier, peers, widgets
from snn_edu.variants import L0_LAMBDAS, PEERS
from snn_edu.analysis import params_removed_pct
from snn_edu.cli import main
from snn_edu.frontier import FrontierSettings
from snn_edu.study import Job, plan
from snn_edu.training import TrainConfig, Trainer, evaluate

matplotlib.use("Agg")
SETTINGS = FrontierSettings(targets=(0, 50), finetune_epochs=1)


def trained(tiny, gate):
    trainer = Trainer(TrainConfig(switcher="lite", epochs=1, max_steps=3, gate=gate,
                                  schedule="joint" if gate == "l0" else "alternate"), *tiny, progress=False)
    trainer.fit()
    return trainer.model.eval()


def test_peer_rows_start_from_each_trained_model(tiny):
    direct, l0 = trained(tiny, "direct"), trained(tiny, "l0")
    with torch.no_grad():  # a known share pruned: every third fc1 input (262 of 784) closed for good
        l0.fc1.gate.log_alpha[::3] = -10.0
    config = TrainConfig(switcher="lite", epochs=1, max_steps=2, seed=0)
    rows = peers.peer_rows({"direct": direct, "l0-0.1": l0}, config, *tiny, SETTINGS)
    assert all(set(r) == set(frontier.COLUMNS) for r in rows)
    x, y = tiny[1].tensors
    for name, model in (("direct", direct), ("l0-0.1", l0)):
        result = evaluate(model, x, y)
        (as_trained,) = [r for r in rows if (r["criterion"], r["source"], r["finetune_epochs"]) == ("natural", name, 0)]
        assert as_trained["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=0.5)  # one digit of 200
        assert as_trained["params_removed_pct"] == pytest.approx(params_removed_pct(model, result["gates"]))
        assert [r["finetune_epochs"] for r in rows if (r["criterion"], r["source"]) == ("natural", name)] == [0, 1]
    l0_point = next(r for r in rows if r["source"] == "l0-0.1")
    assert l0_point["params_removed_pct"] == pytest.approx(100 * 262 * 300 / (784 * 300 + 300 * 100 + 100 * 10))
    ranked = {(r["target_removed_pct"], r["finetune_epochs"]): r for r in rows if r["criterion"] == "direct"}
    assert set(ranked) == {(0, 0), (0, 1), (50, 0), (50, 1)}
    assert ranked[(0, 0)]["test_accuracy"] == next(r for r in rows if r["source"] == "direct")["test_accuracy"]
    assert ranked[(50, 0)]["params_removed_pct"] > 40


def test_plan_measures_the_peers_after_every_peer_run():
    jobs = plan(["mlp"], list(PEERS), seeds=2)
    ids = [j.id for j in jobs]
    assert ids[-2:] == ["mlp/peers/seed0", "mlp/peers/seed1"]
    assert [n.kind for n in Job.parse("mlp/peers/seed1").needs] == list(PEERS)
    assert all(ids.index(n.id) < ids.index(j.id) for j in jobs for n in j.needs)
    assert not [j for j in plan(["mlp"], list(PEERS)[:-1], seeds=1) if j.stage == "measure"]
    assert len(L0_LAMBDAS) >= 4


def rows_of(points, seeds=(0, 1, 2)):
    """Frontier rows from (criterion, source, target, removed, accuracy) tuples of one model: every
    seed at the same removed %, accuracies spread by -0.1, 0, +0.1."""
    return [{"model": "mlp", "criterion": c, "source": s, "target_removed_pct": t, "finetune_epochs": 0,
             "seed": seed, "test_accuracy": a + 0.1 * (seed - 1), "params_removed_pct": r}
            for c, s, t, r, a in points for seed in seeds]


def test_the_switcher_is_compared_only_where_a_peer_was_measured():
    l0 = [("natural", "l0-0.01", None, 20.0, 90.0), ("natural", "l0-0.1", None, 30.0, 80.0)]
    direct = [("direct", "direct", 0, 0.0, 92.0), ("direct", "direct", 50, 40.0, 82.0)]

    def last_sentence(removed, accuracy, *more):
        rows = rows_of([("natural", "switcher", None, removed, accuracy), *direct, *l0, *more])
        return peers.findings(frontier.summarise(rows), "mlp")[-1]

    text = last_sentence(25.0, 88.0)
    # L0 is read at 25 % on the straight line from 90 to 80 %: 3 points ahead decides nothing across that fall
    assert "the switcher, at 88.00 ± 0.10 %," in text and \
        "was not measured closely enough against L0 (85.00 ± 0.10 %, +3.00 points" in text and "a drop of 10.00" in text
    assert "beats L0 (85.00 ± 0.10 %, +10.50 points" in last_sentence(25.0, 95.5)  # a margin wider than the fall
    # the direct curve's two points lie 40 points apart: nothing is read between them
    assert ("was not measured against the direct gate at this sparsity (seed 0, at 25.0 % removed: the direct gate's "
            "curve has its nearest points at 0.0 and 40.0 % removed, 40.0 apart, more than 15") in text
    measured_there = ("natural", "l0-0.03", None, 25.0, 85.0)  # an L0 point at exactly the switcher's sparsity
    assert "trails L0 (85.00 ± 0.10 %, -0.05 points" in last_sentence(25.0, 84.95, measured_there)  # in every seed
    rows = rows_of([("natural", "switcher", None, 25.0, 85.0), *direct, *l0, measured_there])
    for r, jitter in zip([r for r in rows if r["source"] == "switcher"], (-0.5, 0.6, -0.1)):  # seeds disagree
        r["test_accuracy"] += jitter
    assert "shows no difference (95 % interval over seeds, paired by seed, includes 0) from L0" in \
        peers.findings(frontier.summarise(rows), "mlp")[-1]
    assert "was not measured against L0 at this sparsity" in last_sentence(10.0, 95.0)  # never extrapolated
    # the direct gate measured close by: its point there is its trained model pruned afterwards, and says so
    close = [("direct", "direct", 0, 0.0, 92.0), ("direct", "direct", 25, 25.0, 60.0), ("direct", "direct", 50, 40.0, 50.0)]
    rows = rows_of([("natural", "switcher", None, 25.0, 88.0), *close, *l0])
    assert "beats the direct gate (its model pruned after training by its own gate, without retraining: 60.00 ± 0.10 %" \
        in peers.findings(frontier.summarise(rows), "mlp")[-1]
    assert "beats L0 (85.00" in last_sentence(25.0, 95.5)  # L0's runs are compared as trained: nothing to add
    assert peers.pruned_after("l0", 0) == "" and "then fine-tuned as the switcher was" in peers.pruned_after("direct", 2)
    # BC-GNJ is one point per seed: compared only at exactly its sparsity
    bc = ("natural", "bc", None, 50.0, 86.0)
    assert "was not measured against BC-GNJ at this sparsity (seed 0, at 25.0 % removed: BC-GNJ's curve was measured " \
        "only at 50.0 % removed" in last_sentence(25.0, 88.0, bc)


@pytest.fixture(scope="module")
def peer_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("peers")
    assert main(["reproduce", "--level", "smoke", "--models", "mlp", "--variants", *PEERS, "--seeds", "2",
                 "--no-progress", "--out", str(out)]) == 0
    return out


def test_a_smoke_study_of_the_peers_writes_their_frontier_rows(peer_study):
    rows = frontier.read_csv(peer_study / "frontier.csv")
    for seed in (0, 1):
        mine = [r for r in rows if r["seed"] == seed]
        assert {r["source"] for r in mine if r["criterion"] == "natural"} == set(PEERS)
        assert {(r["target_removed_pct"], r["finetune_epochs"]) for r in mine if r["criterion"] == "direct"} == {
            (t, e) for t in frontier.SETTINGS["smoke"].targets for e in (0, 1)}
    manifest = json.loads((peer_study / "MANIFEST.json").read_text())
    assert manifest["complete"] and "mlp/peers/seed1" in manifest["plan"]


def test_the_peers_job_regenerates_its_rows(peer_study, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(peer_study, copy)
    (copy / "mlp" / "peers" / "seed1" / "metrics.json").unlink()
    assert main(["reproduce", "--level", "smoke", "--out", str(copy), "--run", "mlp/peers/seed1", "--no-progress"]) == 0
    again = json.loads((copy / "mlp" / "peers" / "seed1" / "metrics.json").read_text())["rows"]
    assert again == json.loads((peer_study / "mlp" / "peers" / "seed1" / "metrics.json").read_text())["rows"]


def test_the_table_figure_and_mask_widget_read_the_study(peer_study):
    runs = peers.load_method_runs(peer_study / "mlp")
    table = peers.table_markdown("mlp", runs)
    assert "| paper | L0hc (lambda sep.) | | 98.20 | 266-88-33 | 90.06 |" in table
    assert table.count("| **ours** |") == len(PEERS) and " ± " in table.split("**ours**")[1]
    summary = frontier.summarise(frontier.read_csv(peer_study / "frontier.csv"))
    fig = widgets.peers_figure(summary, "mlp", 1)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"L0 hard concrete (one point per lambda)", "paper: L0hc (lambda sep.)",
            "direct model as trained (gates = 0 removed)"} <= set(labels)
    histories = peers.load_method_histories(peer_study / "mlp")
    assert set(histories) == {(m, s) for m in PEERS for s in (0, 1)}
    fig = widgets.peer_masks_figure(histories, "l0-0.1", 1, "fc2", 99)
    assert "epoch 2 [TNN and gates together]" in fig._suptitle.get_text() and fig.axes[2].lines
