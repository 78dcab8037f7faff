import pytest
import torch

from snn_edu.errors import ConfigError
from snn_edu.switcher import Switcher, switcher_spec


@pytest.mark.parametrize("shape", [(784, 300), (300, 100), (100, 10), (20, 1), (50, 20), (7, 3), (2, 1)])
@pytest.mark.parametrize("head", ["rows", "map"])
def test_gate_shape_and_sign_for_any_image(shape, head):
    torch.manual_seed(0)
    switcher = Switcher(shape, head, "lite")
    gate = switcher(torch.randn(shape))
    assert gate.shape == ((shape[0],) if head == "rows" else shape)
    assert (gate >= 0).all()
    switcher.eval()
    assert switcher(torch.randn(shape)).shape == gate.shape


def test_paper_preset_matches_release_widths():
    assert switcher_spec("paper", (784, 300)).widths == (8, 16, 32, 64, 128, 256)
    assert switcher_spec("paper", (300, 100)).widths == (8, 16, 32, 64, 128)
    assert switcher_spec("paper", (100, 10)).depth == 4
    paper = sum(p.numel() for p in Switcher((784, 300), "rows", "paper").parameters())
    lite = sum(p.numel() for p in Switcher((784, 300), "rows", "lite").parameters())
    assert lite * 20 < paper


def test_bad_arguments_are_clear():
    with pytest.raises(ConfigError, match="unknown switcher head"):
        Switcher((10, 10), "columns")
    with pytest.raises(ConfigError, match="unknown switcher preset"):
        Switcher((10, 10), "rows", "huge")
    with pytest.raises(ConfigError, match=r"built for a \(10, 10\)"):
        Switcher((10, 10), "rows", "lite")(torch.zeros(10, 11))
    with pytest.raises(ConfigError, match="at least 2 rows"):
        Switcher((1, 5), "rows", "lite")
    assert Switcher((1, 1), "map", "lite")(torch.ones(1, 1)).shape == (1, 1)


def test_row_conv_computes_what_the_plain_conv_does():
    from torch import nn

    from snn_edu.switcher import RowConv

    torch.manual_seed(0)
    row = RowConv(4, 9)
    plain = nn.Conv2d(1, 4, (1, 9), bias=False)
    plain.weight.data.copy_(row.weight.data)
    image = torch.randn(1, 1, 11, 9)
    torch.testing.assert_close(row(image), plain(image))
    assert set(row.state_dict()) == set(plain.state_dict())


def _plain_copy(switcher):
    import copy

    from snn_edu.switcher import use_fast_kernels

    plain = copy.deepcopy(switcher)
    use_fast_kernels(plain, False)
    return plain


@pytest.mark.parametrize("preset, shape, head", [("paper", (300, 100), "rows"), ("lite", (50, 20), "map")])
def test_fast_kernels_are_as_exact_as_the_stock_modules(preset, shape, head):
    """Gradients of the fast path (conv input gradients as forward convs) are as close to a
    float64 computation as the stock modules' are, in both phases."""
    torch.manual_seed(0)
    fast = Switcher(shape, head, preset)
    plain, exact = _plain_copy(fast), _plain_copy(fast).double()
    image = torch.randn(shape)

    def grads(model, x):
        x = x.clone().requires_grad_(True)
        out = model(x)
        params = [p for p in model.parameters()]
        return out, torch.autograd.grad(out.square().sum(), [x] + params)

    (y_fast, g_fast), (y_plain, g_plain), (y_exact, g_exact) = (
        grads(fast, image), grads(plain, image), grads(exact, image.double()))
    torch.testing.assert_close(y_fast, y_plain)
    # float32 rounding of sums of the largest terms: a wrong kernel would be off by O(largest)
    largest = max(g.abs().max() for g in g_exact)
    for a, b, ref in zip(g_fast, g_plain, g_exact):
        err_fast, err_plain = (a.double() - ref).abs().max(), (b.double() - ref).abs().max()
        assert err_fast <= 4 * err_plain + 1e-7 * largest


def test_evaluation_folds_batchnorm_only_when_it_is_exact():
    """Eval mode without grad takes the folded, channels-last path: same gate as the stock
    modules. With grad, or with BatchNorm on the image's statistics, it does not fold."""
    torch.manual_seed(0)
    switcher = Switcher((784, 300), "rows", "paper")
    image = torch.randn(784, 300)
    with torch.no_grad():
        for _ in range(3):  # give the running statistics something to fold
            switcher(image)
    switcher.eval()
    plain = _plain_copy(switcher)
    with torch.no_grad():
        folded, stock = switcher(image), plain(image)
    torch.testing.assert_close(folded, stock, rtol=1e-4, atol=1e-5)
    calls = []
    hook = switcher.out[1].register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        switcher(image)
    assert calls == []  # folded: the BatchNorm module never ran
    torch.testing.assert_close(switcher(image), folded, rtol=1e-4, atol=1e-5)  # with grad: stock path
    assert calls == [1]
    hook.remove()
