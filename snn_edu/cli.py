"""Command line: `python -m snn_edu train | data download`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .data import DATASETS, download_dataset
from .errors import SnnEduError
from .models import MODELS
from .layers import GATE_STATS, STRATEGIES
from .switcher import PRESETS
from .training import SCHEDULES, TrainConfig, run


def _data_name(value: str) -> str:
    if value in DATASETS or value.startswith("idx:"):
        return value
    raise argparse.ArgumentTypeError(f"unknown data set {value!r}; choose {', '.join(DATASETS)} or idx:PATH")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snn-edu", description="Switcher neural networks, for teaching.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a TNN with (or without) switchers and write metrics")
    d = TrainConfig()
    train.add_argument("--model", choices=MODELS, default=d.model)
    train.add_argument("--strategy", choices=STRATEGIES, default=d.strategy)
    train.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    train.add_argument("--switcher", choices=PRESETS, default=d.switcher)
    train.add_argument("--data", type=_data_name, default=d.data, help="mnist, mnist5k, fashion-mnist or idx:PATH")
    train.add_argument("--epochs", type=int, default=d.epochs)
    train.add_argument("--batch-size", type=int, default=d.batch_size)
    train.add_argument("--lr", type=float, default=d.lr)
    train.add_argument("--momentum", type=float, default=d.momentum)
    train.add_argument("--milestones", type=int, nargs="*", default=list(d.milestones))
    train.add_argument("--warmup-epochs", type=int, default=None, help="default: 4 for lenet5, 0 for mlp")
    train.add_argument("--gate-stats", choices=GATE_STATS, default=d.gate_stats,
                       help="BatchNorm statistics of the evaluation gate (the release: running)")
    train.add_argument("--clip-grad-norm", type=float, default=None, help="off by default (not in the paper)")
    train.add_argument("--train-size", type=int, default=None, help="subsample the training set")
    train.add_argument("--test-size", type=int, default=None, help="subsample the test set")
    train.add_argument("--max-steps", type=int, default=None, help="cap on steps per epoch (smoke runs)")
    train.add_argument("--seed", type=int, default=d.seed)
    train.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    train.add_argument("--out", type=Path, required=True, help="folder for metrics.json, checkpoint, history")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")

    data = sub.add_parser("data", help="fetch data sets")
    data_sub = data.add_subparsers(dest="action", required=True)
    download = data_sub.add_parser("download", help="download a data set (needs internet)")
    download.add_argument("name", choices=("mnist", "fashion-mnist", "mnist5k"))
    download.add_argument("--root", type=Path, default=None)
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=args.model, strategy=args.strategy, schedule=args.schedule, switcher=args.switcher,
        data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
        milestones=tuple(args.milestones), warmup_epochs=args.warmup_epochs, gate_stats=args.gate_stats,
        clip_grad_norm=args.clip_grad_norm, train_size=args.train_size, test_size=args.test_size,
        max_steps=args.max_steps, seed=args.seed, device=args.device)


def summary(m: dict) -> str:
    """A one-screen text summary of a metrics dict."""
    c = m["config"]
    acc = "n/a" if m["test_accuracy"] is None else f"{m['test_accuracy']:.2f} %"
    lines = [
        f"{c['model']} / {c['strategy']} / {c['schedule']} / switcher {c['switcher']} on {c['data']} ({m['device']})",
        f"epochs run          {m['epochs']} of {c['epochs']}",
        f"test accuracy       {acc} (raw, last epoch)",
        f"pruned architecture {m['pruned_architecture']} ({m['reported_gate']}); "
        f"training-mode gate: {m['pruned_architecture_train_mode']}",
        f"params removed      {m['params_removed_pct']:.2f} %",
    ]
    for layer, counts in m["gate_categories"].items():
        lines.append(f"  {layer:<6} pruned {counts['pruned']:>6}  weakened {counts['weakened']:>6}  "
                     f"strengthened {counts['strengthened']:>6}")
    if m["mean_seconds_per_epoch"] is not None:
        lines.append(f"seconds per epoch   {m['mean_seconds_per_epoch']:.1f} (mean of {m['epochs']})")
    if m["diverged"]:
        lines.append(f"DIVERGED: {m['divergence']}")
    return "\n".join(lines)


def train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    trainer = run(config, out=args.out, resume=args.resume, progress=not args.no_progress, verbose=True)
    metrics = trainer.metrics()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(summary(metrics))
    print(f"wrote {args.out / 'metrics.json'}")
    return 1 if metrics["diverged"] else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return train(args)
        path = download_dataset(args.name, args.root)
        print(f"{args.name} is ready under {path}")
        return 0
    except SnnEduError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last completed epoch's checkpoint is kept (use --resume)", file=sys.stderr)
        return 130
