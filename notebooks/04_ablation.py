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
# # 04 · The ablation study: what really makes the switcher prune?
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/04_ablation.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/04_ablation.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# The paper's claim is strong: the switcher *mines knowledge from the weights* and decides which
# neurons matter. An ablation asks what happens when pieces are taken away or swapped:
#
# * **Alternate learning (AL) versus separate learning (SL)** (the paper's Table 2, where the
#   switcher neural network (SNN) trained each way is called SNN-AL and SNN-SL): the switcher
#   and the task neural network (TNN) take turns epoch by epoch, or the TNN is trained alone
#   first and only then the switcher on the frozen TNN.
# * **Dense baseline**: no switcher at all.
# * **Magnitude pruning at matched sparsity**: take the dense network and remove exactly as many
#   neurons per layer as the switcher did, choosing the ones with the smallest L1 norm; with and
#   without a short fine-tuning. If this does as well, the switcher found nothing a norm could not.
# * **Controls**: feed the switcher the weights *shuffled*, Gaussian *noise* of the same scale,
#   or a *constant* image. If sparsity still appears, it does not come from reading the weights.
# * **The connection strategy**: one gate per weight instead of one per neuron.
#
# and then a wider question: at **every** sparsity, not only the switcher's own, does the
# switcher's choice of neurons beat simpler ways of choosing them? That is the
# *accuracy-versus-sparsity frontier* below.
#
# All of it (three seeds of every variant for both networks, and the frontier) was run, with
# the peers of notebook 05, by one command:
#
# ```bash
# python -m snn_edu reproduce --level cpu --out results/cpu --jobs 2 --variants al sl dense \
#     shuffled noise constant connection direct l0-0.0001 l0-0.001 l0-0.01 l0-0.03 l0-0.05 \
#     l0-0.1 l0-0.3 bc
# ```
#
# and ships in `results/cpu/`; this notebook reads it. [docs/ablation.md](../docs/ablation.md)
# is the same data as a page.

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
import dataclasses

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from snn_edu import ablation, frontier, plots, regeneration, report, scopes, study, variants, widgets
from snn_edu.frontier import MODEL_NAMES
from snn_edu.presets import smoke_mode
from snn_edu.prose import say
from snn_edu.runs import describe_results, load_run, results_dir
from snn_edu.training import make_model

TRAIN_LIVE = False  # True: run the whole study here (notebook 00's table gives the time at the cpu level)
LEVEL = None        # when training: None means "smoke" with SNN_EDU_SMOKE=1, else "cpu"
LIVE = TRAIN_LIVE or smoke_mode()  # SNN_EDU_SMOKE=1 always runs a tiny study, to test that path

# %% [markdown]
# A smoke-level study (`SNN_EDU_SMOKE=1`) trains for a handful of steps: it checks that every
# figure below works, and its numbers mean nothing.

# %%
if LIVE:
    level = LEVEL or ("smoke" if smoke_mode() else "cpu")
    RESULTS = study.live_study(level, ["al", "dense", "noise", "joint"] if level == "smoke"
                               else [*variants.VARIANTS, "joint"])
else:
    RESULTS = results_dir("cpu")
say(describe_results(RESULTS))
MODELS = [m for m in ("mlp", "lenet5") if (RESULTS / m).is_dir()]
say("recipe:", report.recipe_text(RESULTS, MODELS))
runs = {m: ablation.load_runs(RESULTS / m) for m in MODELS}
histories = {f"{m} {name}": h for m in MODELS for name, h in ablation.load_histories(RESULTS / m).items()}
summary = [s for s in frontier.summarise(frontier.read_csv(RESULTS / "frontier.csv")) if s["model"] in MODELS]

# %% [markdown]
# ## The ablation
#
# Mean ± standard deviation over seeds, with the paper's numbers where it has them. The paper
# trained for 100 epochs on all of MNIST; ours follow the much shorter recipe printed above, so
# look at the differences between rows rather than at the absolute numbers.

# %%
for model in MODELS:
    display(Markdown(f"**{MODEL_NAMES[model]}**\n\n" + ablation.summary_markdown(runs[model])))

# %%
fig, axes = plots.new_figure(len(MODELS), 2, width=11, height=3.4 * len(MODELS), squeeze=False)
for row, model in enumerate(MODELS):
    plots.plot_ablation_bars(axes[row, 0], runs[model], "test_accuracy", f"{model}: test accuracy (%)")
    plots.plot_ablation_bars(axes[row, 1], runs[model], "params_removed_pct", f"{model}: params removed (%)")
plt.show()

# %% [markdown]
# The same comparisons in words, computed from the runs above. A baseline that was fine-tuned is
# compared with the switcher model fine-tuned alike (from the frontier study below), never with
# the switcher model as trained:

# %%
for model in MODELS:
    say(MODEL_NAMES[model])
    for sentence in ablation.findings(runs[model], summary):
        say(sentence, bullet="  • ")

# %% [markdown]
# ## One seed, two machines
#
# Every run above records the command that made it, and that command gives the same numbers
# again on the same kind of CPU. On another kind, PyTorch picks other kernels, which add their
# sums in another order, so the two runs of one seed differ by float rounding within the first
# epochs. Usually that moves a run about as far as a new seed would. But a switcher can
# close every gate of a layer, and then no gradient reaches it again (notebook 02 shows why):
# rounding alone can decide whether a run falls into that. The shipped study was first made on
# another kind of CPU; here are LeNet5's switcher runs (SNN-AL) from both machines, seed by seed
# (solid: the first machine; dashed: the machine that made the study shipped now).

# %%
CROSS_CPU = results_dir("cpu").parent / "cross-cpu" / "cpu.json"  # the shipped study against its first making
pairs = regeneration.two_machines(CROSS_CPU, "lenet5", "al")
fig, ax = plots.new_figure(1, 1, width=9, height=3.4)
plots.plot_two_machines(ax, pairs, regeneration.machine_names(pairs), "LeNet5 SNN-AL, the shipped study's two machines")
plt.show()
say(regeneration.two_machines_sentence(pairs))

# %% [markdown]
# Three seeds per machine are too few to say how often this recipe collapses; what the figure
# does say is that one seed's run is not a fixed fact about the method. A difference between two
# rows of the table above means something only when it is larger than what the seeds, and the
# machines, move on their own. [docs/regeneration.md](../docs/regeneration.md) sets every shipped
# run beside its twin from the other machine.

# %% [markdown]
# ## Why the controls matter
#
# The switcher ends in BatchNorm followed by ReLU, and its BatchNorm normalises over the one
# image it sees. Whatever that image is, about half of the normalised values are below the mean,
# and the ReLU turns every one of those into an exact zero. A freshly initialised switcher
# therefore "prunes" roughly half of its layer in training mode, before it has learned
# anything. That is why the controls are worth running: if noise or a constant image prunes
# as much as the real weights do, the pruning is a property of the architecture, and only the
# *choice* of neurons (and the accuracy that follows) can tell whether the weights were read.
#
# The three controls ask different questions. *Shuffled* weights keep every value but destroy
# which row belongs to which neuron: if that run prunes and scores like SNN-AL, the switcher is
# using the weights' statistics, not their arrangement. *Noise* and a *constant* image carry no
# information about the weights at all, and no gradient can flow through them into the TNN;
# whatever those switchers do, they decide without looking.

# %% [markdown]
# ## The frontier: is the switcher's choice of neurons better at any sparsity?
#
# Magnitude pruning at the switcher's own sparsity is a single point. The frontier asks the
# question at every sparsity. For each seed, take the trained switcher model and the trained
# dense model, rank each layer's units (a linear layer's inputs, a convolution's filters) by a
# **criterion**, remove the lowest-ranked share of every layer, and measure test accuracy,
# as pruned and after a short fine-tuning of the remaining weights (masks fixed):
#
# * **switcher gate**: the switcher's evaluation-mode gate, on the switcher model with its gates
#   folded into the weights (as `compact()` does); what the switcher already pruned stays pruned;
# * **L1 norm** of each unit's weights, on the dense model and on the switcher model;
# * **random**, seeded: the floor any criterion should beat;
# * **conductance**: captum's estimate, from training digits, of how much each unit contributes
#   to the right answer.
#
# The diamond is the switcher model as trained (its gates of exactly 0 removed), the star the
# paper's reported point. Bands are ± one standard deviation over seeds.

# %%
fig = widgets.frontier_figure(summary, MODELS[0], 0)
plt.show()

# %% [markdown]
# Choose the network, fine-tuning and curves; *y range* shows only that many points of accuracy
# below the best measured one (0 shows the whole axis), where the criteria differ before they
# all collapse. The window is set by the measured
# curves; when the paper's star falls outside it, a note in the corner says so.
# *x axis* switches between params removed and the compression ratio (all weights / kept
# weights) on a log scale, which spreads out the last few percent, where 90 % and 99 % removed
# mean keeping ten times fewer weights.

# %%
widgets.frontier_explorer(summary)

# %% [markdown]
# What the frontier says, computed from the data above. Two curves are compared only at the
# same share of *weights* removed (the x axis), seed against seed, and only where both were
# measured: each seed's curve is read at a measured point (a target lands within half a point
# of its share, and that counts), or on the straight line between two neighbouring points that
# lie at most 15 points apart, never beyond its ends. Elsewhere the
# sentence says "not measured". "Ahead" and "behind" mean that the 95 % interval of the seeds'
# paired differences (seed 0 against seed 0, and so on, with Student's t) lies above or below
# 0; where it includes 0 the sentence says "no difference shown", which with three seeds is an
# absence of evidence, not a tie. A straight line between two points can miss a cliff between
# them, so a verdict also needs the difference to be larger than the accuracy a read spanned
# (how much the curve changes between those two points). Otherwise the sentence says "not
# measured closely enough".

# %%
for model in MODELS:
    for sentence in frontier.findings(summary, model):
        say(sentence, bullet="• ")

# %% [markdown]
# ## One switcher for all layers
#
# Everything above uses one switcher per layer, as the authors' release does. The first paper's
# section 3.3 describes something else: "all the weights in these FC layers should be fully
# considered together". One switcher reads every FC layer at once: the weight matrices are
# stacked as the channels of one image, the smaller ones padded with zeros to the largest, and
# the switcher's output gives every layer's gates. Conv layers get one switcher of their own:
# each layer's kernels are first turned into a fixed number of features per filter by a
# convolution, and the filters of all conv layers become the rows of one image.
#
# The paper leaves open how the padding is cropped back and how the output is split among the
# layers. The package's choices, written down in `snn_edu/joint.py`: the U-Net (a convolutional
# network that shrinks its input image and grows it back) has one output
# channel per FC layer, layer k's channel is cropped back to that layer's own size (no gate
# belongs to a padded position, though the padded zeros do enter the U-Net's convolutions and
# its BatchNorm statistics, and so shape the gates) and reduced to one gate per row, that is
# per input unit, by the layer's
# own row head, exactly as a per-layer switcher's head does; in the conv image, each filter's
# kernels become a fixed number of features (`snn_edu.joint.FEATURES`) and row r's gate
# gates the filter of row r. The `joint` runs train exactly as `al` does (`--switcher-scope joint`).
#
# Here is what the MLP's joint switcher reads, built on seed 0's trained weights: three
# channels of 784 x 300, each layer's own region outlined, the rest zeros.

# %%
trained = load_run(RESULTS / "mlp" / "al" / "seed0")
joint_mlp = make_model(dataclasses.replace(trained.config, switcher_scope="joint"))
joint_mlp.load_state_dict({k: v for k, v in trained.model.state_dict().items() if ".gate." not in k}, strict=False)
fig = widgets.joint_image_figure(joint_mlp)
plt.show()

# %% [markdown]
# Does reading all layers together change what is pruned? Each network's `al` and `joint` runs
# side by side, then each layer's gates at the end of training for seed 0: one switcher per
# layer in the top row, the joint switcher below.

# %%
SCOPED = [m for m in MODELS if (RESULTS / m / "joint").is_dir()]
display(Markdown(scopes.scope_markdown(RESULTS, SCOPED) if SCOPED else "No `joint` runs in these results."))
for model in SCOPED:
    pair = ablation.load_histories(RESULTS / model, kinds=("al", "joint"))
    layers = list(pair["al/seed0"].epochs[-1]["gates_eval"])
    fig, axes = plots.new_figure(2, len(layers), width=2.8 * len(layers), height=5.6, squeeze=False)
    for row, kind in enumerate(("al", "joint")):
        for col, layer in enumerate(layers):
            plots.plot_gate_map(axes[row, col], pair[f"{kind}/seed0"].epochs[-1]["gates_eval"][layer])
            axes[row, col].set_ylabel(f"{kind}: {layer}" if col == 0 else layer)
    fig.suptitle(f"{MODEL_NAMES[model]}, seed 0: one switcher per layer (top) and joint (bottom)", fontsize="medium")
    plt.show()

# %% [markdown]
# In words, computed from the runs: how much each prunes, which units both keep, and the joint
# runs' accuracy against the per-layer switcher's frontier curve at the same weights removed
# (the rule of the frontier section).

# %%
for sentence in scopes.scope_sentences(RESULTS, SCOPED, summary):
    say(sentence, bullet="• ")

# %% [markdown]
# ## Compare two runs
#
# Pick two runs: their learning curves, and one layer's gates at any epoch. A static view of the
# first two runs comes first. (The shipped histories keep a connection-strategy run's gates, one
# per weight, for its last epoch only.)

# %%
names = list(histories)
fig = widgets.compare_runs_figure(histories, names[0], names[min(1, len(names) - 1)], "fc1",
                                  len(histories[names[0]].epochs) - 1)
plt.show()

# %%
widgets.compare_runs(histories)

# %% [markdown]
# ## What if "pruned" meant "small"?
#
# The paper counts a neuron as pruned only when its gate is exactly zero. Many gates end up tiny
# but positive. The slider moves the threshold: how much sparser would each run look if every
# gate below it counted as pruned?

# %%
final_gates = {name: dict(h.epochs[-1]["gates_eval"]) for name, h in histories.items() if h.epochs}
first = next(iter(final_gates))
fig = widgets.threshold_figure(next(iter(final_gates[first].values())), 0.1)
plt.show()

# %%
widgets.threshold_explorer(final_gates)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then check: the shuffled control.** Before you look, predict: if the switcher
#    reads the weights shuffled, will it prune as much as the method (the row `al`), and will
#    the accuracy suffer? Now compare the rows `shuffled` and `al` in the table and the bar
#    charts. If they are close, what does that say about whether the switcher uses the
#    *arrangement* of the weights or only their statistics? What do the rows `noise` and
#    `constant` add to that answer?
# 2. **Watch a control learn.** In the "Compare two runs" panel, set `run A` to
#    "mlp al/seed0" and `run B` to "mlp shuffled/seed0" (then "mlp constant/seed0"), `layer`
#    to fc1, and step the `epoch` slider. Do both runs prune pixels? Does the control's
#    pattern of pruned pixels look like the real run's, or different? Then set `run B` to
#    "mlp sl/seed0": at which epoch do its gates first appear, and why not earlier?
# 3. **What if "pruned" meant "small"?** In the threshold explorer, choose "mlp al/seed0" in
#    the `run` dropdown and fc1 in `layer`, and move the `prune if <` slider slowly up
#    from 0. Does the pruned bar grow smoothly, or is there a gap between the exact zeros and the
#    smallest positive gates? Try a hidden layer and a control run too. Would counting small
#    gates as pruned change what the ablation table seems to say?
# 4. **The frontier.** In the frontier explorer, keep `fine-tune` on "no fine-tuning" and use
#    the `curves` list (hold Ctrl, or Cmd on a Mac, to pick several) to show only the switcher
#    gate, L1 norm and random curves of the switcher model. At which shares of weights removed
#    is the switcher gate ahead, level or behind, and where do the curves not overlap at all?
#    A small `y range` shows only the top of the plot. Then pick the other `fine-tune` button
#    (its label says how many epochs): do the differences between the criteria shrink or grow?
#    Is the picture the same when you switch `model` between mlp and lenet5? Check your reading
#    against the printed findings.
# 5. **Dense or switcher model?** Still in the frontier explorer, show only "L1 norm (dense
#    model)" and "L1 norm (switcher model, gates folded)". Which network keeps its accuracy
#    better as more units are removed, and where does the diamond (the switcher model as
#    trained) sit? What might training with a switcher have done to the network's weights to
#    explain that?
# 6. **Going further.** From the repository's root folder, train a fourth seed of the shuffled
#    control (a minute or two):
#    `python -m snn_edu train --preset cpu --model mlp --switcher-input shuffled --seed 3 --out runs/mlp_shuffled_seed3`.
#    Do its printed test accuracy and pruned architecture fall inside the mean ± std of the
#    `shuffled` row? What does that tell you about how many seeds an ablation needs before you
#    trust a difference between two rows?

# %% [markdown]
# **Back:** [03 · Strengthened versus pruned kernels](03_kernels.ipynb).
#
# **Next:** [05 · The switcher against its peers](05_peers.ipynb) removes the U-Net altogether (a
# gate learned directly per neuron) and sets the switcher beside L0 regularisation (gates trained
# with a penalty on how many of them are open), the method
# both papers compare with in their Table 1.
