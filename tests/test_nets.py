"""The papers' CIFAR and Mini-ImageNet networks and switchers on any classifier: each builds,
runs on its data's shape, trains a smoke epoch on generated images, and compact() computes
what the gated network computes, with exactly the weights param_counts keeps."""
from collections import OrderedDict

import json
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from snn_edu.analysis import ZeroLogits, compact, param_counts, pruned_architecture
from snn_edu.cli import main
from snn_edu.errors import ConfigError
from snn_edu.layers import GatedLinear
from snn_edu.nets import NETWORKS, ImageInput, build_network, gate_classifier
from snn_edu.runs import load_run
from snn_edu.training import Trainer, TrainConfig

# (network, image shape, gate_convs, gate): the papers' networks on CIFAR-shaped images, and
# vgg-cov2 on 28x28 digits; VGG16's 4096 x 4096 FC image trains with direct gates here (a lite
# switcher takes about 20 s a step on it on 2 cores)
CASES = [("vgg-cov2", (3, 32, 32), True, "switcher"),  # on 28x28 digits, FC only: test_cli_trains_vgg_cov2_on_digits
         ("resnet18", (3, 32, 32), False, "switcher"),
         ("resnet34", (3, 32, 32), False, "switcher"), ("mobilenet-v1", (3, 32, 32), False, "switcher"),
         ("vgg16", (3, 32, 32), False, "direct")]
HEADS = {"vgg-cov2": [(16384, 256), (256, 256), (256, 10)], "vgg16": [(512, 4096), (4096, 4096), (4096, 10)],
         "resnet18": [(512, 10)], "resnet34": [(512, 10)], "mobilenet-v1": [(1024, 10)]}


def images(shape, n, seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8),
                         torch.randint(0, 10, (n,), generator=g))


def random_gates(model, seed=0):
    """Fixed gates with about a third of the units pruned, the rest between 0.5 and 2."""
    g = torch.Generator().manual_seed(seed)
    for layer in model.gated_layers().values():
        n = layer.out_channels if hasattr(layer, "out_channels") else layer.in_features
        gate = torch.rand(n, generator=g) * 1.5 + 0.5
        gate[torch.rand(n, generator=g) < 0.33] = 0
        layer.set_fixed_gate(gate)


@pytest.mark.parametrize("name, shape, gate_convs, gate", CASES,
                         ids=[f"{c[0]}-{c[1][0]}x{c[1][1]}{'-convs' if c[2] else ''}" for c in CASES])
def test_network_builds_trains_and_compacts(name, shape, gate_convs, gate):
    config = TrainConfig(model=name, switcher="lite", gate=gate, gate_convs=gate_convs, epochs=1, max_steps=1,
                         batch_size=8, device="cpu")
    trainer = Trainer(config, images(shape, 16, 0), images(shape, 8, 1), progress=False)
    model = trainer.model
    heads = [tuple(m.weight.shape) for n, m in model.gated_layers().items() if isinstance(m, GatedLinear)]
    assert heads == HEADS[name]
    if gate_convs:
        assert list(model.gated_layers())[:2] == ["conv1", "conv2"]
    history = trainer.fit()
    assert len(history.epochs) == 1 and 0 <= history.epochs[0]["test_accuracy"] <= 100
    random_gates(model)
    model.eval()
    x = images(shape, 4, 2).tensors[0]
    with torch.no_grad():
        small = compact(model)
        torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-4)
    kept, total = param_counts(model)
    assert 0 < kept < total
    # neuron gates: compact() keeps whole rows and filters, so its gated layers' sizes are the count
    counted = sum(m.weight.numel() for n, m in small.named_modules()
                  if n.split(".")[0] in model.gated_layers() and isinstance(m, (nn.Linear, nn.Conv2d)))
    assert counted == kept


def test_the_snn_phase_freezes_the_backbone_and_trains_the_gates():
    trainer = Trainer(TrainConfig(model="resnet18", switcher="lite", max_steps=1, batch_size=8, device="cpu"),
                      images((3, 32, 32), 16, 0), images((3, 32, 32), 8, 1), progress=False)
    trainer.enter_phase("snn")
    backbone = list(trainer.model.features.parameters())
    assert backbone and not any(p.requires_grad for p in backbone)
    assert all(p.requires_grad for p in trainer.model.gate_parameters())
    trainer.enter_phase("tnn")
    assert all(p.requires_grad for p in backbone) and trainer.model.fc1.bias.requires_grad


def cifar_resnet18(classes=10):
    import torchvision.models as tvm

    net = tvm.resnet18(weights=None, num_classes=classes)
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return net


def test_gating_torchvisions_resnet18_matches_the_named_network():
    torch.manual_seed(0)
    named = build_network("resnet18", switcher="lite")
    plain = cifar_resnet18()
    plain.load_state_dict({k: v for k, v in named.features.state_dict().items()}, strict=False)
    with torch.no_grad():
        plain.fc.weight.copy_(named.fc1.weight.t())
        plain.fc.bias.copy_(named.fc1.bias)
    gated = gate_classifier(plain, linear=["fc"], switcher="lite")
    gated.net.fc.gate.load_state_dict(named.fc1.gate.state_dict())
    for m in (named, gated):
        m.eval()
    x = images((3, 32, 32), 4, 3).tensors[0]
    with torch.no_grad():
        normalised = named.input(x)
        torch.testing.assert_close(gated(normalised), named(x), rtol=1e-5, atol=1e-5)
    assert torch.equal(gated.gates()["net.fc"], named.gates()["fc1"])
    assert param_counts(gated) == param_counts(named) and pruned_architecture(gated) == pruned_architecture(named)
    random_gates(gated, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(compact(gated)(normalised), gated(normalised), rtol=1e-5, atol=1e-5)
    assert param_counts(gated)[0] == int((compact(gated).net.fc.linear.weight != 0).sum())


def test_a_gated_conv_inside_a_residual_block_needs_the_input_shape_and_then_compacts_exactly():
    with pytest.raises(ConfigError) as info:
        gate_classifier(cifar_resnet18(), linear=["fc"], conv=["layer1.0.conv1"])
    message = str(info.value)
    assert "\n" not in message and message.startswith("layer1.0.conv1: ") and "example=" in message
    torch.manual_seed(0)
    gated = gate_classifier(cifar_resnet18(), linear=["fc"], conv=["layer1.0.conv1"], switcher="lite",
                            example=(3, 16, 16)).eval()
    random_gates(gated, seed=2)
    x = torch.rand(2, 3, 16, 16)
    small = compact(gated)
    with torch.no_grad():
        torch.testing.assert_close(small(x), gated(x), rtol=1e-5, atol=1e-5)
    kept_filters = small.net.layer1[0].conv1.conv.out_channels  # conv, then the BatchNorm its gate follows
    assert kept_filters == int(gated.gates()["net.layer1.0.conv1"].ne(0).sum()) < 64


def test_a_sequential_classifier_is_gated_in_its_convs_and_linears():
    torch.manual_seed(0)
    plain = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 6, 3, padding=1)), ("relu", nn.ReLU()),
                                       ("pool", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
                                       ("fc1", nn.Linear(6 * 14 * 14, 32, bias=False)), ("relu2", nn.ReLU()),
                                       ("fc2", nn.Linear(32, 10))]))
    x = torch.rand(4, 1, 28, 28)
    expected = plain(x)
    gated = gate_classifier(plain, conv=["conv"], switcher="lite")
    assert list(gated.gated_layers()) == ["conv", "fc1", "fc2"]
    gated.set_gated(False)  # switched off, it is the trained network
    torch.testing.assert_close(gated(x), expected)
    gated.set_gated(True)
    random_gates(gated, seed=1)
    gated.eval()
    with torch.no_grad():
        torch.testing.assert_close(compact(gated)(x), gated(x), rtol=1e-5, atol=1e-5)


def test_biases_between_gated_layers_keep_compact_exact():
    """A head with biases, BatchNorm and dropout between its gated layers (as torchvision's): compact()
    equals the gated model, also when a layer's inputs are all closed and its biases alone reach the
    classes (a constant output, carried through the rest of the chain)."""
    torch.manual_seed(0)
    plain = nn.Sequential(OrderedDict([("fc1", nn.Linear(8, 6)), ("bn", nn.BatchNorm1d(6)), ("relu", nn.ReLU()),
                                       ("drop", nn.Dropout(0.5)), ("fc2", nn.Linear(6, 5)), ("relu2", nn.ReLU()),
                                       ("fc3", nn.Linear(5, 3))]))
    plain.bn.running_mean.uniform_(-1, 1)
    plain.bn.running_var.uniform_(0.5, 2)
    gated = gate_classifier(plain, switcher="lite").eval()
    x = torch.rand(16, 8)
    for gates in ({"fc1": torch.tensor([0.0, 0, 1.5, 0, 0.7, 0, 0, 0]), "fc2": torch.tensor([1.2, 0, 0.8, 1.0, 0, 0.5]),
                   "fc3": torch.ones(5)},
                  {"fc1": torch.ones(8), "fc2": torch.zeros(6), "fc3": torch.ones(5)}):  # fc2 sees nothing alive
        for name, layer in gated.gated_layers().items():
            layer.set_fixed_gate(gates[name])
        small = compact(gated)
        with torch.no_grad():
            torch.testing.assert_close(small(x), gated(x), rtol=1e-5, atol=1e-5)
    assert isinstance(small[0], ZeroLogits) and not torch.equal(small(x), torch.zeros_like(small(x)))


def test_a_bias_whose_constant_cannot_be_followed_is_refused_in_one_line():
    plain = nn.Sequential(nn.Linear(8, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    gated = gate_classifier(plain, switcher="lite")
    with pytest.raises(ConfigError, match="LayerNorm sits between it and 2: a removed unit's constant output would mix"):
        compact(gated)


def test_image_input_augments_only_in_training():
    layer = ImageInput(3)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    layer.eval()
    plain = layer(x)
    torch.testing.assert_close(plain, (x.float() / 255 - layer.mean) / layer.std)
    layer.train()
    torch.manual_seed(0)
    a = layer(x)
    torch.manual_seed(0)
    assert torch.equal(a, layer(x)) and not torch.equal(a, plain)  # the seed fixes the crops and flips


def test_unknown_network_and_misplaced_flag_are_one_line():
    with pytest.raises(ConfigError, match="unknown network 'vgg19'"):
        build_network("vgg19")
    with pytest.raises(ConfigError, match="--gate-convs applies to vgg-cov2"):
        build_network("resnet18", gate_convs=True)
    assert set(NETWORKS) == {"vgg-cov2", "vgg16", "resnet18", "resnet34", "mobilenet-v1"}


def test_cli_trains_vgg_cov2_on_digits(tmp_path):
    assert main(["train", "--model", "vgg-cov2", "--data", "mnist5k", "--switcher", "lite", "--epochs", "1",
                 "--max-steps", "2", "--test-size", "64", "--no-progress", "--out", str(tmp_path)]) == 0
    run = load_run(tmp_path)  # the run folder rebuilds its network from the config and the data's shape
    heads = [tuple(m.weight.shape) for m in run.model.gated_layers().values()]
    assert heads == [(12544, 256), (256, 256), (256, 10)]  # the release's gating: FC layers only
    random_gates(run.model)
    run.model.eval()
    x = run.test_set().tensors[0][:4]
    with torch.no_grad():
        torch.testing.assert_close(compact(run.model)(x), run.model(x), rtol=1e-4, atol=1e-4)


def test_a_switcher_that_cannot_fit_is_refused_before_any_work(monkeypatch):
    from snn_edu import memory

    monkeypatch.setitem(memory.LIMITS_GB, "cpu", 2.0)  # vgg-cov2's paper switcher: ~3.6 GB estimated here
    with pytest.raises(ConfigError) as info:
        Trainer(TrainConfig(model="vgg-cov2", switcher="paper", device="cpu"), images((3, 32, 32), 8, 0),
                images((3, 32, 32), 8, 1), progress=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("vgg-cov2 with the paper switcher needs about")
    assert "more than 2 GB" in message


def test_the_estimate_grows_with_the_switcher():
    from snn_edu.memory import estimate_step_mb

    dense, lite, paper = (estimate_step_mb("vgg-cov2", s, (1, 28, 28)) for s in (None, "lite", "paper"))
    assert 0 < dense < lite < paper


def test_reproduce_prints_one_command_per_job_of_the_cifar_networks(tmp_path, capsys):
    assert main(["reproduce", "--level", "paper", "--models", "vgg-cov2", "resnet34", "--variants", "al", "dense",
                 "--no-frontier", "--out", str(tmp_path), "--print-commands"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    jobs = [line.split("--run ")[1].split()[0] for line in lines]
    assert len(lines) == 18 and len(set(jobs)) == 18  # 2 networks x 3 seeds x (2 runs + the magnitude baselines)
    assert all(line.startswith(f"python -m snn_edu reproduce --level paper --out {tmp_path} --run ") for line in lines)
    assert {j.split("/")[0] for j in jobs} == {"vgg-cov2", "resnet34"} and "resnet34/dense/seed2" in jobs


def test_paper_presets_follow_the_release_recipe():
    from snn_edu.presets import preset

    for name in NETWORKS:
        config = preset(name, "paper")
        assert (config.switcher, config.data, config.lr, config.batch_size, config.momentum) == \
            ("paper", "cifar10", 0.1, 64, 0.0)
        assert (config.lr_schedule, config.patience, config.gamma, config.stop_lr) == ("plateau", 20, 0.1, 5e-3)
        assert config.epochs == (4000 if name == "vgg-cov2" else 1000)  # the release's max_epoch, a cap
    assert preset("vgg-cov2", "smoke").data == "mnist5k"  # runs offline


def test_data_sets_say_their_image_shape_and_classes(tmp_path):
    from snn_edu.data import shape_and_classes

    assert shape_and_classes("mnist5k") == ((1, 28, 28), 10)
    assert shape_and_classes("cifar100") == ((3, 32, 32), 100)
    for c in range(3):
        (tmp_path / f"n0{c}").mkdir()
    assert shape_and_classes(f"imagefolder:{tmp_path}") == ((3, 84, 84), 3)


def test_the_catalog_counts_each_network_and_finds_measured_rows(tmp_path):
    from snn_edu.catalog import NETWORK_ROWS, network_rows_markdown, networks_markdown

    built = networks_markdown()
    assert "| vgg16 | 33,638,474 | fc1 512->4096, fc2 4096->4096, fc3 4096->10 |" in built
    assert "conv1 64x3x3x3, conv2 64x64x3x3, fc1 16384->256" in built and "| resnet34 | 21,282,122 | fc1 512->10 |" in built
    table, counts = network_rows_markdown(tmp_path)
    assert counts == {"rows": len(NETWORK_ROWS), "runs": len(NETWORK_ROWS), "measured": 0}
    for level, seed in (("cpu", 0), ("smoke", 1)):  # a smoke run measures nothing
        folder = tmp_path / level / "resnet34" / "al" / f"seed{seed}"
        folder.mkdir(parents=True)
        config = {"model": "resnet34", "strategy": "neuron", "data": "imagefolder:/data/mini", "gate_convs": False}
        (folder / "metrics.json").write_text(json.dumps({"config": config, "test_accuracy": 51.25,
                                                         "provenance": {"level": level}}))
    table, counts = network_rows_markdown(tmp_path)
    assert counts["measured"] == 1
    (row,) = [line for line in table.splitlines() if "51.25" in line]
    assert "Mini-ImageNet" in row and "| resnet34 | neuron |" in row and "cpu/resnet34/al/seed0" in row


def test_jobs_that_cannot_share_a_card_are_refused_before_any_work(monkeypatch, tmp_path):
    """reproduce --device cuda --jobs N: N jobs of the largest switcher run against the card's free
    memory (torch.cuda.mem_get_info on a real card; faked here), in one line; the MNIST networks
    are estimated too."""
    from snn_edu import memory
    from snn_edu.study import plan, run_study

    need = memory.estimate_step_mb("lenet5", "release", (1, 28, 28)) / 1024
    assert 0 < memory.estimate_step_mb("mlp", None, (1, 28, 28)) / 1024 < need
    monkeypatch.setattr(memory, "device_limit", lambda device: (3.5 * need, "the free memory of a fake card"))
    with pytest.raises(ConfigError) as info:
        run_study(plan(["mlp", "lenet5"], ["al"], 1, ()), "release+check", tmp_path, workers=4, device="cuda",
                  progress=False)
    message = str(info.value)
    assert "\n" not in message and message.startswith("4 jobs at once need about")
    assert "lenet5 with the release switcher" in message and message.endswith("use --jobs 3 or fewer")
    assert not any(tmp_path.iterdir()), "nothing may be written before the refusal"
    with pytest.raises(ConfigError, match="mlp with the release switcher needs about .* more than 0.01 GB"):
        memory.check_fits("mlp", "release", "cpu", (1, 28, 28), 10, limit_gb=0.01)


def test_reproduce_commands_carry_the_device(tmp_path, capsys):
    assert main(["reproduce", "--level", "paper", "--models", "mlp", "--variants", "al", "--seeds", "1",
                 "--no-frontier", "--out", str(tmp_path), "--device", "cuda", "--print-commands"]) == 0
    assert capsys.readouterr().out.strip() == \
        f"python -m snn_edu reproduce --level paper --out {tmp_path} --run mlp/al/seed0 --device cuda"


def test_compact_copies_ungated_modules_with_their_arguments():
    """An adaptive pool has a required argument: compact() copies it instead of calling its class."""
    from snn_edu.nets import gate_classifier

    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                          nn.Linear(64, 10, bias=False))
    gated = gate_classifier(plain, linear=True, switcher="lite").eval()
    small = compact(gated)
    assert isinstance(small[2], nn.AdaptiveAvgPool2d) and small[2].output_size == 4
    x = torch.randn(3, 1, 12, 12)
    torch.testing.assert_close(small(x), gated(x), rtol=1e-4, atol=1e-6)


def test_a_torchvision_head_with_biases_is_gated_and_compacted_exactly():
    """MobileNetV3-small's head (Linear with bias, Hardswish, Dropout, Linear): refused before biases
    were followed; now compacted with the gated model's outputs, on small images."""
    import torchvision

    torch.manual_seed(0)
    gated = gate_classifier(torchvision.models.mobilenet_v3_small(num_classes=10), linear=True, switcher="lite").eval()
    random_gates(gated, seed=2)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        small = compact(gated)
        torch.testing.assert_close(small(x), gated(x), rtol=1e-5, atol=1e-6)
    kept, total = param_counts(gated)
    head = [m for name, m in small.named_modules() if "classifier" in name and isinstance(m, nn.Linear)]
    assert len(head) == 2 and kept == sum(m.weight.numel() for m in head) < total


def test_a_gated_conv_followed_by_batchnorm_gates_after_it():
    """As network slimming's scaling factors: conv, BatchNorm, then the gate, so a pruned filter
    outputs exactly 0 (not BatchNorm's shift); ungated, the network is the original; compact() folds
    the gate into BatchNorm's scale and shift."""
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(32, 10))
    plain[1].running_mean.uniform_(-1, 1)
    plain[1].bias.data.uniform_(-1, 1)
    x = torch.rand(2, 3, 12, 12)
    expected = plain.eval()(x)
    gated = gate_classifier(plain, linear=True, conv=["0"], switcher="lite").eval()
    assert isinstance(gated[1], nn.Identity) and gated[0].norm is not None
    gated.set_gated(False)
    torch.testing.assert_close(gated(x), expected)
    gated.set_gated(True)
    gate = torch.ones(8)
    gate[[1, 5]] = 0
    gated[0].set_fixed_gate(gate)
    gated[5].set_fixed_gate(torch.ones(32))
    with torch.no_grad():
        assert gated[0](x)[:, [1, 5]].abs().max() == 0  # BatchNorm's shift does not leak through a pruned filter
        small = compact(gated)
        torch.testing.assert_close(small(x), gated(x), rtol=1e-5, atol=1e-6)
    assert pruned_architecture(gated) == "6-24"


def test_a_network_that_nothing_alive_crosses_outputs_its_biases_constant():
    """Every conv filter pruned: the maps are 0, fc1 passes on relu(its bias), fc2 adds its own;
    compact() gives that constant for every input."""
    torch.manual_seed(0)
    plain = nn.Sequential(OrderedDict([("conv", nn.Conv2d(3, 4, 3)), ("relu", nn.ReLU()), ("pool", nn.AdaptiveAvgPool2d(2)),
                                       ("flat", nn.Flatten()), ("fc1", nn.Linear(16, 6)), ("relu2", nn.ReLU()),
                                       ("fc2", nn.Linear(6, 3))]))
    gated = gate_classifier(plain, linear=True, conv=["conv"], switcher="lite").eval()
    for layer, gate in ((gated.conv, torch.zeros(4)), (gated.fc1, torch.ones(16)), (gated.fc2, torch.ones(6))):
        layer.set_fixed_gate(gate)
    x = torch.rand(2, 3, 10, 10)
    with torch.no_grad():
        small = compact(gated)
        expected = plain.fc2(torch.relu(plain.fc1.bias))
        torch.testing.assert_close(small(x), gated(x))
        torch.testing.assert_close(small(x)[0], expected)
    assert isinstance(small[0], ZeroLogits)
