"""A finished run's folder: metrics, a compact history and the trained weights; loading one back,
and finding the results that ship with the package."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from . import precision as numeric
from .errors import CheckpointError, DataError
from .models import GatedNet
from .presets import preset
from .runfolder import CHECKPOINT, HISTORY, RunFolder, read_file, read_metrics, write_file
from .training import History, TrainConfig, Trainer, load_data, make_model, run

WEIGHTS = "model.pt"
MANIFEST = "MANIFEST.json"
_HALF_BELOW_ONE = torch.tensor(1.0, dtype=torch.float16).nextafter(torch.tensor(0.0, dtype=torch.float16))
_HALF_TINY = torch.tensor(2.0**-24, dtype=torch.float16)  # the smallest positive float16


def half_gate(gate: torch.Tensor) -> torch.Tensor:
    """A gate in float16 with every value's category kept: 0 stays 0, a value in (0, 1) stays in
    (0, 1) and a value >= 1 stays >= 1 (plain rounding could move 0.9999 to 1 or 1e-9 to 0)."""
    g = gate.detach().float().cpu().clamp(max=float(torch.finfo(torch.float16).max))
    h = g.half()
    h = torch.where((g < 1) & (h >= 1), _HALF_BELOW_ONE, h)
    return torch.where((g > 0) & (h == 0), _HALF_TINY, h)


SMALL_GATE = 1_000  # 2-d gates up to this size (LeNet5's slice gates) are kept for every epoch


def compact_history(history: History) -> History:
    """The history without switcher-input images and with float16 gates; larger 2-d gates (one
    value per weight: the connection strategy's) are kept for the last epoch only, in evaluation mode."""
    last = len(history.epochs) - 1
    epochs = []
    for i, record in enumerate(history.epochs):
        slim = {k: v for k, v in record.items() if k not in ("images", "gates_eval", "gates_train")}
        for mode in ("eval", "train"):
            slim[f"gates_{mode}"] = {name: half_gate(g) for name, g in record[f"gates_{mode}"].items()
                                     if g.dim() == 1 or g.numel() <= SMALL_GATE or (i == last and mode == "eval")}
        epochs.append(slim)
    return History(epochs, history.diverged)


def write_run_files(folder: Path, trainer: Trainer) -> None:
    """The trained weights (model.pt) and the compact history (history.pt) of a finished study run."""
    write_file({k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}, folder / WEIGHTS)
    write_file(compact_history(trainer.history).to_dict(), folder / HISTORY)


def _weights(folder: Path) -> tuple[Path, dict] | None:
    """(file, state dict) of a run's trained weights: model.pt (a study's) or the checkpoint (train's)."""
    if (folder / WEIGHTS).exists():
        return folder / WEIGHTS, read_file(folder / WEIGHTS)
    if (folder / CHECKPOINT).exists():
        return folder / CHECKPOINT, read_file(folder / CHECKPOINT)["model"]
    return None


def load_model(folder: Path, config: TrainConfig) -> GatedNet:
    """The model of `config` with the weights saved in `folder`."""
    found = _weights(Path(folder))
    if found is None:
        raise CheckpointError(f"no trained weights in {folder} (neither {WEIGHTS} nor {CHECKPOINT})")
    path, weights = found
    model = make_model(config)
    model.set_precision(numeric.resolve(config.precision, torch.device("cpu")))
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit a {config.model} model "
                              f"({str(exc).splitlines()[0]}); it belongs to another configuration") from None
    return model


@dataclass
class Run:
    """A run's configuration, metrics, history and (when available) trained model."""

    config: TrainConfig
    metrics: dict
    history: History
    model: GatedNet | None = None
    folder: Path | None = None
    origin: str = ""
    _test: TensorDataset | None = field(default=None, repr=False)

    def test_set(self) -> TensorDataset:
        """The test digits the run was measured on."""
        if self._test is None:
            self._test = load_data(self.config)[1]
        return self._test


def load_run(folder: str | Path, with_model: bool = True) -> Run:
    """A finished run from its folder: a study's (metrics.json, compact history.pt, model.pt where
    kept) or train's (metrics.json, checkpoint.pt and the epoch records)."""
    folder = Path(folder)
    metrics = read_metrics(folder)
    config = TrainConfig(**metrics["config"])
    if (folder / HISTORY).exists():
        history = History.from_dict(read_file(folder / HISTORY))
    else:
        history = History(RunFolder(folder).records(), metrics.get("divergence"))
    has_weights = (folder / WEIGHTS).exists() or (folder / CHECKPOINT).exists()
    model = load_model(folder, config).eval() if with_model and has_weights else None
    return Run(config, metrics, history, model, folder, origin=describe_origin(folder))


def from_trainer(trainer: Trainer) -> Run:
    """A Run of a model trained in this session."""
    metrics = trainer.metrics()
    return Run(trainer.config, metrics, trainer.history, trainer.model.eval(), trainer.out,
               origin=f"trained here just now on {metrics['device']}",
               _test=TensorDataset(trainer.test_x.cpu(), trainer.test_y.cpu()))


# -- shipped results ------------------------------------------------------------------------------
def results_dir(level: str = "cpu") -> Path:
    """Where the results of `level` live: $SNN_EDU_RESULTS/LEVEL if set, else the repository's
    results/LEVEL (next to this package in a source checkout), else ./results/LEVEL."""
    if os.environ.get("SNN_EDU_RESULTS"):
        return Path(os.environ["SNN_EDU_RESULTS"]).expanduser() / level
    for root in (Path(__file__).resolve().parents[1], Path.cwd(), Path.cwd().parent):
        if (root / "results" / level / MANIFEST).exists():
            return root / "results" / level
    return Path("results") / level


def read_manifest(results: str | Path) -> dict:
    path = Path(results) / MANIFEST
    if not path.exists():
        raise DataError(f"no results at {Path(results)} ({MANIFEST} is missing); run "
                        f"'python -m snn_edu reproduce --level cpu --out {results}', or train live")
    return json.loads(path.read_text())


def _shown(path: str | Path) -> str:
    """A path as people should read it: relative to the repository when it lies inside it."""
    path = Path(path).resolve()
    root = Path(__file__).resolve().parents[1]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def describe_results(results: str | Path) -> str:
    """One line: what a results folder holds, when and on what machine it was produced."""
    m = read_manifest(results)
    commit = m["git_commit"][:7] if isinstance(m["git_commit"], str) else "several commits"
    return (f"loaded {_shown(results)}: {m['jobs_finished']} finished jobs at the {m['level']} level, finished "
            f"{(m['date'] or '?')[:10]} on {m['cpu']} ({m['threads_per_job']} thread(s) per job), "
            f"torch {m['torch']}, commit {commit}")


def describe_origin(folder: Path) -> str:
    """One line: which run this is, when and on what machine it was produced."""
    m = read_metrics(folder)
    p = m.get("provenance", {})
    if not p:
        return f"loaded {_shown(folder)}"
    commit = (p.get("git_commit") or "unknown")[:7]
    flags = p.get("cpu_simd_flags", p.get("cpu_bf16_flags"))
    return (f"loaded {_shown(folder)}: {m['config']['model']} seed {m['config']['seed']}, "
            f"{m['epochs']} epochs, run on {p['date'][:10]} on {p['cpu']} ({', '.join(flags or []) or 'no'} "
            f"{'SIMD' if 'cpu_simd_flags' in p else 'bf16'} flags, {p['threads']} threads, torch {p['torch']}, "
            f"commit {commit}); its command regenerates it exactly on that kind of CPU; on another, each CPU's "
            "kernels add in their own order, and a run usually lands near it but can end far away "
            "(docs/regeneration.md)")


def obtain_run(model: str, live: bool, level: str | None = None, variant: str = "al", seed: int = 0,
               results: str | Path | None = None, precision: str = "fp32") -> Run:
    """A trained `model`: trained here now at `level` in `precision` (live) or loaded from the
    shipped results (which are fp32)."""
    if live:
        return from_trainer(run(preset(model, level, seed=seed, precision=precision)))
    folder = Path(results or results_dir("cpu")) / model / variant / f"seed{seed}"
    if not (folder / WEIGHTS).exists():
        raise DataError(f"no trained weights at {folder / WEIGHTS}; set TRAIN_LIVE = True to train here, "
                        "or run 'python -m snn_edu reproduce --level cpu'")
    return load_run(folder)


# -- counting a finished run again ----------------------------------------------------------------
COUNTS = ("params_removed_pct", "weights_zeroed_pct", "network_params_removed_pct")


def recount(folder: str | Path, command: str) -> dict[str, tuple]:
    """Count a finished run's weights again, by today's rule, from the evaluation gates its history
    kept for its last epoch (the gates its metrics were counted from); nothing is retrained. Writes
    the counts into metrics.json with a `recounts` entry (the command, the date, the machine, what
    changed) and returns {field: (before, after)} of what changed. Refuses a run whose history kept
    no last-epoch gates, or whose pruned architecture would change."""
    from . import analysis
    from .machine import provenance
    from .runfolder import write_metrics

    run = load_run(folder, with_model=False)
    gates = run.history.epochs[-1].get("gates_eval") if run.history.epochs else None
    if not gates:
        raise DataError(f"{folder}: its history keeps no evaluation gates for the last epoch; retrain it instead")
    model = make_model(run.config)
    if analysis.pruned_architecture(model, gates) != run.metrics["pruned_architecture"]:
        raise DataError(f"{folder}: its last gates give architecture {analysis.pruned_architecture(model, gates)}, "
                        f"not the recorded {run.metrics['pruned_architecture']}; not recounted")
    counts = {k: v for k, v in analysis.gate_summary(model, gates).items() if k in COUNTS}
    changed = {k: (run.metrics.get(k), v) for k, v in counts.items() if run.metrics.get(k) != v}
    if changed:
        entry = {"command": command, "changed": {k: list(v) for k, v in changed.items()}, "provenance": provenance()}
        write_metrics(folder, {**run.metrics, **counts, "recounts": [*run.metrics.get("recounts", []), entry]})
    return changed
