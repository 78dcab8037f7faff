"""Gated convs inside a graph (snn_edu.coupled): coupled channels are removed together, and only
where that is exact; what is kept is counted as kept, with the reason."""
import torch
from torch import nn

from snn_edu.analysis import compact, network_params_removed_pct, param_counts, params_removed_pct
from snn_edu.coupled import compact_graph
from snn_edu.nets import gate_classifier


class Residual(nn.Module):
    """conv a -> BatchNorm -> ReLU -> conv b -> BatchNorm, added to a 1x1 shortcut conv, then a head."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.a, self.bn_a, self.relu_a = nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()
        self.b, self.bn_b = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.shortcut = nn.Conv2d(3, c, 1, bias=False)
        self.relu, self.pool, self.flat, self.fc = nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 4)

    def forward(self, x):
        y = self.bn_b(self.b(self.relu_a(self.bn_a(self.a(x)))))
        return self.fc(self.flat(self.pool(self.relu(y + self.shortcut(x)))))


def _gate(model, name, zeros, n=8):
    g = torch.ones(n)
    g[list(zeros)] = 0
    model.gated_layers()[name].set_fixed_gate(g)


def _check_exact(gated, side=8):
    x = torch.rand(3, 3, side, side)
    small = compact(gated)
    with torch.no_grad():
        torch.testing.assert_close(small(x), gated(x), rtol=1e-5, atol=1e-6)
    modules = dict(small.named_modules())
    kept = sum(p.numel() for name in gated.gated_layers() for p in modules[name].parameters() if p.dim() > 1)
    assert kept == param_counts(gated)[0]
    return small


def test_channels_that_a_residual_addition_couples_go_only_when_every_adder_is_zero_there():
    torch.manual_seed(0)
    net = Residual()
    for p in net.parameters():  # a frozen model traces too
        p.requires_grad_(False)
    gated = gate_classifier(net, linear=False, conv=["a", "b", "shortcut"], switcher="lite", example=(3, 8, 8)).eval()
    _gate(gated, "net.a", {0, 1})  # internal to the block: free to go
    _gate(gated, "net.b", {2, 3, 4})
    _gate(gated, "net.shortcut", {3, 4, 5})  # 3 and 4 are zero in both adders
    small = _check_exact(gated)
    assert small.net.a.conv.out_channels == 6
    assert small.net.b.conv.out_channels == 6 and small.net.shortcut.out_channels == 6
    assert small.net.fc.in_features == 6  # the head no longer reads the removed channels
    assert isinstance(gated.net.bn_a, nn.Identity)  # each gate sits after the BatchNorm that alone reads its conv
    kept = compact_graph(gated, gated.gates("eval")).kept_because
    assert "net.b: 1 zero-gated filters kept: the gated layers coupled with those channels keep them open" in kept
    assert any(k.startswith("net.shortcut: 1 zero-gated filters kept") for k in kept), kept
    assert all("\n" not in k for k in kept)
    assert 0 < params_removed_pct(gated) < 100


def test_a_zero_channel_that_a_later_module_turns_into_a_constant_is_kept_and_said_why():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=True), nn.Sigmoid(), nn.Conv2d(8, 4, 3), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 3))
    gated = gate_classifier(net, linear=False, conv=["0", "2"], switcher="lite", example=(3, 8, 8)).eval()
    assert gated.coupled  # a Sigmoid after a gated conv: not a chain, counted through the graph
    _gate(gated, "net.0", {1, 2})
    _check_exact(gated)
    kept = compact_graph(gated, gated.gates("eval")).kept_because
    assert kept and "removing them changes the output" in kept[0], kept
    assert params_removed_pct(gated) == 0.0


class _Wrapped(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x)


def test_a_zero_gated_depthwise_channel_goes_with_the_ungated_conv_that_only_it_reads():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
                         nn.Conv2d(8, 4, 1, bias=False), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    gated = gate_classifier(_Wrapped(body), linear=False, conv=["body.3"], switcher="lite", example=(3, 8, 8)).eval()
    _gate(gated, "net.body.3", {0, 5, 6})
    small = _check_exact(gated)
    assert small.net.body[0].out_channels == 5  # the expansion conv lost the channels only the pruned filters read
    assert small.net.body[3].conv.groups == 5
    assert network_params_removed_pct(gated) > 0
    assert params_removed_pct(gated) == 100 * 3 / 8


def test_a_gated_conv_inside_a_block_trains_its_switcher():
    torch.manual_seed(0)
    gated = gate_classifier(Residual(), linear=False, conv=["b"], switcher="lite", example=(3, 8, 8)).train()
    gated.net.b.gated = True
    loss = gated(torch.rand(4, 3, 8, 8)).square().mean()
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gated.gate_parameters())


def test_notebook_06s_sentence_on_resnet18s_third_stage_holds():
    """06 says: most zero-gated filters of the convs that write the residual stream stay, and those of
    each block's first conv (which nothing else adds to) go."""
    import torchvision

    from snn_edu.nets import given_gates

    model = gate_classifier(torchvision.models.resnet18(num_classes=10), linear=["fc"], conv=["layer3.*"],
                            switcher="lite", example=(3, 32, 32)).eval()
    given_gates(model, closed=1 / 3, seed=0)
    result = compact_graph(model, model.gates())
    stream = ("net.layer3.0.conv2", "net.layer3.0.downsample.0", "net.layer3.1.conv2")
    for name in stream:
        zero = int(model.gates()[name].eq(0).sum())
        kept = int(next(k for k in result.kept_because if k.startswith(name + ":")).split(": ")[1].split()[0])
        assert kept > zero / 2, (name, kept, zero)
    assert not any(k.startswith(("net.layer3.0.conv1", "net.layer3.1.conv1")) for k in result.kept_because)
    for name in ("net.layer3.0.conv1", "net.layer3.1.conv1"):
        assert int(result.masks[name][1].sum()) == int(model.gates()[name].ne(0).sum())
