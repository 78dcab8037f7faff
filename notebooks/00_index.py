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
# # 00 · Switcher neural networks: start here
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/00_index.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/00_index.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# **First, run every cell** (in JupyterLab: *Run ▸ Run All Cells*). The notebooks ship without
# outputs, so the table of how long each notebook takes and the first figure stay blank until
# their cells have run; it takes a few seconds. The *rendered book* (the link beside the
# buttons above) shows every notebook already executed.
#
# These notebooks teach one idea from two papers by Han, Liu and colleagues: a small network,
# the **switcher**, looks at another network's weight matrix as if it were a picture and decides,
# neuron by neuron, how much each one should count. Its answers are *gates*: `0` removes a
# neuron, a value below `1` weakens it, `1` or more strengthens it. The two networks take turns
# to lower the same cross-entropy, and nothing in the loss asks for sparsity, so any neuron that
# ends up removed was removed because the task did not need it.
#
# Every number and figure in the notebooks comes from a real run: either one you start yourself
# or the runs that ship with the package in `results/cpu/`, each of which records the command
# and machine that produced it.

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

# %% [markdown]
# ## The notebooks, in order
#
# | | notebook | what it teaches | what you do with it |
# | --- | --- | --- | --- |
# | 1 | [01 · What a switcher does to a gradient](01_gradient_analysis.ipynb) | the smallest system with a switcher (section 3.4 of the first paper): the chain rule shows that every class's error reaches every weight through the switcher | move sliders for the input, the target and the switcher's weights and watch each class's share of the gradient |
# | 2 | [02 · Training an MLP and LeNet5 with switchers](02_training.ipynb) | the full method on the paper's two networks: alternating phases, which neurons are pruned, weakened or strengthened, the paper's figures 4 and 5, and the pruned network exported | step through the epochs with the mask inspector |
# | 3 | [03 · Strengthened versus pruned kernels](03_kernels.ipynb) | what LeNet5's gates mean: feature maps of the kernels the switcher kept and removed (the paper's figure 3), compared with captum's attributions and the kernels' size | pick digits and kernels in the kernel explorer |
# | 4 | [04 · The ablation study](04_ablation.ipynb) | what really makes the switcher prune: controls that feed it shuffled weights, noise or a constant, magnitude pruning at the same sparsity, and the accuracy-versus-sparsity frontier | compare runs epoch by epoch; move a pruning threshold; explore the frontier |
# | 5 | [05 · The switcher against its peers](05_peers.ipynb) | the papers' Table 1 question: does a U-Net (a convolutional network that shrinks its input image and grows it back) that reads the weights choose better than a gate learned directly (the switcher without its U-Net), L0 regularisation (gates trained with a penalty on how many of them are open) or Bayesian compression with group normal-Jeffreys priors (BC-GNJ)? | step through each method's masks; compare the methods on the frontier |
# | 6 | [06 · Switchers on other networks](06_networks.ipynb) | the method beyond MNIST: switchers on a torchvision ResNet18 in three lines, trained here on the shipped digits; gates on the convolutions inside its residual blocks, and which of their filters can go; the papers' CIFAR and Mini-ImageNet networks by name, and which of the papers' rows the package runs and has measured | gate your own model; print the commands a GPU cluster runs |
# | 7 | [07 · Is a harder task pruned less?](07_harder_tasks.ipynb) | the papers' claim that harder tasks are pruned less, tested offline: the MLP, LeNet5 and VGG-cov2 on digits and on the harder Fashion-MNIST, three seeds each, with a computed verdict per network | compare the pixels each task keeps; step through any run's masks |
#
# Read them in this order: 02 uses the vocabulary of 01, 03 to 05 question what 02 shows,
# 06 takes the method to other networks and 07 to a harder task.
# Each one ends with exercises that its widgets can answer.

# %% [markdown]
# ## How long each one takes
#
# Each notebook runs at three levels:
#
# * **smoke** (`SNN_EDU_SMOKE=1`): tiny runs that only check that everything works; the numbers
#   mean nothing;
# * **the default**: the notebooks open the runs that ship in `results/` and train nothing;
# * **training here** (`TRAIN_LIVE = True` near the top of notebooks 02-05 and 07): the `cpu` level,
#   which teaches something real on a laptop or on Binder.
#
# Training here gives exactly the shipped numbers only on the kind of CPU that made them (each
# run records its CPU and SIMD flags; the line a notebook prints when it loads a run names them).
# On another CPU, PyTorch's kernels add in another order, and a run lands elsewhere: usually about
# as far as a new seed would move it, but rounding alone can also tip a switcher run into the
# collapse that notebook 02 shows ([docs/regeneration.md](../docs/regeneration.md) compares the
# shipped runs with the same commands run first on another kind of CPU).
#
# A fourth level, `paper` (the authors' recipe on all of MNIST for 100 epochs), is meant for a
# GPU and is not timed here. The table is computed from measured runs:

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from snn_edu import plots
from snn_edu.book import timing_markdown
from snn_edu.runs import load_run, results_dir

RESULTS = results_dir("cpu")
display(Markdown(timing_markdown(RESULTS.parent / "notebook_times.json", RESULTS)))

# %% [markdown]
# ## A first look
#
# This is what notebook 02 is about: the 784 gates that the switcher of the MLP's first layer
# chose for the 28×28 input pixels after training (left), and how many of them were pruned,
# weakened and strengthened after each epoch (right), from the shipped run of seed 0.

# %%
run = load_run(RESULTS / "mlp" / "al" / "seed0", with_model=False)
fig, axes = plots.new_figure(1, 2, width=10, height=3.6)
plots.plot_gate_map(axes[0], run.history.epochs[-1]["gates_eval"]["fc1"])
plots.category_legend(axes[0], loc="upper left", bbox_to_anchor=(1.0, 1.0))
plots.plot_category_counts(axes[1], run.history, "fc1")
plt.show()

# %% [markdown]
# ## Where to run them
#
# * **Binder** (the button at the top): JupyterLab in the browser, nothing to install; the first
#   start builds an image and can take several minutes.
# * **Colab**: the first cell of each notebook fetches this repository and installs the package;
#   it does nothing anywhere else.
# * **Your own machine**: `make lab` in a clone of the repository installs what the notebooks
#   need into `.venv` and opens JupyterLab (see the README for a CPU-only PyTorch).
#
# ## Citing
#
# The method is from Han, Liu, Hai and Li, *Explore the Knowledge contained in Network Weights to
# Obtain Sparse Neural Networks*, and Han, Liu, Hai and Duan, *Mining the Weights Knowledge for
# Optimizing Neural Network Structures* (arXiv:2110.05954). `CITATION.cff` in the repository
# cites both papers and this package.
