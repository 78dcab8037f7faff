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
# # 06 · Switchers on other networks: a torchvision model, and the papers' CIFAR rows
#
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/snn-edu/snn_edu/main?urlpath=lab/tree/notebooks/06_networks.ipynb) [![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/snn-edu/snn_edu/blob/main/notebooks/06_networks.ipynb) [rendered book](https://snn-edu.github.io/snn_edu/) <!-- launch badges: python -m snn_edu links -->
#
# Notebooks 02 to 05 study the switcher neural network (SNN) on the two MNIST networks of the
# papers. Both papers go further: the first prunes VGG-cov2, VGG16, ResNet34 and MobileNetV1 on
# CIFAR-10 and Mini-ImageNet, the second ResNet18, ResNet34, VGG16 and MobileNet on CIFAR-10 and
# CIFAR-100. In the deep networks only the fully connected (FC) head is gated: the switcher reads
# the head's weight matrix and gates its input units, and the convolutions train as usual.
#
# This notebook shows how to put switchers on a model you already have, in a few lines, trains
# one here on the digits that ship with the package, and then says plainly which of the papers'
# rows the package can run and which it has measured.

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
import torchvision
from IPython.display import Markdown, display
from torch import nn

import snn_edu
from snn_edu import plots, widgets
from snn_edu.analysis import compact, param_counts, params_removed_pct, pruned_architecture
from snn_edu.catalog import baseline_sentence, network_rows_markdown, networks_markdown
from snn_edu.coupled import compact_graph
from snn_edu.metrics import result_line
from snn_edu.nets import gate_classifier, given_gates
from snn_edu.presets import smoke_mode
from snn_edu.prose import say
from snn_edu.training import Trainer, TrainConfig, load_data

torch.manual_seed(0)
say("device:", snn_edu.training.resolve_device("auto"), "| smoke mode:", smoke_mode())

# %% [markdown]
# ## Switchers on a torchvision ResNet18 in three lines
#
# `gate_classifier` takes any `nn.Module` and replaces the `nn.Linear` layers you name (or glob
# patterns, or all of them) with gated layers that keep their weights and bias. Here it gates
# the `fc` head of torchvision's ResNet18, as the papers do for their ResNets. The only change to
# the torchvision model is its first convolution, which reads one grey channel instead of three,
# so that it runs offline on the package's 5,000 digits (CIFAR-10 must be downloaded, and cannot
# be on every machine this notebook runs on).

# %%
resnet = torchvision.models.resnet18(num_classes=10)
resnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)  # grey digits, not RGB
model = gate_classifier(resnet, linear=["fc"], switcher="lite")
{name: tuple(layer.weight.shape) for name, layer in model.gated_layers().items()}

# %% [markdown]
# The gated head stores its weight as (inputs, outputs): 512 × 10, the image the switcher reads.
# It answers with one gate per input unit, 512 gates, one for each channel that ResNet18's
# average pool hands to the head.
#
# The returned model is an ordinary `GatedNet`, so everything of notebooks 02 to 05 works on it:
# the task neural network (TNN), here the whole ResNet, and the switcher take turns by epoch
# (alternate learning), the history records the gates of every epoch, and `compact()` exports
# the pruned model. The run below is small: its numbers show that the pieces work, not what
# ResNet18 achieves.

# %%
size = dict(train_size=64, test_size=64, epochs=2, max_steps=1) if smoke_mode() else \
    dict(train_size=1000, test_size=1000, epochs=4)
config = TrainConfig(model="torchvision-resnet18", switcher="lite", lr=0.01, momentum=0.9, seed=0, **size)
train_set, test_set = load_data(config)  # the shipped digits (config.data is mnist5k), subsampled
trainer = Trainer(config, train_set, test_set, model=model, progress=False)
history = trainer.fit()
say(result_line(trainer.metrics()))

# %% [markdown]
# Left: the head's 512 gates after the last epoch, sorted, coloured pruned, weakened or
# strengthened. Right: how many of each after every epoch.

# %%
gate = history.epochs[-1]["gates_eval"]["net.fc"]
fig, axes = plots.new_figure(1, 2, width=10, height=3.4)
plots.plot_gate_values(axes[0], gate, title="ResNet18 head: 512 input gates")
plots.plot_category_counts(axes[1], history, "net.fc")
plt.show()

# %% [markdown]
# The mask inspector of notebook 02 works unchanged on this model: pick an epoch to see the
# head's gates then. Its static view of the last epoch comes first.

# %%
fig = widgets.mask_figure(history, "net.fc", len(history.epochs) - 1)
plt.show()

# %%
widgets.mask_inspector(history)

# %% [markdown]
# The counting follows the real connections: a pruned input unit of the head removes its ten
# weights. `compact()` builds the smaller model, and its outputs are the gated model's:

# %%
kept, total = param_counts(trainer.model)
small = compact(trainer.model)
x = test_set.tensors[0][:64].to(trainer.device)
with torch.no_grad():
    trainer.model.eval()
    gap = (small(x) - trainer.model(x)).abs().max().item()
say(f"head kept {pruned_architecture(trainer.model)} of 512 inputs, {kept:,} of {total:,} head weights; "
      f"largest output difference after compact(): {gap:.2e}")

# %% [markdown]
# Most classifiers have biases, and a head of two or more layers. MobileNetV3-small's head is
# `Linear` (with a bias), `Hardswish`, `Dropout`, `Linear`. Gated with given gates (about a third
# closed, no training: a CPU notebook cannot train it), it compacts exactly as well. A unit that
# nothing alive feeds would still pass on its bias through `Hardswish`; `compact()` folds that
# constant into the next layer's bias.

# %%
head_model = gate_classifier(torchvision.models.mobilenet_v3_small(num_classes=10), linear=True, switcher="lite").eval()
given_gates(head_model, closed=1 / 3, seed=0)
images = torch.rand(2, 3, 64, 64)
with torch.no_grad():
    small_head = compact(head_model)
    gap = (small_head(images) - head_model(images)).abs().max().item()
kept, total = param_counts(head_model)
say(f"MobileNetV3-small's head keeps {pruned_architecture(head_model)} inputs of its two layers, {kept:,} of "
    f"{total:,} head weights; largest output difference after compact(): {gap:.2e}")

# %% [markdown]
# Convolutions can be gated anywhere too, with a catch inside residual blocks. There a
# convolution's output channel is added to the block's input, so the channels that the additions
# tie together can only go together, and only where every gated convolution adding to a channel
# has a gate of 0 there. `gate_classifier` then needs the input's shape, to trace the graph (with
# Torch-Pruning's `DependencyGraph`). Here ResNet18's third stage and its head are gated, with given
# gates again. The first printed line counts the weights; the others say which zero-gated filters
# stay, and why:

# %%
stage_model = gate_classifier(torchvision.models.resnet18(num_classes=10), linear=["fc"], conv=["layer3.*"],
                              switcher="lite", example=(3, 32, 32)).eval()
given_gates(stage_model, closed=1 / 3, seed=0)
images = torch.rand(2, 3, 32, 32)
with torch.no_grad():
    gap = (compact(stage_model)(images) - stage_model(images)).abs().max().item()
kept, total = param_counts(stage_model)
say(f"ResNet18's third stage and head keep {kept:,} of {total:,} gated weights "
    f"({params_removed_pct(stage_model):.1f} % removed); largest output difference after compact(): {gap:.2e}")
for reason in compact_graph(stage_model, stage_model.gates()).kept_because:
    say(reason)

# %% [markdown]
# Drawn independently, the gates of the convolutions that add to one channel are rarely all 0 at
# once, so most of their zero-gated filters stay. Inside residual blocks, pruning pays only where
# the gates agree; the filters of each block's first convolution, which nothing else adds to, go
# freely.

# %% [markdown]
# ## The papers' networks by name
#
# `--model` also accepts the papers' CIFAR networks. The package writes the CIFAR stems that
# torchvision lacks (a 3×3 first convolution with stride 1 and no max-pool, as in the common
# CIFAR versions) and gives each the FC head the papers report. Counted here for CIFAR's 32×32
# colour images and 10 classes:

# %%
display(Markdown(networks_markdown()))
say(baseline_sentence("vgg16"))

# %% [markdown]
# VGG16's head is the papers' 512-4096-4096, though its parameter count differs (printed above).
# For VGG-cov2 the authors' code gates only the three FC layers, while the first paper says
# every layer was optimised; `--gate-convs` gates the two convolutions too.
#
# Their `paper` presets follow the authors' CIFAR recipe: SGD at 0.1, batch 64, and a learning
# rate per phase that drops tenfold when that phase's training loss stops improving for 20
# epochs; a run ends when both phases' rates are below 0.005. These commands are what a GPU
# cluster runs (the `memory` command says beforehand which ones fit a 16 GB GPU). The third one,
# `magnitude`, trains nothing: once a seed's switcher (`al`) and dense runs exist, it prunes the
# dense network by weight size to the switcher's sparsity and fine-tunes it (notebook 04's
# baseline), so it can only start after the other two:

# %%
from snn_edu.cli import main as snn_edu_cli

exit_code = snn_edu_cli(["reproduce", "--level", "paper", "--models", "resnet34", "--variants", "al", "dense", "--seeds", "1",
             "--no-frontier", "--out", "results/paper", "--print-commands"])

# %% [markdown]
# ## Which of the papers' rows the package runs, and which it has measured
#
# Every row below runs through the same command line (`--model`, `--data cifar10`, `cifar100` or
# `imagefolder:PATH` for Mini-ImageNet, `--strategy`). The last column looks for finished runs
# under `results/`, and the sentence after the table is computed from it. The shipped results
# were made on a machine with no GPU that could not download CIFAR or Mini-ImageNet; the tests
# train each network for a smoke epoch on generated images instead, which checks that the code
# runs, not what it reaches.

# %%
table, counts = network_rows_markdown("../results")
display(Markdown(table))
say(f"The package runs {counts['runs']} of these {counts['rows']} rows; {counts['measured']} "
      f"{'has' if counts['measured'] == 1 else 'have'} a finished run under results/.")

# %% [markdown]
# ## Exercises
#
# 1. Gate every `nn.Linear` of torchvision's VGG11 (`linear=True`) and print its gated layers.
#    Which of them does the switcher read as the largest image?
# 2. Train the ResNet18 above for more epochs (`epochs=8`). Does the number of pruned head
#    inputs keep growing, or settle?
# 3. Run `python -m snn_edu memory --models vgg16` and find which switcher size fits a 16 GB GPU.

# %% [markdown]
# **Back:** [05 · The switcher against its peers](05_peers.ipynb) · **Next:** [07 · Is a harder task pruned less?](07_harder_tasks.ipynb).
