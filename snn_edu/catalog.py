"""The papers' networks beyond MNIST: what the papers report, what the package builds, and
which rows have been measured here (notebook 06)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .layers import STRATEGIES
from .nets import NETWORKS, build_network

# The heads the papers describe for their gated layers (units entering each gated layer).
PAPER_HEADS = {"vgg-cov2": "conv 64, conv 64, FC 16384-256-256 (first paper: every layer gated)",
               "vgg16": "FC 512-4096-4096", "resnet18": "FC 512", "resnet34": "FC 512", "mobilenet-v1": "FC 1024"}


def _shape(layer) -> str:
    w = layer.weight
    return f"{w.shape[0]}x{w.shape[1]}x{w.shape[2]}x{w.shape[3]}" if w.dim() == 4 else f"{w.shape[0]}->{w.shape[1]}"


def networks_markdown(in_shape=(3, 32, 32), classes: int = 10) -> str:
    """Each named network as built for images of `in_shape`: its TNN parameters and the shapes
    of its gated layers (conv: out x in x k x k; FC: in -> out), beside the papers' heads.
    Built on PyTorch's meta device: nothing is allocated or initialised."""
    lines = ["| network | TNN parameters | gated layers (as built) | the papers' gated head |", "|---|---|---|---|"]
    with torch.device("meta"):
        for name in NETWORKS:
            for convs in ((False, True) if name == "vgg-cov2" else (False,)):
                model = build_network(name, switcher=None, in_shape=in_shape, classes=classes, gate_convs=convs)
                params = sum(p.numel() for p in model.parameters())
                shapes = ", ".join(f"{k} {_shape(v)}" for k, v in model.gated_layers().items())
                label = name + (" --gate-convs" if convs else "")
                lines.append(f"| {label} | {params:,} | {shapes} | {PAPER_HEADS[name]} |")
    return "\n".join(lines)


# Parameters of the dense baselines the papers count (second paper, Tables 2 and 3: "VggNet16, Baseline").
PAPER_BASELINE_PARAMS = {"vgg16": 38.9e6}


def baseline_sentence(name: str = "vgg16", in_shape=(3, 32, 32), classes: int = 10) -> str:
    """The papers' dense baseline's parameter count beside the network built here."""
    with torch.device("meta"):
        built = sum(p.numel() for p in build_network(name, switcher=None, in_shape=in_shape, classes=classes).parameters())
    reported = PAPER_BASELINE_PARAMS[name]
    verdict = ("the same count" if abs(built - reported) < 0.05e6 else
               "so the papers' source used a different variant")
    return (f"The second paper's {name.upper()} baseline counts {reported / 1e6:.1f}M parameters; the CIFAR "
            f"{name.upper()} built here has {built / 1e6:.1f}M, {verdict}.")


# The papers' rows beyond MNIST, copied from the papers (first paper Tables 3-4, CIFAR-10 and
# Mini-ImageNet, mean ± std over 8 runs; second paper Tables 2-3, CIFAR-10 and CIFAR-100, one
# number). "reported" is what the row gives beside the accuracy: the pruned architecture, or the
# units kept of the gated FC input, or the parameters left (* = FC layers only).
NETWORK_ROWS = [
    ("first paper, Table 3", "cifar10", "vgg-cov2", "neuron", "every layer (--gate-convs)", "85.13 ± 0.09",
     "49-43-12530-203-156, 39.62 % params removed"),
    ("first paper, Table 3", "cifar10", "vgg16", "neuron", "FC", "92.94 ± 0.32", "322-3632-3235"),
    ("first paper, Table 3", "cifar10", "resnet34", "neuron", "FC", "93.81 ± 0.09", "247 of 512 kept"),
    ("first paper, Table 3", "cifar10", "mobilenet-v1", "neuron", "FC", "91.00 ± 0.06", "584 of 1024 kept"),
    ("first paper, Table 4", "mini-imagenet", "resnet34", "neuron", "FC", "53.50 ± 0.10", "376 of 512 kept"),
    ("first paper, Table 4", "mini-imagenet", "mobilenet-v1", "neuron", "FC", "48.80 ± 0.12", "816 of 1024 kept"),
    ("second paper, Table 2", "cifar10", "resnet18", "neuron", "FC", "93.44", "-"),
    ("second paper, Table 2", "cifar10", "resnet18", "connection", "FC", "93.37", "-"),
    ("second paper, Table 2", "cifar10", "resnet34", "connection", "FC", "93.81", "-"),
    ("second paper, Table 2", "cifar10", "vgg16", "neuron", "FC", "92.94", "*25.4M params"),
    ("second paper, Table 2", "cifar10", "mobilenet-v1", "connection", "FC", "90.4", "*0.47M params"),
    ("second paper, Table 3", "cifar100", "resnet18", "neuron", "FC", "72.37", "-"),
    ("second paper, Table 3", "cifar100", "resnet18", "connection", "FC", "72.38", "-"),
    ("second paper, Table 3", "cifar100", "resnet34", "neuron", "FC", "72.98", "-"),
    ("second paper, Table 3", "cifar100", "resnet34", "connection", "FC", "73.06", "-"),
    ("second paper, Table 3", "cifar100", "vgg16", "neuron", "FC", "68.29", "*28.7M params"),
]
DATA_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "mini-imagenet": "Mini-ImageNet (imagefolder:PATH)"}

def _same_data(row_data: str, run_data: str) -> bool:
    return run_data.startswith("imagefolder:") if row_data == "mini-imagenet" else run_data == row_data

def measured_runs(results: str | Path = "results") -> list[dict]:
    """The configs of every finished, non-smoke run of the papers' CIFAR networks under `results`."""

    found = []
    for path in sorted(Path(results).glob("*/*/*/seed*/metrics.json")):
        m = json.loads(path.read_text())
        c = m.get("config", {})
        if c.get("model") in NETWORKS and m.get("provenance", {}).get("level") != "smoke" and m.get("test_accuracy") is not None:
            found.append({**c, "folder": str(path.parent), "test_accuracy": m["test_accuracy"]})
    return found

def network_rows_markdown(results: str | Path = "results") -> tuple[str, dict]:
    """The papers' network rows as a markdown table, each with whether the package runs it (the
    network is one of snn_edu.nets.NETWORKS with that strategy) and which runs under `results`
    measured it; returns (table, {"rows", "runs", "measured"} counts)."""

    runs = measured_runs(results)
    lines = ["| paper | data | network | strategy | gated | reported acc % | reported | runs here | measured here |",
             "|---|---|---|---|---|---|---|---|---|"]
    measured = runnable = 0
    for source, data, network, strategy, gated, acc, reported in NETWORK_ROWS:
        runs_here = network in NETWORKS and strategy in STRATEGIES
        ours = [r for r in runs if r["model"] == network and r["strategy"] == strategy and _same_data(data, r["data"])
                and r.get("gate_convs", False) == gated.startswith("every")]
        measured += bool(ours)
        runnable += runs_here
        mine = ", ".join(f"{r['test_accuracy']:.2f} ({r['folder']})" for r in ours) or "no"
        lines.append(f"| {source} | {DATA_NAMES[data]} | {network} | {strategy} | {gated} | {acc} | {reported} | "
                     f"{'yes' if runs_here else 'no'} | {mine} |")
    notes = [f"- {note}" for note in row_notes()]
    return "\n".join(lines + ([""] + notes if notes else [])), {"rows": len(NETWORK_ROWS), "runs": runnable,
                                                                 "measured": measured}


def row_notes(in_shape=(3, 32, 32), classes: int = 10) -> list[str]:
    """Where a paper's reported architecture or count differs from the package's counting rule:
    computed from the network as built here for CIFAR-10's images."""
    notes = []
    for source, _, network, _, gated, _, reported in NETWORK_ROWS:
        if network != "vgg-cov2" or not gated.startswith("every"):
            continue
        arch = [int(n) for n in reported.split(",")[0].split("-")]
        with torch.device("meta"):
            model = build_network(network, switcher=None, in_shape=in_shape, classes=classes, gate_convs=True)
        layers = list(model.gated_layers().values())
        per_filter = layers[2].weight.shape[0] // layers[1].weight.shape[0]  # fc1 inputs each conv2 map feeds
        if arch[2] > arch[1] * per_filter:
            notes.append(f"{source}, {network}: the reported {reported.split(',')[0]} keeps {arch[2]:,} fc1 inputs "
                         f"from {arch[1]} conv2 filters; each filter's map feeds {per_filter} of them, so the "
                         f"package's counting (a pruned filter removes the inputs its map feeds) allows at most "
                         f"{arch[1] * per_filter:,}. The reported share removed counts all five layers, as "
                         "`network_params_removed_pct` does (`params_removed_pct` counts the gated layers only).")
    return notes
