"""Learning-rate schedules: the release's per-phase ReduceLROnPlateau and its stopping rule."""
import pytest
import torch

from snn_edu.cli import main
from snn_edu.errors import ConfigError
from snn_edu.schedules import PhasePlateau
from snn_edu.training import Trainer, TrainConfig


def optimizer(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_one_phase_lowers_its_rate_exactly_as_torchs_plateau():
    losses = [1.0, 0.9, 0.9, 0.95, 0.9, 0.91, 0.9, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    ours, theirs = optimizer(), optimizer()
    plateau = PhasePlateau(ours, 0.1, 0.1, patience=2, stop_lr=None)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, factor=0.1, patience=2)
    rates = []
    for loss in losses:
        plateau.enter("tnn")
        plateau.step("tnn", loss)
        reference.step(loss)
        plateau.enter("tnn")
        rates.append((ours.param_groups[0]["lr"], theirs.param_groups[0]["lr"]))
    assert [a for a, _ in rates] == pytest.approx([b for _, b in rates])
    assert rates[-1][0] == pytest.approx(1e-4)  # three reductions happened


def test_each_phase_keeps_its_own_rate_and_training_stops_when_both_are_low():
    opt = optimizer()
    plateau = PhasePlateau(opt, 0.1, 0.1, patience=1, stop_lr=5e-3)
    seen = []
    for epoch in range(40):
        phase = "tnn" if epoch % 2 == 0 else "snn"
        plateau.enter(phase)
        seen.append((phase, opt.param_groups[0]["lr"]))
        # the TNN's loss keeps falling; the switcher's is flat, so only its rate drops
        plateau.step(phase, 1.0 / (epoch + 1) if phase == "tnn" else 1.0)
        if plateau.finished():
            break
    assert {lr for phase, lr in seen if phase == "tnn"} == {0.1}
    # the idle epochs count against patience too (the release steps both schedulers every epoch)
    assert [lr for phase, lr in seen if phase == "snn"][:4] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    assert len(seen) == 40
    assert not plateau.finished()  # the TNN's rate never dropped
    state = plateau.state_dict()
    plateau.phases["tnn"]["lr"] = 1e-4
    assert plateau.finished()
    restored = PhasePlateau(optimizer(), 0.1, 0.1, patience=1, stop_lr=5e-3)
    restored.load_state_dict(state)
    assert restored.phases == state["phases"]


def test_a_plateau_run_stops_by_its_rule_and_resumes_exactly(tiny, tmp_path):
    config = dict(switcher="lite", max_steps=2, lr_schedule="plateau", patience=0, gamma=0.1, stop_lr=5e-3)
    straight = Trainer(TrainConfig(epochs=20, **config), *tiny, progress=False)
    history = straight.fit()
    # patience 0: a phase's rate drops whenever its loss fails to improve; both phases must fall
    # below 0.005 from 0.1 (two drops each) before the 20-epoch cap
    assert 4 <= len(history.epochs) < 20
    assert all(r["lr"] in (pytest.approx(0.1), pytest.approx(0.01), pytest.approx(0.001), pytest.approx(1e-4))
               for r in history.epochs)
    Trainer(TrainConfig(epochs=3, **config), *tiny, out=tmp_path, progress=False).fit()
    resumed = Trainer(TrainConfig(epochs=20, **config), *tiny, out=tmp_path, progress=False)
    again = resumed.fit(resume=True)
    assert again.column("lr") == history.column("lr")
    assert again.column("test_accuracy") == history.column("test_accuracy")


def test_bad_schedule_flags_are_one_line(capsys):
    with pytest.raises(ConfigError, match="--lr-schedule"):
        TrainConfig(lr_schedule="cosine")
    assert main(["train", "--stop-lr", "-1", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--stop-lr must be a positive number" in err
