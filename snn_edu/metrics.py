"""A run's numbers: the metrics.json summary, the per-epoch log line and the one-line result."""
from __future__ import annotations

from dataclasses import asdict

from . import analysis
from .gates import GATE_KINDS

COLLAPSE_MARGIN = 5.0  # points of test accuracy a run may end below its reference before it counts as collapsed
CHANCE_LEVEL = 15.0  # test accuracy (%) below which a 10-class run counts as ended near chance


def near_chance_clause(accuracies: list[float]) -> str:
    """' (the mean of N seeds, K of them near chance level: a, b, c % seed by seed)' when any seed
    ended near chance, which a mean ± std hides; else ''."""
    low = sum(a < CHANCE_LEVEL for a in accuracies)
    each = ", ".join(f"{a:.1f}" for a in accuracies)
    return (f" (the mean of {len(accuracies)} seeds, {low} of them near chance level: {each} % seed by seed)"
            if low else "")


def collapse(history) -> str | None:
    """Why a run counts as collapsed, or None: its last test accuracy is more than COLLAPSE_MARGIN
    points below its best warm-up epoch's (without warm-up: its best earlier epoch's)."""
    return collapse_of(history.column("test_accuracy"), history.column("phase"))


def collapse_of(accs: list[float], phases: list[str]) -> str | None:
    """collapse() from a run's per-epoch test accuracies and phases (as metrics.json keeps them)."""
    if not accs:
        return None
    warm = [a for a, p in zip(accs, phases) if p == "warmup"]
    reference, what = (max(warm), "warm-up epoch") if warm else (max(accs[:-1], default=None), "earlier epoch")
    if reference is None or reference - accs[-1] <= COLLAPSE_MARGIN:
        return None
    return (f"collapsed: test accuracy {accs[-1]:.2f} % after epoch {len(accs) - 1}, {reference - accs[-1]:.2f} points "
            f"below the best {what}'s {reference:.2f} % (margin {COLLAPSE_MARGIN:g})")


def run_metrics(model, history, config, device, precision: str, examples: dict | None = None) -> dict:
    """Raw accuracy, pruned architecture and gate counts (evaluation gates; the training-mode
    architecture beside them), timings and divergence of a run's `history` so far; `examples`:
    how many training and test examples the run used."""
    last = history.epochs[-1] if history.epochs else {}
    seconds = history.column("seconds")
    fell = collapse(history)
    return {
        "test_accuracy": last.get("test_accuracy"),
        "train_accuracy": last.get("train_accuracy"),
        "test_accuracy_per_epoch": history.column("test_accuracy"),
        "phases": history.column("phase"),
        **analysis.gate_summary(model, last.get("gates_eval", {})),
        "pruned_architecture_train_mode": analysis.pruned_architecture(model, last.get("gates_train", {})),
        "reported_gate": GATE_KINDS[config.gate].reported_gate(config.gate_stats),
        "epochs": len(history.epochs),
        "seconds_per_epoch": seconds,
        "mean_seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
        "diverged": history.diverged is not None,
        "divergence": history.diverged,
        "collapsed": fell is not None,
        "collapse": fell,
        "device": str(device),
        "precision": precision,
        "config": asdict(config),
        "examples": examples,  # {'train': n, 'test': n} actually used
    }


def epoch_line(model, record: dict) -> str:
    """One log line per epoch: phase, losses, raw accuracies, architecture, time."""
    arch = analysis.pruned_architecture(model, record["gates_eval"])
    return (f"epoch {record['epoch']:>3} [{record['phase']:<6}] train loss {record['train_loss']:.4f} "
            f"acc {record['train_accuracy']:6.2f}% | test acc {record['test_accuracy']:6.2f}% | "
            f"arch {arch} | {record['seconds']:.1f} s")


def result_line(metrics: dict) -> str:
    """One line: raw test accuracy, pruned architecture and params removed (and divergence)."""
    acc = "n/a" if metrics["test_accuracy"] is None else f"{metrics['test_accuracy']:.2f} % (raw)"
    return (f"test accuracy {acc}, pruned architecture {metrics['pruned_architecture']}, "
            f"params removed {metrics['params_removed_pct']:.2f} %") + (" (DIVERGED)" if metrics.get("diverged") else "") \
        + (" (COLLAPSED)" if metrics.get("collapsed") else "")
