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
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/01_gradient_analysis.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/01_gradient_analysis.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# Before training anything big, take the smallest system in which a switcher matters
# (section 3.4 of the first paper).
#
# * The **task neural network (TNN)** has one input $x$ and $K$ outputs, with weights
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

# %% tags=["colab-setup"]
# Colab only: fetch the repository and install snn_edu (does nothing elsewhere).
import os, subprocess, sys
if "google.colab" in sys.modules:
    home = "/content/snn_edu"
    if not os.path.isdir(home):
        subprocess.run(["git", "clone", "-q", "--depth", "1", "https://github.com/snn-edu/snn_edu", home], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", home], check=True)
    sys.path.insert(0, home)
    os.chdir(f"{home}/notebooks")

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import torch

from snn_edu import gradients, plots, widgets
from snn_edu.prose import say

# %% [markdown]
# ## The closed forms agree with autograd
#
# `snn_edu.gradients` implements both formulas. Autograd differentiates the same loss without
# knowing them; for random values the two must match to rounding error.

# %%
worst = gradients.largest_closed_form_error(n_systems=100, seed=0)
say(f"largest difference over 100 random systems: {worst:.1e}")

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
say(gradients.sign_story(1.0, w_t, w_s, target=1, k=0))

# %% [markdown]
# Now try it yourself: move $x$, choose which weight is updated and which class is the
# target, and change the switcher's weights. Things to look for:
#
# * set $w_{S0}$ to 0: the orange bars of $w_{T0}$ vanish, because the switcher no longer
#   depends on that weight;
# * make all $w_S$ negative: the switcher's ReLU closes, $s = 0$, and nothing is learned;
# * each orange share has the sign of its class's error times its class's weight (times
#   $w_{Sk}$): the target's error is negative and every other class's positive, so the
#   target's share has the opposite sign of the shares of the classes whose weights have the
#   same sign as the target's weight (the line under the figure above checks it on its numbers).
#
# The explorer starts from the figure's settings and the same weights `w_t`.

# %%
widgets.gradient_explorer(w_t=w_t)

# %% [markdown]
# ## A tiny training run
#
# Gradient descent on the TNN weights of this one-layer system, with and without the (fixed)
# switcher, for target class 2. Without the switcher each weight moves only to fix its own
# class's error. With it, each weight also moves the switcher's output $s$, which scales every
# logit at once: class 2's weight starts above the mean of the weights, so making every logit
# larger helps, $s$ grows, and the run learns faster.

# %%
plain = gradients.train_single_layer(1.0, w_t, target=2, steps=60)
gated = gradients.train_single_layer(1.0, w_t, target=2, w_s=w_s, steps=60)
fig, axes = plots.new_figure(1, 2, width=11, height=3.4, sharey=True)
plots.plot_weight_paths(axes[0], plain, target=2, title="without switcher")
plots.plot_weight_paths(axes[1], gated, target=2, title="with switcher")
plots.legend_beside(axes[1])
plt.show()
say("final loss without switcher:", f"{float(gradients.loss(1.0, plain[-1], 2)):.4f}")
say("final loss with switcher:   ", f"{float(gradients.loss(1.0, gated[-1], 2, w_s)):.4f}")
say("with switcher,", gradients.run_story(1.0, gated, 2, w_s))

# %% [markdown]
# **When the switcher closes.** Now the target is class 1, whose weight starts *below* the mean.
# The quickest way down for the loss is then to shrink every logit, so the gradient through the
# switcher pushes $s$ down. One step takes it below zero, the switcher's ReLU outputs 0, and from
# then on no gradient passes: every logit is 0, every class is equally likely, and the run is
# stuck. This is the same dead ReLU that makes whole layers of a real network fall to chance
# (notebook 02, "When the authors' recipe collapses").

# %%
stuck = gradients.train_single_layer(1.0, w_t, target=1, w_s=w_s, steps=60)
fig, ax = plots.new_figure(1, 1, width=5.5, height=3.4)
plots.plot_weight_paths(ax, stuck, target=1, title="with switcher, target 1")
plt.show()
say("with switcher,", gradients.run_story(1.0, stuck, 1, w_s))

# %% [markdown]
# ## Exercises
#
# Questions 1 to 4 use the gradient explorer above (the sliders `x`, `update w_T[k]`,
# `target` and `w_S[0]` to `w_S[4]`). Before you move a slider, write down what you expect to
# see, then check.
#
# 1. **The target's own weight.** Set `update w_T[k]` and `target` to the same class, with a
#    positive `x`. What sign does the grey (direct) bar have, and which way will gradient
#    descent move $w_{Tk}$? Use the error $p_k - y_k$ to explain. Now compare the two numbers
#    in the figure's title, "without switcher" and "with switcher": do they have the same sign?
#    Can you find `w_S` settings where the orange bars flip the sign of the total?
# 2. **Which bars depend on k?** Leave every `w_S` slider at the same value and move only
#    `update w_T[k]` from 0 to 4. Which bars move, and which keep their heights? Explain it with
#    the "through the switcher" term of the formula. What changes when you then give the
#    `w_S` slider of the weight you are updating a different value from the others?
# 3. **The input x.** Slide `x` to 0: what happens to every bar, and why? Now make `x`
#    negative. Do the bars simply flip sign compared with the same positive value? (Hint: the
#    probabilities $p$ depend on $x$ too.)
# 4. **Reading the switcher.** Pretend you do not know `w_t`: the title shows the switcher's
#    output `s`. Move one `w_S[i]` slider at a time and watch `s`: from whether it goes up or
#    down, what can you say about the sign of $w_{Ti}$? Check against `w_t` in the code. Then try to close the
#    switcher's ReLU (`s = 0.000`) while some `w_S` sliders are still positive. What happens
#    to the bars, and why does that mean nothing is learned?
# 5. **The tiny training run.** In the target-2 figure, follow one weight that is not the
#    target's. Without the switcher, which way does it move, and can you explain that from its
#    own class's error alone? With the switcher, does any weight move in a way its own class's
#    error cannot explain? Which run ends with the lower loss, and what in the formula could
#    explain the difference? For which other targets would you expect the switcher to close, as
#    it did for target 1? (Compare each class's weight with the mean of `w_t`, then try it.)

# %% [markdown]
# **Back:** [00 · start here](00_index.ipynb) · **Next:** [02 · Training an MLP and LeNet5 with switchers](02_training.ipynb).
