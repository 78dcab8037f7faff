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
# # 07 · Is a harder task pruned less?
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/07_harder_tasks.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/07_harder_tasks.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# Both papers end their tables with one general conclusion: the switcher neural network (SNN)
# prunes the task neural network (TNN) *less* when the task is harder. "For the same network,
# more difficult tasks will result in less sparsity", says the second paper, comparing CIFAR-10
# with CIFAR-100; in the first, ResNet34 keeps 247 of its 512 head inputs on CIFAR-10 and 376
# on Mini-ImageNet.
#
# Those data sets cannot be downloaded everywhere, but the claim can be tested offline:
# **Fashion-MNIST** has exactly MNIST's shape and size (28 x 28 grey images, 10 classes) and is
# markedly harder. The package ships 5,000 of its images as `fashion5k`, split 4,000 / 1,000
# like the digits of `mnist5k`. The same `cpu`-level study then ran on both tasks: switcher
# runs trained by alternate learning (AL), in which the switcher and the TNN take turns epoch
# by epoch (rather than separate learning (SL), in which the TNN trains first), and dense runs
# without a switcher, three seeds each, for the MLP, LeNet5 and VGG-cov2. The commands:
#
# ```bash
# python -m snn_edu reproduce --level cpu --data fashion5k --out results/cpu-fashion5k --jobs 2 --variants al dense
# python -m snn_edu reproduce --level cpu --models vgg-cov2 --variants al dense --out results/cpu --jobs 2
# python -m snn_edu reproduce --level cpu --models vgg-cov2 --variants al dense --data fashion5k --out results/cpu-fashion5k --jobs 2
# ```
#
# (the MNIST runs of the MLP and LeNet5 are notebook 04's). This notebook reads them;
# [docs/harder_tasks.md](../docs/harder_tasks.md) is the same table as a page.

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

from snn_edu import study, tasks, widgets
from snn_edu.presets import smoke_mode
from snn_edu.prose import say
from snn_edu.report import recipe_text
from snn_edu.runs import describe_results, results_dir

TRAIN_LIVE = False  # True: train the MLP and LeNet5 on both tasks here (notebook 00's table gives the time)
LEVEL = None        # when training: None means "smoke" with SNN_EDU_SMOKE=1, else "cpu"
LIVE = TRAIN_LIVE or smoke_mode()  # SNN_EDU_SMOKE=1 always runs a tiny study, to test that path

# %% [markdown]
# A smoke-level study (`SNN_EDU_SMOKE=1`) trains for a handful of steps: it checks that every
# figure below works, and its numbers mean nothing. VGG-cov2 costs far more even at its cheaper
# `cpu` recipe (printed below; its time is in `docs/performance.md`), so its part always reads
# the shipped runs.

# %%
SHIPPED = tasks.task_folders(results_dir("cpu").parent)
if LIVE:
    level = LEVEL or ("smoke" if smoke_mode() else "cpu")
    FOLDERS = {task: study.live_study(level, ["al", "dense"], measures=(), name=task, data=task) for task in SHIPPED}
else:
    FOLDERS = SHIPPED
for task, folder in FOLDERS.items():
    say(f"{task}: {describe_results(folder)}")
MODELS = [m for m in tasks.MODELS if (FOLDERS["mnist5k"] / m).is_dir()]
rows = tasks.task_rows(FOLDERS, MODELS)
histories = tasks.load_task_histories(FOLDERS, MODELS)
if "vgg-cov2" not in MODELS:  # trained here: VGG-cov2 comes from the shipped runs
    rows += tasks.task_rows(SHIPPED, ["vgg-cov2"])
    histories.update(tasks.load_task_histories(SHIPPED, ["vgg-cov2"]))
say("recipes:", recipe_text(FOLDERS["mnist5k"], MODELS)
      + ("" if "vgg-cov2" in MODELS else "; " + recipe_text(SHIPPED["mnist5k"], ["vgg-cov2"])))

# %% [markdown]
# ## The table
#
# For each network and task: the switcher runs' test accuracy, the dense runs' accuracy, the
# drop between them seed by seed, the pruned architecture (units left in each gated layer) and
# the share of the weights removed; mean ± standard deviation over the seeds.

# %%
display(Markdown(tasks.tasks_markdown(rows)))

# %% [markdown]
# The papers' claim, network by network, with what the harder task costs in accuracy. Each seed
# ran on both tasks, so the sentences pair the runs by seed and give the mean difference (harder
# minus easier) with its 95 % interval from Student's t: the range the true difference would
# lie in 95 times out of 100 if the seeds were drawn again. A difference is called shown only
# when its interval excludes 0; with three seeds the interval is wide. The sentences are
# computed from the runs behind the table above.

# %%
for sentence in tasks.task_sentences(rows, "mnist5k", "fashion5k"):
    say(sentence, bullet="• ")

# %% [markdown]
# ## Which pixels each task keeps
#
# The MLP's first layer has one gate per input pixel, so its gates form a 28 x 28 picture:
# near-black pixels are pruned, blue ones weakened and orange ones strengthened (the legend under
# the figure; the first paper's Fig. 4, left).
# Each row is a task, each column a seed; the last column counts how many seeds keep each
# pixel. Digits live in the middle of the frame, while clothes fill most of it.

# %%
fig = widgets.input_gates_figure(histories, "mlp", "fc1")
plt.show()

# %% [markdown]
# ## How VGG-cov2's head is pruned over training
#
# VGG-cov2 is gated in its three FC layers, as in the authors' release: fc1 reads the
# 12,544 features of its two convolutions on a 28 x 28 image. The counts of pruned, weakened
# and strengthened units per epoch (the first paper's Fig. 4, right) show when the switcher
# decides, on each task. The runs begin with a warm-up without gates, so the counts begin where
# the gates do (the line under the figure says at which epoch).

# %%
fig = widgets.category_counts_figure(histories, "vgg-cov2", 0)
plt.show()
vgg = next(h for (m, _, _), h in histories.items() if m == "vgg-cov2")
warm = sum(e["phase"] == "warmup" for e in vgg.epochs)
say(f"VGG-cov2's runs train {warm} warm-up epoch{'s' * (warm != 1)} without gates (epochs 0-{warm - 1}); "
      f"the gates, and the counts, start at epoch {warm}.")

# %% [markdown]
# ## Every run's masks, epoch by epoch
#
# One run's gates in every gated layer at one epoch; a static view of the last epoch of
# VGG-cov2 on fashion5k comes first. Then pick the network, the task, the seed and the epoch.

# %%
first = next(iter(histories))
pick = next((k for k in histories if k[0] == "vgg-cov2" and k[1] == "fashion5k"), first)
fig = widgets.task_masks_figure(histories, *pick, len(histories[pick].epochs) - 1)
plt.show()

# %%
widgets.task_masks(histories)

# %% [markdown]
# ## Exercises
#
# 1. **Predict, then check.** Before reading the table: on the harder task, should the switcher
#    keep more units (the papers' claim) or fewer? Which column of the table answers it, and
#    which column says what the harder task cost in accuracy? Do the sentences agree with your
#    reading of the means, and if not, why do they refuse to call a difference?
# 2. **Which pixels?** In the input-gate maps, which regions does the MLP keep on mnist5k that
#    it prunes on fashion5k, and the other way round? Are the kept pixels the same from seed to
#    seed (the last column), or does each seed keep its own set?
# 3. **When does the switcher decide?** In the VGG-cov2 counts, in which epoch does fc1 reach
#    its final number of pruned units? Is it the same epoch on both tasks? Then set `network` to
#    vgg-cov2 in the panel above and step the `epoch` slider: fc1's map has 12,544 cells, too
#    many to follow one by one, so watch the architecture in the figure's title instead. Does its
#    first number stop changing at the same epoch as the counts?
# 4. **How many seeds?** The MLP's interval for weights removed is wide. Its half-width is
#    t × (std of the seed-by-seed differences) / √n, with t = 4.30 for three seeds and about 2.0
#    for thirty. Suppose the differences stayed as they are: how many seeds would the interval
#    need before it excluded 0? What does that say about three seeds as evidence for a claim
#    about tasks?
# 5. **Going further.** From the repository's root folder, train a fourth seed of the MLP on
#    fashion5k (a couple of minutes):
#    `python -m snn_edu train --preset cpu --model mlp --data fashion5k --seed 3 --out runs/mlp_fashion_seed3`.
#    Does its params removed fall inside the fashion5k row's mean ± std?

# %% [markdown]
# **Back:** [06 · Switchers on other networks](06_networks.ipynb) · **The end.** [00 · start here](00_index.ipynb) lists every notebook.
