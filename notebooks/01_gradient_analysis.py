# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · What a switcher does to a gradient
#
# Before training anything big, take the smallest system in which a switcher matters
# (section 3.4 of the first paper).
#
# * The **task network** has one input $x$ and $K$ outputs, with weights
#   $w_{T1}, \dots, w_{TK}$.
# * The **switcher** reads those $K$ weights and answers with one number
#   $s = \mathrm{ReLU}\big(\sum_i w_{Si}\, w_{Ti}\big) \ge 0$ that scales the input neuron.
#
# The logits are $h_k = s\,x\,w_{Tk}$, the probabilities $p = \mathrm{softmax}(h)$, and the
# loss is the cross-entropy $R = -\sum_k y_k \log p_k$ with a one-hot target $y$. Recall that
# $\partial R / \partial h_k = p_k - y_k$: class $k$'s *error*.
#
# ### Without a switcher
# Here $s = 1$ and $h_k = x\,w_{Tk}$, so only $h_k$ depends on $w_{Tk}$:
#
# $$\frac{\partial R}{\partial w_{Tk}} = (p_k - y_k)\,x .$$
#
# The update of $w_{Tk}$ hears about class $k$'s error and nothing else.
#
# ### With a switcher
# Now every logit depends on $w_{Tk}$, directly through $h_k$ and indirectly through $s$,
# since the switcher reads $w_{Tk}$. With $a = \sum_i w_{Si} w_{Ti}$, the chain rule gives
#
# $$\frac{\partial R}{\partial w_{Tk}}
#   = \underbrace{s\,x\,(p_k - y_k)}_{\text{direct}}
#   + \underbrace{\mathbb{1}[a > 0]\; w_{Sk}\, x \sum_{j=1}^{K} w_{Tj}\,(p_j - y_j)}_{\text{through the switcher}} .$$
#
# The second term carries the errors of **all** classes, each weighted by the TNN weight of that
# class, and the whole sum is scaled by $w_{Sk}$, the switcher's weight for the parameter being
# updated: how much the switcher "cares" about $w_{Tk}$. If the switcher's ReLU is closed
# ($a \le 0$), then $s = 0$: the input is pruned, every logit is 0, and neither term carries
# any gradient.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import torch

from snn_edu import gradients, plots, widgets

# %% [markdown]
# ## The closed forms agree with autograd
#
# `snn_edu.gradients` implements both formulas. Autograd differentiates the same loss without
# knowing them; for random values the two must match to rounding error.

# %%
worst = gradients.largest_closed_form_error(n_systems=100, seed=0)
print(f"largest difference over 100 random systems: {worst:.1e}")

# %% [markdown]
# ## Who contributes to one weight's update?
#
# Take $K = 5$ classes, target class 1, and look at the update of $w_{T0}$, a weight that belongs
# to a class that is *not* the target. Each bar is one class $j$'s share of
# $\partial R / \partial w_{T0}$. Grey: the direct term, which only class 0 has. Orange: the
# term that arrives through the switcher, one share from every class.

# %%
w_t = [0.4, -0.3, 0.8, 0.1, -0.5]
w_s = [0.5] * 5
fig = widgets.gradient_figure(x=1.0, k=0, target=1, w_t=w_t, w_s=w_s)
plt.show()

# %% [markdown]
# Now try it yourself: move $x$, choose which weight is updated and which class is the
# target, and change the switcher's weights. Things to look for:
#
# * set $w_{S0}$ to 0: the orange bars of $w_{T0}$ vanish, because the switcher no longer
#   depends on that weight;
# * make all $w_S$ negative: the switcher's ReLU closes, $s = 0$, and nothing is learned;
# * the target class's orange share usually has the opposite sign of the others.

# %%
widgets.gradient_explorer(k_classes=5)

# %% [markdown]
# ## A tiny training run
#
# Gradient descent on the TNN weights of this one-layer system, with and without the
# (fixed) switcher. Without it each weight moves only to fix its own class's error; with it, each
# weight also reacts to the others.

# %%
plain = gradients.train_single_layer(1.0, w_t, target=1, steps=60)
gated = gradients.train_single_layer(1.0, w_t, target=1, w_s=w_s, steps=60)
fig, axes = plots.new_figure(1, 2, width=11, height=3.4, sharey=True)
plots.plot_weight_paths(axes[0], plain, target=1, title="without switcher")
plots.plot_weight_paths(axes[1], gated, target=1, title="with switcher")
axes[1].legend(fontsize="small")
plt.show()
print("final loss without switcher:", float(gradients.loss(1.0, plain[-1], 1)))
print("final loss with switcher:   ", float(gradients.loss(1.0, gated[-1], 1, w_s)))
