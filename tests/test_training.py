import pytest
import torch
from torch.utils.data import TensorDataset

from snn_edu.data import shuffled_labels, subset
from snn_edu.errors import CheckpointError
from snn_edu.training import Trainer, TrainConfig, phase_for_epoch


def lite(**kw):
    kw.setdefault("switcher", "lite")
    kw.setdefault("epochs", 2)
    kw.setdefault("max_steps", 3)
    return TrainConfig(**kw)


def snapshot(params):
    return [p.detach().clone() for p in params]


def unchanged(before, params):
    return all(torch.equal(a, b) for a, b in zip(before, params))


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_phases_freeze_the_other_network(model, tiny):
    trainer = Trainer(lite(model=model), *tiny, progress=False)
    x, y = tiny[0].tensors[0][:64], tiny[0].tensors[1][:64]
    net = trainer.model

    trainer.enter_phase("tnn")
    sw, tnn = snapshot(net.gate_parameters()), snapshot(net.tnn_parameters())
    trainer.step(x, y)
    assert unchanged(sw, net.gate_parameters()), "TNN phase changed a switcher parameter"
    assert not unchanged(tnn, net.tnn_parameters())

    trainer.enter_phase("snn")
    sw, tnn = snapshot(net.gate_parameters()), snapshot(net.tnn_parameters())
    trainer.step(x, y)
    assert unchanged(tnn, net.tnn_parameters()), "switcher phase changed a TNN weight"
    assert not unchanged(sw, net.gate_parameters())


def test_release_parity_and_schedules():
    mlp = [phase_for_epoch(TrainConfig(model="mlp"), e) for e in range(4)]
    lenet = [phase_for_epoch(TrainConfig(model="lenet5"), e) for e in range(7)]
    assert mlp == ["tnn", "snn", "tnn", "snn"]
    assert lenet == ["warmup"] * 4 + ["snn", "tnn", "snn"]
    sl = [phase_for_epoch(TrainConfig(schedule="separate", epochs=4), e) for e in range(4)]
    assert sl == ["warmup", "warmup", "snn", "snn"]
    assert phase_for_epoch(TrainConfig(schedule="dense"), 3) == "dense"
    assert phase_for_epoch(TrainConfig(model="mlp", warmup_epochs=1), 0) == "warmup"


def test_same_seed_same_gates_and_history(tiny):
    runs = [Trainer(lite(seed=s), *tiny, progress=False).fit() for s in (3, 3, 4)]
    a, b, c = (r.epochs[-1]["gates_eval"] for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].column("train_loss") == runs[1].column("train_loss")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_history_records_both_gate_modes_and_images(tiny):
    history = Trainer(lite(epochs=1), *tiny, progress=False).fit()
    record = history.epochs[0]
    assert set(record["gates_eval"]) == set(record["gates_train"]) == {"fc1", "fc2", "fc3"}
    assert record["gates_eval"]["fc1"].shape == (784,)
    assert record["images"]["fc1"].shape == (784, 300) and record["images"]["fc1"].dtype == torch.float16
    assert record["phase"] == "tnn" and record["seconds"] > 0


def test_resume_continues_exactly(tiny, tmp_path):
    straight = Trainer(lite(epochs=3), *tiny, progress=False)
    straight.fit()
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()
    resumed = Trainer(lite(epochs=3), *tiny, out=tmp_path, progress=False)
    history = resumed.fit(resume=True)
    assert len(history.epochs) == 3
    assert history.column("test_accuracy") == straight.history.column("test_accuracy")
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_resume_refuses_a_different_configuration(tiny, tmp_path):
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()
    with pytest.raises(CheckpointError, match="lr=0.1, not 0.05"):
        Trainer(lite(epochs=2, lr=0.05), *tiny, out=tmp_path, progress=False).fit(resume=True)


def test_corrupted_checkpoint_is_a_clear_error_and_kept(tiny, tmp_path):
    Trainer(lite(epochs=1), *tiny, out=tmp_path, progress=False).fit()
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupted") as info:
        Trainer(lite(epochs=2), *tiny, out=tmp_path, progress=False).fit(resume=True)
    assert "\n" not in str(info.value)
    assert ckpt.stat().st_size == 1000


def test_nan_loss_stops_with_the_divergence_message(tiny, tmp_path):
    x, y = (t.clone() for t in tiny[0].tensors)
    trainer = Trainer(lite(epochs=3, max_steps=None), TensorDataset(x, y), tiny[1], out=tmp_path,
                      progress=False)
    trainer.fit()  # three good epochs
    x[:] = float("nan")
    history = Trainer(lite(epochs=5, max_steps=None), TensorDataset(x, y), tiny[1], out=tmp_path,
                      progress=False).fit(resume=True)
    assert history.diverged is not None
    assert "loss became nan at epoch 3, step 0, phase snn" in history.diverged
    assert len(history.epochs) == 3  # nothing recorded for the diverged epoch
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 3


def test_random_labels_give_chance_accuracy(mnist5k):
    train, test = (shuffled_labels(ds, seed=0) for ds in (subset(mnist5k[0], 1024, seed=0), mnist5k[1]))
    trainer = Trainer(lite(epochs=2, max_steps=None, momentum=0.9, lr=0.01), train, test, progress=False)
    history = trainer.fit()
    assert 5.0 <= history.epochs[-1]["test_accuracy"] <= 15.0


@pytest.mark.parametrize("phase", ["tnn", "snn"])
def test_reference_mode_does_the_same_maths(phase, tiny):
    x, y = tiny[0].tensors[0][:64], tiny[0].tensors[1][:64]
    ours, ref = (Trainer(lite(), *tiny, progress=False, reference=r) for r in (False, True))
    for trainer in (ours, ref):
        trainer.enter_phase(phase)
        trainer.step(x, y)
    for (name, a), b in zip(ours.model.named_parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, msg=name)
    assert ref.evaluate()["test_accuracy"] == ours.evaluate()["test_accuracy"]


def test_result_line_reports_the_raw_numbers_and_divergence():
    from snn_edu.metrics import result_line

    m = {"test_accuracy": 97.1, "pruned_architecture": "700-250-80", "params_removed_pct": 22.5, "diverged": False}
    assert result_line(m) == "test accuracy 97.10 % (raw), pruned architecture 700-250-80, params removed 22.50 %"
    assert result_line({**m, "test_accuracy": None, "diverged": True}).startswith("test accuracy n/a")
    assert result_line({**m, "diverged": True}).endswith("(DIVERGED)")
