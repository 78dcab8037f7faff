"""What the papers report (MNIST, first paper Table 1 and the second paper), and a table that
puts a measured run beside them (the CIFAR and Mini-ImageNet rows: snn_edu.catalog)."""
from __future__ import annotations

# Reported values, copied from the papers; never used as results of ours.
REPORTED = {
    "mlp": [
        ("dense baseline", "98.36", "784-300-100", "-"),
        ("SNN (AL, neuron)", "98.41 ± 0.02", "456-134-45", "74.61"),
        ("SNN-SL (neuron)", "98.37 ± 0.03", "756-287-92", "8.23"),
        ("SNN (connection, 2nd paper)", "98.43", "-", "42.5K params kept"),
    ],
    "lenet5": [
        ("dense baseline", "99.20", "20-50-800-500", "-"),
        ("SNN (AL, neuron)", "99.27 ± 0.04", "12-37-268-192", "84.95"),
        ("SNN (connection, 2nd paper)", "99.31", "-", "57.1K params kept (FC only)"),
    ],
}
# Table 1 of both papers: the switcher beside other learned sparsifiers (MNIST, each method with
# its own recipe; the last column is params removed, %). Used by snn_edu.peers.
TABLE1 = {
    "mlp": [("BC-GNJ", "98.20", "278-98-13", "89.24"), ("BC-GHS", "98.20", "311-86-14", "89.45"),
            ("L0hc (lambda sep.)", "98.20", "266-88-33", "90.06"), ("SNN", "98.41 ± 0.02", "456-134-45", "74.61")],
    "lenet5": [("BC-GNJ", "99.00", "8-13-88-13", "99.05"), ("BC-GHS", "99.00", "5-10-76-16", "99.36"),
               ("L0hc (lambda sep.)", "99.00", "9-18-65-25", "98.57"), ("SNN", "99.27 ± 0.04", "12-37-268-192", "84.95")],
}
# The authors' released test() reports these instead of any lower measured accuracy.
RELEASE_ACCURACY_FLOOR = {("mlp", "neuron"): 98.42, ("mlp", "connection"): 98.50,
                          ("lenet5", "neuron"): 99.32, ("lenet5", "connection"): 99.29}


def reported_point(model: str) -> tuple[float, float]:
    """(params removed %, test accuracy %) the first paper reports for SNN (AL, neuron)."""
    row = next(r for r in REPORTED[model] if r[0] == "SNN (AL, neuron)")
    return float(row[3]), float(row[1].split()[0])


def release_would_print(model: str, strategy: str, accuracy: float | None) -> float | None:
    """What the authors' floored test() would report for a measured accuracy."""
    floor = RELEASE_ACCURACY_FLOOR.get((model, strategy))
    return None if accuracy is None or floor is None else max(accuracy, floor)


def comparison_markdown(model: str, ours: dict[str, dict]) -> str:
    """A markdown table: the paper's rows for `model`, then ours ({label: metrics dict}), with
    what the release's floored test() would have printed for our runs."""
    lines = ["| source | method | data | test acc % | pruned architecture | params removed % | "
             "the release would print |", "|---|---|---|---|---|---|---|"]
    for method, acc, arch, removed in REPORTED[model]:
        lines.append(f"| paper | {method} | MNIST 60k | {acc} | {arch} | {removed} | |")
    for label, m in ours.items():
        c = m["config"]
        acc = "diverged" if m["test_accuracy"] is None else f"{m['test_accuracy']:.2f}"
        if m["diverged"]:
            acc += " (diverged)"
        floored = release_would_print(c["model"], c["strategy"], m["test_accuracy"])
        lines.append(f"| **ours** | {label} | {c['data']}, {m['epochs']} epochs | {acc} | "
                     f"{m['pruned_architecture']} | {m['params_removed_pct']:.2f} | "
                     f"{'-' if floored is None else f'{floored:.2f}'} |")
    return "\n".join(lines)

