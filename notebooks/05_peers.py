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
# # 05 · The switcher against its peers
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/05_peers.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/05_peers.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# Both papers' Table 1 set the switcher neural network (SNN), trained by alternate learning (AL)
# with the network it gates, beside other methods that learn which neurons to remove.
# This notebook runs two of them, L0 regularisation (gates trained with a penalty on how many of
# them are open) and Bayesian compression with group normal-Jeffreys priors (BC-GNJ), and adds a
# third peer that the papers do not test, the direct gate. All three go through the same gated layers, the same data and the same
# counting of "pruned architecture" and "params removed":
#
# * **The direct gate**: one learned number per neuron, `relu(g)` with `g` starting at 1,
#   trained *exactly* as the switcher is (the same alternating phases, the same cross-entropy,
#   no penalty). It is the switcher with its U-Net (a convolutional network that shrinks its input
#   image and grows it back) taken out, so it asks the question at the
#   centre of the method: **does a network that reads the weights choose better than a gate
#   learned directly?**
# * **L0 regularisation with hard-concrete gates** (Louizos, Welling and Kingma, ICLR 2018; the
#   papers' `L0hc`): each neuron gets a random gate that is exactly 0 with a learned probability;
#   the loss adds `lambda / N` times the expected number of weights left on, and the network and
#   gates are trained together. A larger `lambda` prunes more, so one run per `lambda` traces a
#   curve of accuracy against sparsity.
# * **Bayesian compression with group normal-Jeffreys priors** (Louizos, Ullrich and Welling,
#   NIPS 2017; the papers' `BC-GNJ`): each neuron gets a Gaussian scale and each weight a
#   Gaussian posterior, trained on the cross-entropy plus their KL divergence (Kullback-Leibler:
#   how far one distribution is from another) from a sparsity-loving prior. A neuron is pruned
#   when its scale's noise swamps its mean: when log alpha, the log of a neuron's noise-to-signal
#   ratio, reaches -3 (`log alpha >= -3`).
#
# All three were run at the `cpu` level, 3 seeds each, by the same command as notebook 04's
# study:
#
# ```bash
# python -m snn_edu reproduce --level cpu --out results/cpu --jobs 2 --variants al sl dense \
#     shuffled noise constant connection direct l0-0.0001 l0-0.001 l0-0.01 l0-0.03 l0-0.05 \
#     l0-0.1 l0-0.3 bc
# ```
#
# and ship in `results/cpu/` beside the switcher's runs of notebook 04. This notebook reads them.

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
from IPython.display import Markdown, display

from snn_edu import frontier, peers, report, study, widgets
from snn_edu.variants import PEERS
from snn_edu.frontier import MODEL_NAMES
from snn_edu.presets import smoke_mode
from snn_edu.prose import say
from snn_edu.runs import describe_results, results_dir

TRAIN_LIVE = False  # True: train every peer and the switcher here (about half an hour on 2 cores at the cpu level)
LEVEL = None        # when training: None means "smoke" with SNN_EDU_SMOKE=1, else "cpu"
LIVE = TRAIN_LIVE or smoke_mode()  # SNN_EDU_SMOKE=1 always runs a tiny study, to test that path

# %% [markdown]
# A smoke-level study (`SNN_EDU_SMOKE=1`) trains for a handful of steps: it checks that every
# figure below works, and its numbers mean nothing.

# %%
if LIVE:
    level = LEVEL or ("smoke" if smoke_mode() else "cpu")
    RESULTS = study.live_study(level, ["al", "dense", *PEERS], measures=("frontier", "peers"), name="peers")
else:
    RESULTS = results_dir("cpu")
say(describe_results(RESULTS))
MODELS = [m for m in ("mlp", "lenet5") if (RESULTS / m / "direct").is_dir()]
runs = {m: peers.load_method_runs(RESULTS / m) for m in MODELS}
summary = [s for s in frontier.summarise(frontier.read_csv(RESULTS / "frontier.csv")) if s["model"] in MODELS]
say("recipe:", report.recipe_text(RESULTS, MODELS))

# %% [markdown]
# ## Ours beside the papers' Table 1
#
# The papers' rows (all 60,000 MNIST digits, each method with its own, far longer, training)
# come first, then ours, each a mean ± standard deviation over seeds. Our runs follow the much
# shorter recipe printed above, so compare the rows of ours with each other, and with the papers
# only for the shape of the pruned architecture. The BC authors choose each layer's pruning threshold by
# hand, ours is -3 everywhere. L0 and BC-GNJ train with Adam, as their authors do, while the
# switcher and the direct gate use SGD with momentum 0.9 (the `cpu` recipe's choice: the
# release's SGD has no momentum).

# %%
for model in MODELS:
    display(Markdown(f"**{MODEL_NAMES[model]}**\n\n" + peers.table_markdown(model, runs[model])))

# %% [markdown]
# Where our peers differ from their authors' own recipes (`peers.RECIPE_NOTES`, also printed
# under the same table in `docs/ablation.md`):

# %%
for note in peers.RECIPE_NOTES:
    say(note, bullet="• ")

# %% [markdown]
# ## On the frontier
#
# Notebook 04 drew the accuracy-versus-sparsity frontier of the switcher model ranked by its own
# gate. Here the peers join it:
#
# * **switcher gate**: the switcher model, its lowest-gated units of every layer removed;
# * **direct gate**: the same for the direct model, ranked by its own gate;
# * **L0**: one point per `lambda`, each an L0 run as trained (its gates of exactly 0 removed);
# * diamonds: the switcher, direct and BC-GNJ models as trained; stars: the papers' Table 1;
# * the dense model pruned by L1 norm, dotted, as a reference any learned method should beat.
#
# Bands are ± one standard deviation over seeds. "Fine-tuned" means a short training of the
# remaining weights with the mask fixed, the same recipe for every method.

# %%
fig = widgets.peers_figure(summary, MODELS[0], 0)
plt.show()

# %% [markdown]
# In the explorer, *x axis* switches to the compression ratio (all weights / kept weights) on a
# log scale, which spreads out the last few percent removed, where stars crowd on the linear axis:

# %%
for model in MODELS:
    stars = peers.table1_points(model)
    say(f"{MODEL_NAMES[model]}: the papers' stars at " + ", ".join(f"{name} {removed:g} %" for name, (removed, _) in stars.items()) + " removed")
widgets.peers_explorer(summary)

# %% [markdown]
# What the data say, computed from the runs above. Each seed of the switcher is compared with
# the same seed of the other method, at the share of weights the switcher removed in that seed.
# The other method's curve is read there from a measured point (one within half a point of
# weights removed counts), or from the straight line
# between its two neighbouring points, and only when those two lie at most 15 points of weights
# removed apart: being a few points from *one* measured point is not enough, since the curve
# may fall steeply on the other side of it. A curve is never read beyond its ends either. Where a curve
# cannot be read, the sentence says "not measured" and gives the reason: which seed, where its
# curve's points lie, and which rule stops the reading. "Beats" and "trails" mean that the 95 %
# interval of the seeds' paired differences (Student's t) excludes 0, and that the difference is
# larger than the curve changes between the two points a straight-line read spans (otherwise:
# "not measured closely enough", with that drop). L0 and BC-GNJ are compared as trained, like the
# switcher. The direct gate's curve, past its own point, is its trained model pruned afterwards
# by its own gate; the sentence says so where it reads that curve, and only the fine-tuned
# comparison gives that model the retraining the switcher's model had.

# %%
for model in MODELS:
    for sentence in peers.findings(summary, model, sorted({s["finetune_epochs"] for s in summary})):
        say(sentence, bullet="• ")

# %% [markdown]
# ## Step through each method's masks
#
# Choose one of the MLP's runs by method and seed, then move the epoch slider: the gates of one
# layer, how many are pruned, weakened or strengthened, and the run's learning curves with the
# epoch marked. Where notebook 02's inspector shows the weight image the switcher read, this one
# shows the curves: the direct gate, L0 and BC-GNJ read no weights, and the switcher's runs here
# keep no images. A static view of one L0 run's first layer comes first.

# %%
histories = peers.load_method_histories(RESULTS / MODELS[0])
method = next((m for m in ("l0-0.03", *PEERS) if (m, 0) in histories), next(iter(histories))[0])
fig = widgets.peer_masks_figure(histories, method, 0, "fc1", 99)
plt.show()

# %%
widgets.peer_masks(histories)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then check: the direct gate.** The direct gate is trained exactly as the
#    switcher is, with no penalty. Before you look at the table, predict: will it prune any
#    neuron at all? Then find its row. If it prunes nothing, what part of the switcher must
#    produce the switcher's zeros? (Notebook 04's section "Why the controls matter" has a hint.)
# 2. **Where do the methods cross?** In the frontier explorer, keep `fine-tune` on "no
#    fine-tuning" and look at the switcher's diamond. Is there an L0 point to its right that is
#    also higher? Switch `model` to lenet5: does the answer change? Then pick the fine-tuned
#    view: which curves move the most, and why might a method whose gates were trained together
#    with the weights gain less from fine-tuning?
# 3. **What does L0 prune first?** In the mask panel, choose an L0 run with a small `lambda`,
#    layer fc1, and step the epoch slider from 0. Which pixels close first? Compare with
#    `switcher (SNN-AL)` at the same epoch. Then choose a large `lambda`: which layer loses
#    the most units? The bars count a gate of 1 or more as strengthened. Can an L0 gate ever
#    rise *above* 1, as the switcher's do? Why not?
# 4. **Going further: lambda per layer.** The L0 paper separates `lambda` per layer. From the
#    repository's root folder, train one run with a larger `lambda` for the input layer than
#    for the others (a few seconds for the MLP):
#    `python -m snn_edu train --preset cpu --model mlp --gate l0 --optimizer adam --lr 0.01 --l0-lambda 0.3 0.03 0.03 --out runs/mlp_l0_sep`.
#    Where does its printed point fall against the curve above?

# %% [markdown]
# **Back:** [04 · The ablation study](04_ablation.ipynb) · **Next:** [06 · Switchers on other networks](06_networks.ipynb).
