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
# The paper's claim is strong: the switcher *mines knowledge from the weights* and decides which
# neurons matter. An ablation asks what happens when pieces are taken away or swapped:
#
# * **SNN-AL vs SNN-SL** (the paper's Table 2): alternate the two networks epoch by epoch, or
#   train the TNN alone first and only then the switcher on the frozen TNN.
# * **Dense baseline**: no switcher at all.
# * **Magnitude pruning at matched sparsity**: take the dense network and remove exactly as many
#   neurons per layer as the switcher did, choosing the ones with the smallest L1 norm; with and
#   without a short fine-tuning. If this does as well, the switcher found nothing a norm could not.
# * **Controls**: feed the switcher the weights *shuffled*, Gaussian *noise* of the same scale,
#   or a *constant* image. If sparsity still appears, it does not come from reading the weights.
# * **The connection strategy**: one gate per weight instead of one per neuron.
#
# Training all of this takes a while, so it runs headless from the command line and this
# notebook only reads the results:
#
# ```bash
# python -m snn_edu ablation --model mlp --preset cpu --seeds 3 --out runs/ablation
# ```

# %%
# %matplotlib inline
from pathlib import Path
import tempfile

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from snn_edu import ablation, plots, study, widgets
from snn_edu.presets import smoke_mode

RUNS = Path("../runs/ablation/mlp")  # where the command above writes the MLP's runs

# %% [markdown]
# If no finished study is found there (on Binder, say), the notebook runs a tiny smoke-level
# study instead, so that every figure below still works. Its numbers mean nothing: it trains
# for a handful of steps.

# %%
if smoke_mode() or not list(RUNS.glob("*/seed*/metrics.json")):
    RUNS = Path(tempfile.mkdtemp(prefix="snn_edu_ablation_smoke_"))
    print(f"no cpu-level study found; running a smoke-level one in {RUNS}")
    study.run_study(study.plan(["mlp"], ["al", "dense", "noise"], seeds=1, measures=("magnitude",)), "smoke", RUNS,
                    progress=False, log=lambda line: None)
    RUNS = RUNS / "mlp"
runs = ablation.load_runs(RUNS)
histories = ablation.load_histories(RUNS)
print(f"{sum(len(v) for v in runs.values())} runs of {len(runs)} variants from {RUNS}")

# %% [markdown]
# ## Results
#
# Mean ± standard deviation over seeds, with the paper's numbers where it has them. The paper
# trained for 100 epochs on all of MNIST; a CPU-level study uses 4,000 digits and a few epochs,
# so look at the differences between rows rather than at the absolute numbers.

# %%
display(Markdown(ablation.summary_markdown(runs)))

# %%
fig, axes = plots.new_figure(1, 2, width=11, height=3.6)
plots.plot_ablation_bars(axes[0], runs, "test_accuracy", "test accuracy (%)")
plots.plot_ablation_bars(axes[1], runs, "params_removed_pct", "params removed (%)")
plt.show()

# %% [markdown]
# The same comparisons in words, computed from the runs above:

# %%
for sentence in ablation.findings(runs):
    print("•", sentence)

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
# ## Compare two runs
#
# Pick two runs: their learning curves, and one layer's gates at any epoch. A static view of the
# first two runs comes first.

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
final_gates = {f"{name} · {layer}": gate for name, h in histories.items() if h.epochs
               for layer, gate in h.epochs[-1]["gates_eval"].items()}
first = next(iter(final_gates))
fig = widgets.threshold_figure(final_gates[first], 0.1)
plt.show()

# %%
widgets.threshold_explorer(final_gates)
