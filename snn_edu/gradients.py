"""Section 3.4 of the first paper: one input, K outputs, and a one-unit switcher.

TNN: h_k = s * x * w_T[k], softmax over k, cross-entropy with the one-hot target y.
SNN: s = relu(w_S . w_T) reads the K TNN weights and scales the input neuron.
Without the SNN, s = 1.
"""
from __future__ import annotations

import torch


def _as64(*values):
    return [torch.as_tensor(v, dtype=torch.float64) for v in values]


def switcher_scale(w_t, w_s) -> torch.Tensor:
    """s = relu(w_S . w_T)."""
    w_t, w_s = _as64(w_t, w_s)
    return torch.relu(w_s @ w_t)


def class_errors(x, w_t, target: int, s=1.0) -> torch.Tensor:
    """p - y: each class's error for the logits h = s * x * w_T."""
    x, w_t, s = _as64(x, w_t, s)
    p = torch.softmax(s * x * w_t, dim=0)
    return p - torch.nn.functional.one_hot(torch.tensor(target), len(w_t)).double()


def loss(x, w_t, target: int, w_s=None) -> torch.Tensor:
    """Cross-entropy of the single-layer system, with the switcher when w_s is given."""
    x, w_t = _as64(x, w_t)
    s = 1.0 if w_s is None else switcher_scale(w_t, w_s)
    return torch.nn.functional.cross_entropy((s * x * w_t)[None], torch.tensor([target]))


def grad_without_snn(x, w_t, target: int) -> torch.Tensor:
    """dR/dw_T[k] = (p_k - y_k) x: only class k's error reaches w_T[k]."""
    x, w_t = _as64(x, w_t)
    return class_errors(x, w_t, target) * x


def contributions(x, w_t, w_s, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class terms of dR/dw_T with the switcher, as (direct, through_switcher) matrices.

    direct[k, j] = s x (p_k - y_k) if j == k else 0;
    through_switcher[k, j] = 1[w_S . w_T > 0] w_S[k] x w_T[j] (p_j - y_j).
    Row k sums to dR/dw_T[k].
    """
    x, w_t, w_s = _as64(x, w_t, w_s)
    s = switcher_scale(w_t, w_s)
    err = class_errors(x, w_t, target, s)
    direct = torch.diag(s * x * err)
    active = (w_s @ w_t > 0).double()
    through = active * x * w_s[:, None] * (w_t * err)[None, :]
    return direct, through


def grad_with_snn(x, w_t, w_s, target: int) -> torch.Tensor:
    """dR/dw_T[k] = s x (p_k - y_k) + 1[a > 0] w_S[k] x sum_j w_T[j] (p_j - y_j)."""
    direct, through = contributions(x, w_t, w_s, target)
    return direct.sum(1) + through.sum(1)


def grad_snn_weights(x, w_t, w_s, target: int) -> torch.Tensor:
    """dR/dw_S[k] = 1[a > 0] w_T[k] x sum_j w_T[j] (p_j - y_j)."""
    x, w_t, w_s = _as64(x, w_t, w_s)
    err = class_errors(x, w_t, target, switcher_scale(w_t, w_s))
    return (w_s @ w_t > 0).double() * w_t * x * (w_t @ err)


def autograd_grads(x, w_t, target: int, w_s=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(dR/dw_T, dR/dw_S) by autograd, to check the closed forms against."""
    w_t = torch.as_tensor(w_t, dtype=torch.float64).clone().requires_grad_(True)
    w_s = None if w_s is None else torch.as_tensor(w_s, dtype=torch.float64).clone().requires_grad_(True)
    loss(x, w_t, target, w_s).backward()
    return w_t.grad, (None if w_s is None else w_s.grad)


def train_single_layer(x, w_t, target: int, w_s=None, lr: float = 0.5, steps: int = 50,
                       train_switcher: bool = False) -> torch.Tensor:
    """SGD on w_T (and w_S when train_switcher) with the closed forms; returns the (steps+1, K)
    trajectory of w_T."""
    w_t = torch.as_tensor(w_t, dtype=torch.float64).clone()
    w_s = None if w_s is None else torch.as_tensor(w_s, dtype=torch.float64).clone()
    path = [w_t.clone()]
    for _ in range(steps):
        if w_s is None:
            w_t = w_t - lr * grad_without_snn(x, w_t, target)
        else:
            g_s = grad_snn_weights(x, w_t, w_s, target) if train_switcher else 0.0
            w_t = w_t - lr * grad_with_snn(x, w_t, w_s, target)
            w_s = w_s - lr * g_s
        path.append(w_t.clone())
    return torch.stack(path)


def sign_story(x, w_t, w_s, target: int, k: int) -> str:
    """The signs of the orange (through-switcher) shares of dR/dw_T[k], in one sentence: the
    target's share against those of the classes whose weights have the target weight's sign."""
    _, through = contributions(x, w_t, w_s, target)
    share = through[k]
    if float(share.abs().sum()) == 0.0:
        return "the switcher's ReLU is closed: every orange share is 0"
    w = _as64(w_t)[0]
    same = [j for j in range(len(w)) if j != target and (w[j] > 0) == (w[target] > 0)]
    other = [j for j in range(len(w)) if j != target and j not in same]
    fmt = lambda js: ", ".join(f"{j} ({float(share[j]):+.3f})" for j in js) or "none"  # noqa: E731
    return (f"target {target}'s orange share is {float(share[target]):+.3f}; classes whose weights have the "
            f"target's sign: {fmt(same)}; the others: {fmt(other)}")


def run_story(x, path: torch.Tensor, target: int, w_s) -> str:
    """One sentence on a training run with the switcher: where its output s went, whether its
    ReLU closed (and at which step), and the loss it ended at."""
    scales = [float(switcher_scale(w, w_s)) for w in path]
    closed = next((i for i, v in enumerate(scales) if v == 0.0), None)
    end = float(loss(x, path[-1], target, w_s))
    if closed is None:
        return (f"target {target}: the switcher's output s went from {scales[0]:.3f} to {scales[-1]:.3f} and never "
                f"closed; the loss ended at {end:.4f}")
    return (f"target {target}: s went from {scales[0]:.3f} to 0 at step {closed} (w_S . w_T = "
            f"{float(_as64(w_s)[0] @ _as64(path[closed])[0]):.3f}), its ReLU closed and no gradient passed any more; "
            f"the loss stayed at {end:.4f} = ln {path.shape[1]} (every class equally likely)")


def largest_closed_form_error(n_systems: int = 100, seed: int = 0) -> float:
    """Largest |closed form - autograd| over random systems (K from 2 to 9), both cases."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for _ in range(n_systems):
        k = int(torch.randint(2, 10, (1,), generator=gen))
        x = float(torch.randn(1, generator=gen))
        w_t, w_s = (torch.randn(k, generator=gen, dtype=torch.float64) for _ in range(2))
        target = int(torch.randint(0, k, (1,), generator=gen))
        auto_t, auto_s = autograd_grads(x, w_t, target, w_s)
        errors = [grad_with_snn(x, w_t, w_s, target) - auto_t, grad_snn_weights(x, w_t, w_s, target) - auto_s,
                  grad_without_snn(x, w_t, target) - autograd_grads(x, w_t, target)[0]]
        worst = max([worst] + [float(e.abs().max()) for e in errors])
    return worst
