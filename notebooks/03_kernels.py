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
# # 03 · Which kernels does the switcher keep?
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/03_kernels.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/03_kernels.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# The switcher never sees an image. It reads a layer's weights and answers with one gate per
# neuron: `0` prunes it, below `1` weakens it, `1` or more strengthens it. So what do the
# kernels it keeps *do* with a digit, compared with the ones it throws away?
#
# This notebook
#
# 1. redraws the first paper's **figure 3**: the feature maps of the first convolution of a
#    gated LeNet5, one row per strengthened or pruned kernel, one digit of each class per column;
# 2. asks a second opinion from [captum](https://captum.ai), which measures from data how much
#    each kernel contributes to the network's answer, and compares three rankings of the
#    kernels: the switcher's gate, captum's *conductance* and the plain size (L1 norm) of the
#    weights;
# 3. does the same for the MLP's 784 input pixels.

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

from snn_edu import attribution, widgets
from snn_edu.analysis import gate_categories
from snn_edu.metrics import result_line
from snn_edu.presets import smoke_mode
from snn_edu.prose import say
from snn_edu.runs import obtain_run

torch.manual_seed(0)
TRAIN_LIVE = False  # True: train the networks here (minutes) instead of loading the shipped cpu-level runs
LEVEL = None        # when training: None means "smoke" with SNN_EDU_SMOKE=1, else "cpu"; "paper" on a GPU
LIVE = TRAIN_LIVE or smoke_mode()  # SNN_EDU_SMOKE=1 always trains a tiny run, to test that path
N_IMAGES, N_STEPS = (32, 8) if smoke_mode() else (256, 32)
say("smoke mode:", smoke_mode())

# %% [markdown]
# ## A gated LeNet5
#
# The same run as in notebook 02: LeNet5-Caffe with one switcher per layer, trained by
# alternating epochs of the task neural network (TNN) and of the switcher, after a warm-up. By
# default it is seed 0 of the runs that ship in `results/cpu/`; `TRAIN_LIVE = True` above trains
# it here instead.

# %%
lenet = obtain_run("lenet5", live=LIVE, level=LEVEL)
x, y = lenet.test_set().tensors
gate = lenet.model.conv1.gate_in_mode("eval").cpu()
say(lenet.origin)
say(result_line(lenet.metrics))
say("conv1 kernels:", gate_categories(gate))

# %% [markdown]
# An accuracy near 10 % means the run has collapsed: when a switcher prunes every kernel of a
# layer, the network gives the same answer for every digit and nothing can flow back to
# revive it. The pictures below still work (they show the raw kernels), but captum will find
# nothing to attribute. Try another seed (`obtain_run("lenet5", live=True, seed=1)`) if that happens.
#
# ## Figure 3: strengthened and pruned kernels side by side
#
# The paper picks three strengthened and two pruned kernels of the first convolution. A short
# or unlucky run may have fewer of one kind (a tiny smoke run often has no strengthened kernel
# at all). Then we show what exists, and fill the missing rows with the closest stand-ins:
# the highest remaining gates, or the weakest surviving ones. Each row is labelled and framed
# with the **real** category of its kernel, so a stand-in shows as *weakened*.

# %%
strong, pruned = attribution.pick_kernels(gate, 3, 2)
say(f"this run has {len(strong)} of 3 strengthened and {len(pruned)} of 2 pruned kernels to show")
if len(strong) < 3 or len(pruned) < 2:
    strong, pruned = attribution.pick_kernels(gate, 3, 2, fill=True)
    say("missing rows are filled with stand-ins, labelled with their real category")

# %% [markdown]
# Each row is one kernel (its 5×5 weights first, red positive and blue negative), each column
# one test digit. The maps are the kernels' **raw** responses, computed with the un-gated
# weights: the network itself multiplies a pruned kernel's map by 0, which would show nothing.
#
# The paper reads its figure like this: the pruned kernels respond to the *global* shape of
# the digit, which some strengthened kernels also capture, so they are redundant; other
# strengthened kernels pick up local texture such as stroke edges in one direction. Look for
# yourself whether this run's pictures support that reading. It is an interpretation of a few
# pictures, not a measurement.

# %%
rows = attribution.one_digit_per_class(x, y, seed=0)
fig = widgets.fig3_figure(lenet.model, x[rows], strong, pruned, "conv1", labels=y[rows])
plt.show()

# %% [markdown]
# ### Kernel explorer
#
# Choose other digits (one of each class, a random sample, or several of one class), the second
# convolution instead of the first and how many kernels of each kind to show. Where the run has
# fewer kernels of a kind than asked for, a checkbox appears that fills the missing rows
# with stand-ins (the line printed before figure 3 says whether this run needs them). *maps* switches
# between the raw responses and what the network actually passes on (the gated maps, all black
# for a pruned kernel).

# %%
widgets.kernel_explorer(lenet.model, x, y)

# %% [markdown]
# ## A second opinion: captum
#
# The gate is the switcher's opinion of a kernel, formed from weights alone. captum can
# measure, from data, how much each kernel contributes to the answer. We use
# **conductance** (`captum.attr.LayerConductance`): it follows the network along a straight
# path from a *baseline* image to the digit and adds up how much of the change in the
# true class's score flows through each kernel's feature map. Per kernel we sum its absolute
# conductance over the map and average over the test digits.
#
# The baseline is an all-black image. That is what the background of an MNIST digit is
# (pixel value 0), so the path goes from "nothing written" to the digit. Since this LeNet5 has
# no biases, the black image gives every class a score of exactly 0, and the conductances of
# all kernels add up to the true class's score itself (up to the error of the numerical
# integral, which `N_STEPS` controls).
#
# Four rankings of the 20 conv1 kernels:
#
# * **gate**: the switcher's evaluation-mode gate;
# * **conductance**: captum, on the gated network as it is evaluated;
# * **activation**: how strongly the kernel's gated feature map responds, its mean absolute
#   value over the digits (captum's `LayerActivation`), a cheaper measure than conductance
#   that ignores what the rest of the network does with the map;
# * **L1**: the sum of the kernel's absolute weights, the simplest guess at importance
#   (magnitude pruning).
#
# The scatter plots set gate, conductance and L1 against each other; the printed table gives
# every pair, activation included.
#
# We compare rankings with Spearman's rank correlation ρ: `+1` is the same order, `0` no
# relation, `-1` the reverse order.

# %%
sample = torch.arange(min(N_IMAGES, len(y)))
table = attribution.importance_table(lenet.model, "conv1", x[sample], y[sample], n_steps=N_STEPS)
fig = widgets.ranking_scatter_figure(table)
plt.show()

# %%
say(attribution.rho_report(table))

# %% [markdown]
# **How to read these numbers.** They come from *this* run, on the digits above; another seed
# or a longer run will move them, and with 20 kernels a ρ of ±0.3 is well within chance.
#
# * If **gate and conductance** agree, the switcher, which only ever sees weights, ranks the
#   kernels much as their measured contribution on real digits does. Part of that agreement is
#   built in: conductance is measured in the gated network, so a kernel with gate 0 has
#   conductance exactly 0 and a larger gate scales a kernel's map up. That is why the ρ among
#   the surviving kernels (gate > 0) is printed as well; that one is the fairer test.
# * If **gate and L1** agree, the switcher may be doing little more than magnitude pruning.
#   If they do not, it uses something about the weights other than their size.
# * *undefined* means one ranking is constant: for instance, when a collapsed run has pruned
#   every kernel of a later layer, nothing flows to the output and every conductance is 0.
# * The "gate > 0 only" value is *undefined* when every surviving kernel has the same gate:
#   the switcher then ranks nothing among them (the panel's title gives the shared value).
#   In that case the fair question is answered by the other panels: does L1 or conductance
#   separate the surviving kernels, and does the switcher's split into surviving and pruned
#   kernels follow either of them?
#   A smoke run can be that degenerate; it only checks that the code runs.

# %% [markdown]
# ## The same question for the MLP's input pixels
#
# The first switcher of the MLP gates the 784 input pixels (figure 4 of the paper). captum's
# `IntegratedGradients` gives each pixel of each digit an attribution for the true class,
# again from a black baseline; we average its absolute value over the test digits. Left, the
# gates; right, the attributions.

# %%
mlp = obtain_run("mlp", live=LIVE, level=LEVEL)
say(mlp.origin)
mlp_gate = mlp.model.fc1.gate_in_mode("eval").cpu()
mlp_x, mlp_y = (t[:N_IMAGES] for t in mlp.test_set().tensors)
pixel_map = attribution.pixel_attribution(mlp.model, mlp_x, mlp_y, n_steps=N_STEPS)
fig = widgets.pixel_maps_figure(mlp_gate, pixel_map)
plt.show()

# %% [markdown]
# An integrated-gradients attribution is the pixel's value times an average gradient, so a
# pixel that is black in every digit gets exactly 0, whatever its gate. On those pixels the
# attribution map says nothing, while the gate map may still keep or even strengthen them (the
# first line below counts them). A correlation over all 784 pixels mixes those forced zeros
# in; the correlation over the pixels that at least one of these digits uses is the more
# telling number:

# %%
used = mlp_x.flatten(1).amax(0) > 0
unused = gate_categories(mlp_gate[~used])
say(f"the {int((~used).sum())} pixels no digit here uses: attribution 0 on all of them; their gates: "
      + ", ".join(f"{n} {kind}" for kind, n in unused.items()))
say(f"Spearman rho, all 784 pixels: {attribution.spearman(mlp_gate, pixel_map.flatten()):+.2f}")
say(f"Spearman rho, the {int(used.sum())} pixels these digits use: "
      f"{attribution.spearman(mlp_gate[used], pixel_map.flatten()[used]):+.2f}")

# %% [markdown]
# ## Exercises
#
# Questions 1 to 3 use the kernel explorer (its `digits` dropdown, `seed` slider, `layer`
# dropdown and `maps` buttons).
#
# 1. **Raw or gated?** Switch `maps` between raw and gated. Which rows change, and which
#    look exactly the same? The figure's title says that each row shares one grey scale:
#    use that to explain why a weakened or strengthened kernel's row can look unchanged
#    although its map was multiplied by its gate.
# 2. **Global shape or local texture?** Set `digits` to "class 1", then to a class with round
#    strokes such as "class 0", and try a few values of the `seed` slider. Do the pruned
#    kernels' maps follow the overall outline of the digit, as the paper says? Do some
#    strengthened kernels light up mainly on edges of one direction? Write down one
#    observation that supports the paper's reading and, if you find one, one that does not.
# 3. **The second convolution.** Switch `layer` to conv2. Each kernel picture is now a grid
#    with one small 5×5 kernel per input channel. Do conv2's raw maps still look like the
#    digit, or more abstract? Can you still tell the pruned kernels' maps from the
#    strengthened ones', or is the paper's reading harder to check in this layer? Why might
#    that be?
# 4. **Three rankings.** In the three scatter plots, each dot is one conv1 kernel. Read the ρ of
#    gate against conductance for all kernels and for the surviving ones only. Why does the
#    "all kernels" value get a head start? Then look at gate against L1: from this run, does
#    the switcher seem to do more than magnitude pruning? How sure can you be with 20 kernels?
# 5. **Pixels.** In the MLP's two pixel maps, what does each map show on the pixels no digit
#    uses, and why must the attribution be 0 there? Does the switcher prune those pixels? Which
#    of the two printed Spearman ρ values is the fairer test, and what does it say about this
#    run?
# 6. **Going further.** Set `TRAIN_LIVE = True` and, as suggested near the top, add `seed=1`
#    to the `obtain_run("lenet5", ...)` call, then run the notebook again to train a new LeNet5
#    here (a few minutes). Do its strengthened and pruned kernels look like the same kinds of
#    detectors as before? Does the ρ of gate against conductance among surviving kernels keep
#    its sign?

# %% [markdown]
# **Back:** [02 · Training an MLP and LeNet5 with switchers](02_training.ipynb) · **Next:** [04 · The ablation study](04_ablation.ipynb).
