"""The release's recipe as the release builds it, the measured fixes, collapse reporting and the shipped page."""
import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from snn_edu.errors import ConfigError
from snn_edu.layers import KernelReducer
from snn_edu.metrics import collapse
from snn_edu.presets import FIXES, PAPER_FIX, preset, split_level
from snn_edu.recipes import FULL, chosen, passes, recipes_page, rows, verdict, winner
from snn_edu.switcher import Switcher, switcher_spec
from snn_edu.training import History, Trainer, TrainConfig, make_model

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "results" / "recipes"


def test_release_init_statistics_match_the_release():
    """Kaiming normal (fan_out) on LeNet5's weights as stored; N(0, 0.01) for the MLP."""
    lenet = make_model(preset("lenet5", "release")).gated_layers()
    expected = {"conv1": math.sqrt(2 / (20 * 25)), "conv2": math.sqrt(2 / (50 * 25)),
                "fc1": math.sqrt(2 / 800), "fc2": math.sqrt(2 / 500)}  # FC stored (in, out): fan_out = in
    for name, std in expected.items():
        w = lenet[name].weight.detach()
        assert abs(float(w.mean())) < 0.2 * std and float(w.std()) == pytest.approx(std, rel=0.12), name
    for layer in make_model(preset("mlp", "release")).gated_layers().values():
        assert float(layer.weight.detach().std()) == pytest.approx(0.01, rel=0.05)


def test_release_switchers_are_built_as_the_release_builds_them():
    lenet = make_model(preset("lenet5", "release")).gated_layers()
    conv1, conv2 = lenet["conv1"].gate, lenet["conv2"].gate
    # 3-stage kernel reducers: k x k conv to 16 (conv1) or 2 * 20 (conv2), 1x1 at that width, 1x1 back
    for gate, hidden, c_in in ((conv1, 16, 1), (conv2, 40, 20)):
        r = gate.reducer
        assert r.stages == 3
        assert [tuple(r.reduce[0].weight.shape), tuple(r.middle[0].weight.shape), tuple(r.expand[0].weight.shape)] \
            == [(hidden, c_in, 5, 5), (hidden, hidden, 1, 1), (c_in, hidden, 1, 1)]
    # conv1: a U-Net 8..64 with (2, 1) pooling over the 20 x 1 image, no row head: one gate per filter
    assert conv1.unet.spec.widths == (8, 16, 32, 64) and conv1.unet.spec.pool == (2, 1)
    assert not hasattr(conv1.unet, "rows") and lenet["conv1"].gate_in_mode("train").shape == (20, 1)
    # conv2: a 50 x 20 map, one gate per (filter, input channel) kernel slice
    assert conv2.unet.spec.widths == (8, 16, 32, 64, 128) and lenet["conv2"].gate_in_mode("eval").shape == (50, 20)
    assert switcher_spec("release", (800, 500)).widths == (8, 16, 32, 64, 128, 256)
    # the other levels keep 2-stage reducers and one gate per filter
    paper_conv = make_model(preset("lenet5", "cpu")).gated_layers()["conv2"]
    assert paper_conv.gate.reducer.stages == 2 and paper_conv.gate_in_mode("eval").shape == (50,)
    with pytest.raises(ConfigError, match="2 or 3 stages"):
        KernelReducer(3, 5, stages=4)


def test_column_pooling_fold_matches_the_stock_modules():
    """Evaluation folds BatchNorm into the convs; with (2, 1) pooling it must give the same gates."""
    torch.manual_seed(0)
    switcher = Switcher((20, 1), "map", switcher_spec("release", (20, 1)))
    image = torch.randn(20, 1)
    switcher.train()
    for _ in range(3):
        switcher(image)  # running statistics move away from their start
    switcher.eval()
    with torch.no_grad():
        folded = switcher(image)
        switcher.fast = False
        stock = switcher(image)
    assert folded.shape == (20, 1) and torch.allclose(folded, stock, atol=1e-5)


def test_release_trains_the_switchers_batchnorm_in_the_tnn_phase(tiny):
    x, y = tiny[0].tensors[0][:64], tiny[0].tensors[1][:64]
    for bn_in_tnn in (True, False):
        config = preset("mlp", "release", data="mnist5k", switcher="lite", epochs=1, switcher_bn_in_tnn=bn_in_tnn)
        trainer = Trainer(config, *tiny, progress=False)
        bn = trainer.model.gate_batchnorm_parameters()
        convs = [p for p in trainer.model.gate_parameters() if all(p is not q for q in bn)]
        before_bn, before_convs = [p.detach().clone() for p in bn], [p.detach().clone() for p in convs]
        trainer.enter_phase("tnn")
        trainer.step(x, y)
        moved = not all(torch.equal(a, b) for a, b in zip(before_bn, bn))
        assert moved == bn_in_tnn
        assert all(torch.equal(a, b) for a, b in zip(before_convs, convs)), "the switcher's convs moved in a TNN phase"


def test_switcher_lr_gives_the_gates_their_own_rate(tiny):
    config = preset("mlp", "release+switcher-lr", data="mnist5k", switcher="lite", epochs=1)
    trainer = Trainer(config, *tiny, progress=False)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [0.1, 0.01]
    trainer.enter_phase("snn")
    before = [p.detach().clone() for p in trainer.model.gate_parameters()]
    trainer.step(tiny[0].tensors[0][:64], tiny[0].tensors[1][:64])
    step = [(p.detach() - b) for p, b in zip(trainer.model.gate_parameters(), before)]
    grads = [p.grad for p in trainer.model.gate_parameters()]
    assert all(torch.allclose(s, -0.01 * g, atol=1e-7) for s, g in zip(step, grads) if g is not None)


def test_settle_lowers_only_the_tnn_rate_and_only_when_the_gates_turn_on(tiny):
    """LeNet5's TNN learns at 0.1 in the warm-up and at 0.01 from the first gated epoch; the switchers
    keep 0.1; the MLP (no warm-up) is unchanged; the rates survive a checkpoint."""
    config = preset("lenet5", "release+settle", data="mnist5k", switcher="lite", epochs=6, max_steps=1,
                    record_images=False)
    trainer = Trainer(config, *tiny, progress=False)
    rates = []
    for epoch in range(6):
        trainer.train_epoch(epoch)
        rates.append([g["lr"] for g in trainer.optimizer.param_groups])
        trainer.scheduler.step(trainer.phase, 0.0)
    assert rates == [[0.1, 0.1]] * 4 + [[pytest.approx(0.01), 0.1]] * 2
    resumed = Trainer(config, *tiny, progress=False)
    resumed.optimizer.load_state_dict(trainer.optimizer.state_dict())
    resumed.train_epoch(6)
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [pytest.approx(0.01), 0.1]
    mlp = Trainer(preset("mlp", "release+settle", data="mnist5k", switcher="lite", epochs=2, max_steps=1), *tiny,
                  progress=False)
    mlp.train_epoch(0)
    assert [g["lr"] for g in mlp.optimizer.param_groups] == [0.1, 0.1]


def test_levels_compose_and_refuse_unknown_parts():
    c = preset("lenet5", "release+clip+check")
    assert (c.switcher, c.init_std, c.conv_gates, c.switcher_bn_in_tnn, c.clip_grad_norm, c.data, c.epochs) == \
        ("release", "kaiming", "slice", True, 1.0, "mnist5k", 16)
    paper = preset("lenet5", "paper")
    assert paper == preset("lenet5", f"release+{PAPER_FIX}"), "paper is the release plus its one fix"
    assert (paper.data, paper.epochs) == ("mnist", 100)
    assert preset("mlp", "release").conv_gates == "filter"  # no convs to gate by slice
    for bad in ("release+nope", "gpu", "release+clip+clip"):
        with pytest.raises(ConfigError, match="unknown preset level") as e:
            split_level(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="release level covers the MNIST networks"):
        preset("resnet18", "release")
    with pytest.raises(ConfigError, match="--conv-gates slice applies to lenet5"):
        preset("mlp", "cpu", conv_gates="slice")


def record(epoch, phase, acc):
    return {"epoch": epoch, "phase": phase, "test_accuracy": acc}


def test_collapse_is_measured_against_the_warm_up():
    warm = [record(i, "warmup", a) for i, a in enumerate((90.0, 95.0))]
    assert collapse(History(warm + [record(2, "snn", 94.5)])) is None
    why = collapse(History(warm + [record(2, "snn", 60.0), record(3, "tnn", 10.0)]))
    assert why.startswith("collapsed") and "85.00 points below the best warm-up epoch's 95.00 %" in why
    no_warm = History([record(0, "tnn", 80.0), record(1, "snn", 92.0), record(2, "tnn", 86.0)])
    assert "earlier epoch's 92.00 %" in collapse(no_warm)
    assert collapse(History([])) is None


def test_a_collapsed_run_is_reported_in_its_metrics(tmp_path):
    from snn_edu.cli import main

    out = tmp_path / "l5"
    code = main(["train", "--preset", "release+check", "--model", "lenet5", "--epochs", "5", "--warmup-epochs", "1",
                 "--train-size", "256", "--test-size", "200", "--max-steps", "4", "--out", str(out), "--no-progress"])
    import json

    m = json.loads((out / "metrics.json").read_text())
    assert code == 0 and m["collapsed"] == (m["collapse"] is not None)
    assert m["config"]["switcher"] == "release" and m["config"]["conv_gates"] == "slice"
    assert m["gate_categories"]["conv2"]["pruned"] + m["gate_categories"]["conv2"]["weakened"] + \
        m["gate_categories"]["conv2"]["strengthened"] == 1000


def metrics(model, accs, phases, diverged=False):
    return {"test_accuracy": accs[-1], "test_accuracy_per_epoch": accs, "phases": phases, "diverged": diverged,
            "epochs": len(accs), "config": {"epochs": len(accs), "model": model}}


def test_the_targets():
    warm = ["warmup"] * 2 + ["snn", "tnn"]
    assert passes(metrics("lenet5", [90.0, 95.0, 94.5, 94.1], warm))
    assert not passes(metrics("lenet5", [90.0, 95.0, 94.5, 93.9], warm))
    eight = ["warmup"] * 4 + ["snn", "tnn"] * 3  # after 8 epochs too, not only at the end
    assert not passes(metrics("lenet5", [90.0, 95.0, 95.0, 95.0, 80.0, 90.0, 94.0, 93.0, 95.0, 95.0], eight))
    assert passes(metrics("lenet5", [90.0, 95.0, 95.0, 95.0, 80.0, 90.0, 94.0, 94.5, 95.0, 95.0], eight))
    assert passes(metrics("mlp", [50.0, 91.0], ["tnn", "snn"]))
    assert not passes(metrics("mlp", [50.0, 89.0], ["tnn", "snn"]))
    assert not passes(metrics("mlp", [50.0, 95.0], ["tnn", "snn"], diverged=True))


def row(fix, model, passed, collapsed=0, final=(90.0, 90.0, 90.0), removed=50.0, trace=None):
    return {"fix": fix, "model": model, "seeds": 3, "passed": passed, "collapsed": collapsed, "diverged": 0,
            "final": list(final), "removed_mean": removed, "trace": trace or [(fix, model, passed, removed)]}


def test_the_fix_paper_takes():
    table = [row(None, "mlp", 3), row(None, "lenet5", 1, collapsed=2)]
    assert winner(table) is None and chosen(table) is None  # the release is no fix
    table += [row("switcher-lr", "mlp", 0), row("switcher-lr", "lenet5", 0),
              row("clip", "mlp", 0, collapsed=1), row("clip", "lenet5", 3)]
    assert winner(table) is None and chosen(table) == "switcher-lr"  # clip had a collapsed run
    off = table + [row("open", "mlp", 3, removed=0.0), row("open", "lenet5", 3, removed=0.0)]
    assert winner(off) is None and chosen(off) == "switcher-lr"  # on target by never pruning: not counted
    assert "Not counted" in verdict(off) and "`open`" in verdict(off)
    table += [row("open", "mlp", 3), row("open", "lenet5", 3)]
    assert winner(table) == chosen(table) == "open"


def test_a_fix_is_not_blamed_for_a_network_it_leaves_as_the_release_left_it():
    """A fix whose MLP runs are the release's own, epoch for epoch, counts although the MLP barely
    prunes; the same low pruning from runs that differ does not count."""
    same = [(0, [50.0, 91.0], 2.0)]
    table = [row(None, "mlp", 3, removed=2.0, trace=same), row(None, "lenet5", 1, collapsed=2),
             row("switcher-lr", "mlp", 0), row("switcher-lr", "lenet5", 0),
             row("settle", "mlp", 3, removed=2.0, trace=same), row("settle", "lenet5", 2)]
    assert chosen(table) == "settle" and "`settle` on MLP 784-300-100" in verdict(table)
    table[-2] = row("settle", "mlp", 3, removed=2.0, trace=[(0, [50.0, 91.5], 2.0)])
    assert chosen(table) == "switcher-lr" and "Not counted" in verdict(table)


def test_the_shipped_page_and_paper_fix_are_computed_from_the_shipped_runs():
    page = (ROOT / "docs" / "recipes.md").read_text()
    assert page == recipes_page(RECIPES), "regenerate: python -m snn_edu recipes --out docs/recipes.md"
    table = rows(RECIPES)
    assert chosen(table) == PAPER_FIX, "snn_edu.presets.PAPER_FIX must be the fix the measurements choose"
    assert {r["level"] for r in table} >= {"release+check", f"release+{PAPER_FIX}+check"}
    for level in ("release+check", f"release+{PAPER_FIX}+check"):  # what notebook 02's figure reads ships
        assert len(list((RECIPES / level).glob("*/al/seed*/history.pt"))) == 6, level
    assert all(r["seeds"] == 3 for r in table)
    assert set(FIXES) >= {r["fix"] for r in table if r["fix"]}


def test_the_shipped_runs_are_the_levels_they_are_filed_under():
    """Every shipped recipe run's configuration is its level's as snn_edu.presets builds it today
    (so a changed PAPER_FIX or fix cannot leave stale runs behind), apart from the seed and
    whether weight images were recorded; a setting added after a run was made counts at its default."""
    folders = sorted(p for p in RECIPES.iterdir() if (p / "MANIFEST.json").exists())
    for folder in folders:
        for path in folder.glob("*/al/seed*/metrics.json"):
            shipped = json.loads(path.read_text())["config"]
            built = json.loads(json.dumps(dataclasses.asdict(preset(shipped["model"], folder.name, seed=shipped["seed"]))))
            default = json.loads(json.dumps(dataclasses.asdict(TrainConfig(model=shipped["model"]))))
            differ = {k for k in built if built[k] != shipped.get(k, default[k])} - {"record_images"}
            assert not differ, f"{path}: {sorted(differ)} differ from preset({shipped['model']!r}, {folder.name!r})"


def test_the_readme_names_the_fix_paper_takes():
    readme = (ROOT / "README.md").read_text()
    assert f"`paper` is `release+{PAPER_FIX}`" in readme


def test_the_issue_check_section_reads_each_seed_of_its_runs():
    from snn_edu.recipes import SHORT, load_runs, passes, short_check

    results = Path(__file__).resolve().parents[1] / "results" / "recipes"
    runs = load_runs(results, SHORT, "lenet5")
    assert len(runs) >= 3
    text = short_check(results)
    for m in runs:
        assert f"{m['test_accuracy']:.1f} (" in text
    asked = [m for m in runs if m["config"]["seed"] < 3]
    assert ("Seeds 0-2 all met" in text) == all(passes(m) for m in asked)
    assert f"default {json.loads((results / SHORT / 'MANIFEST.json').read_text())['threads_per_job']} threads" in text
