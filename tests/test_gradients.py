import pytest
import torch

from snn_edu import gradients
from snn_edu import gradients as g


@pytest.mark.parametrize("seed", range(5))
def test_closed_forms_match_autograd(seed):
    gen = torch.Generator().manual_seed(seed)
    k = 6
    x = float(torch.randn(1, generator=gen)) + 2.0
    w_t = torch.randn(k, generator=gen, dtype=torch.float64)
    w_s = torch.randn(k, generator=gen, dtype=torch.float64)
    if float(w_s @ w_t) <= 0:
        w_s = -w_s  # keep the switcher's ReLU open, where the second term exists
    target = int(torch.randint(0, k, (1,), generator=gen))
    auto_t, _ = g.autograd_grads(x, w_t, target)
    torch.testing.assert_close(g.grad_without_snn(x, w_t, target), auto_t)
    auto_t, auto_s = g.autograd_grads(x, w_t, target, w_s)
    torch.testing.assert_close(g.grad_with_snn(x, w_t, w_s, target), auto_t)
    torch.testing.assert_close(g.grad_snn_weights(x, w_t, w_s, target), auto_s)


def test_only_own_class_without_switcher_all_classes_with_it():
    x, w_t, w_s = 1.5, torch.tensor([0.3, -0.2, 0.5, 0.1]), torch.tensor([0.4, 0.3, 0.9, 0.2])
    direct, through = g.contributions(x, w_t, w_s, target=2)
    assert torch.count_nonzero(direct[1]) == 1          # the direct path: class 1's error only
    assert torch.count_nonzero(through[1]) == len(w_t)  # through the switcher: every class
    closed = g.grad_without_snn(x, w_t, 2)
    assert closed[1] == pytest.approx(float(g.class_errors(x, w_t, 2)[1]) * x)


def test_closed_switcher_passes_only_the_direct_term():
    w_t, w_s = torch.tensor([0.3, -0.2, 0.5]), -torch.tensor([0.4, 0.3, 0.9])
    _, through = g.contributions(1.0, w_t, w_s, 0)
    assert torch.count_nonzero(through) == 0


def test_training_trajectories_differ():
    w_t, w_s = torch.tensor([0.1, 0.2, -0.1]), torch.tensor([0.5, 0.5, 0.5])
    plain = g.train_single_layer(1.0, w_t, 0, steps=20)
    gated = g.train_single_layer(1.0, w_t, 0, w_s, steps=20)
    assert plain.shape == gated.shape == (21, 3)
    assert plain[-1, 0] > plain[0, 0]  # the target's weight grows
    assert not torch.allclose(plain, gated)
    assert float(g.loss(1.0, gated[-1], 0, w_s)) < float(g.loss(1.0, gated[0], 0, w_s))


def test_the_sign_rule_notebook_01_states():
    """Each through-switcher share has the sign of its class's error times its weight (times
    w_S[k]): the target's is opposite to those of classes whose weights share its sign."""
    gen = torch.Generator().manual_seed(3)
    for _ in range(200):
        k = int(torch.randint(2, 8, (1,), generator=gen))
        w_t, w_s = torch.randn(k, generator=gen, dtype=torch.float64), torch.rand(k, generator=gen, dtype=torch.float64)
        target, row = int(torch.randint(0, k, (1,), generator=gen)), int(torch.randint(0, k, (1,), generator=gen))
        share = gradients.contributions(1.0, w_t, w_s, target)[1][row]
        if float(w_s @ w_t) <= 0:
            assert float(share.abs().sum()) == 0.0
            continue
        for j in range(k):
            if j != target and (w_t[j] > 0) == (w_t[target] > 0):
                assert share[j] * share[target] < 0


def test_the_tiny_runs_notebook_01_tells():
    w_t, w_s = [0.4, -0.3, 0.8, 0.1, -0.5], [0.5] * 5
    grows = gradients.train_single_layer(1.0, w_t, target=2, w_s=w_s, steps=60)
    assert "never closed" in gradients.run_story(1.0, grows, 2, w_s)
    assert float(gradients.loss(1.0, grows[-1], 2, w_s)) < float(
        gradients.loss(1.0, gradients.train_single_layer(1.0, w_t, target=2, steps=60)[-1], 2))
    stuck = gradients.train_single_layer(1.0, w_t, target=1, w_s=w_s, steps=60)
    assert "to 0 at step 1" in gradients.run_story(1.0, stuck, 1, w_s) and "ln 5" in gradients.run_story(1.0, stuck, 1, w_s)
