"""Command line: `python -m snn_edu train | reproduce | ablation | report | tasks | recipes | bench | perf-doc | book | links | data download`."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from .variants import RUNS, VARIANTS
from .book import LEVELS as BOOK_LEVELS
from .data import DATASETS, download_dataset
from .gates import GATE_KINDS, GATES
from .errors import ConfigError, SnnEduError
from .models import MODELS
from .nets import NETWORKS
from .joint import SCOPES
from .layers import GATE_STATS, STRATEGIES, SWITCHER_INPUTS
from .precision import PRECISIONS
from .presets import LEVELS, preset, split_level
from .schedules import LR_SCHEDULES
from .runfolder import RunStopped, folder_lock
from .study import STAGES
from .switcher import PRESETS
from .training import CONV_GATES, OPTIMIZERS, SCHEDULES, TrainConfig, Trainer, load_data, resolve_device


def _data_name(value: str) -> str:
    if value in DATASETS or value.startswith(("idx:", "imagefolder:")):
        return value
    raise argparse.ArgumentTypeError(f"unknown data set {value!r}; choose {', '.join(DATASETS)}, idx:PATH "
                                     "or imagefolder:PATH")


def _level(value: str) -> str:
    try:
        split_level(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _init(value: str):
    if value in ("default", "uniform", "kaiming"):
        return {"default": -1.0, "uniform": None, "kaiming": "kaiming"}[value]
    try:
        std = float(value)
    except ValueError:
        std = None
    if std is None or not std > 0:
        raise argparse.ArgumentTypeError(f"--init takes default, uniform, kaiming or a positive standard deviation, "
                                         f"not {value!r}")
    return std


def _count(value: str) -> int:
    """A whole number >= 1 (steps, sizes, seeds, workers, threads, seconds)."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {value!r}")
    return n


PRECISION_HELP = ("the switcher's precision: fp32 (default), bf16 (autocast), fp16 (CUDA, with a loss scaler) or "
                  "auto (bf16 where the CPU or GPU has it natively); the TNN always computes in fp32")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snn-edu", description="Switcher neural networks, for teaching.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_bench(sub)
    _add_tasks(sub)
    _add_gpu_sitting(sub)
    _add_paper_scale(sub)
    _add_recipes(sub)
    _add_reproduce(sub)
    _add_ablation(sub)
    _add_report(sub)
    _add_book(sub)
    _add_perf_doc(sub)
    _add_links(sub)
    _add_memory(sub)
    _add_data(sub)
    _add_recount(sub)
    _add_regeneration(sub)
    return parser


def _add_train(sub) -> None:
    cmd = sub.add_parser("train", help="train a TNN with (or without) switchers and write metrics",
                         argument_default=argparse.SUPPRESS)
    d = TrainConfig()
    cmd.add_argument("--preset", type=_level, default=None,
                     help=f"start from a named configuration ({', '.join(LEVELS)}, optionally +FIX and +SIZE, "
                     "e.g. release+clip+check); flags override it")
    cmd.add_argument("--model", choices=MODELS + NETWORKS,
                     help=f"default {d.model}; the CIFAR networks need colour images (--data cifar10, ...)")
    cmd.add_argument("--gate-convs", action="store_true",
                     help="vgg-cov2: gate its convs too, as the first paper says (default: FC layers, as the release)")
    cmd.add_argument("--strategy", choices=STRATEGIES, help=f"default {d.strategy}")
    cmd.add_argument("--schedule", choices=SCHEDULES, help=f"default {d.schedule}")
    cmd.add_argument("--switcher", choices=PRESETS, help=f"default {d.switcher}")
    cmd.add_argument("--gate", choices=GATES, help="what gates the units: the switcher (default), a direct learned "
                     "gate per unit (the switcher without its U-Net), L0 hard-concrete gates (trained jointly "
                     "with the expected-L0 penalty) or BC-GNJ (Bayesian compression, trained jointly on "
                     "cross-entropy + KL / N); l0 and bc imply --schedule joint")
    cmd.add_argument("--l0-lambda", type=float, nargs="+", help="L0 penalty lambda, times 1/N (the L0 paper's "
                     "0.1/N is 0.1, the default): one value, or one per gated layer")
    cmd.add_argument("--data", type=_data_name, help=f"mnist, mnist5k, fashion-mnist, fashion5k, cifar10, cifar100, idx:PATH or imagefolder:PATH (default {d.data})")
    cmd.add_argument("--epochs", type=int, help=f"default {d.epochs}")
    cmd.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    cmd.add_argument("--lr", type=float, help=f"default {d.lr}")
    cmd.add_argument("--momentum", type=float, help=f"default {d.momentum} (SGD only)")
    cmd.add_argument("--optimizer", choices=OPTIMIZERS, help="sgd (default, the release's) or adam (the L0 authors')")
    cmd.add_argument("--milestones", type=int, nargs="*", help="MultiStepLR epochs (default 50 75 100)")
    cmd.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="step (milestones, the default) or plateau "
                     "(ReduceLROnPlateau per phase, the release's CIFAR recipe)")
    cmd.add_argument("--patience", type=int, help="plateau: epochs without improvement before the rate "
                     "drops (default 20)")
    cmd.add_argument("--stop-lr", type=float, help="plateau: stop once every phase's rate is below this "
                     "(the release: 0.005); --epochs is then a cap")
    cmd.add_argument("--warmup-epochs", type=int, help="default: 4 for lenet5, 0 for mlp")
    cmd.add_argument("--init", dest="init_std", type=_init, help="TNN init: 'default' (the release: "
                     "N(0, 0.01) for the MLP), 'uniform' (PyTorch's), 'kaiming' (Kaiming normal, fan_out, on every "
                     "gated weight as stored: the release's LeNet5), or a normal std such as 0.05")
    cmd.add_argument("--conv-gates", choices=CONV_GATES, help="lenet5: one gate per filter (default) or per "
                     "(filter, input channel) kernel slice (the release's conv2)")
    cmd.add_argument("--switcher-bn-in-tnn", action="store_true", help="train the switchers' BatchNorm scale "
                     "and shift in the TNN phase too (the release never freezes them)")
    cmd.add_argument("--gate-stats", choices=GATE_STATS,
                     help="BatchNorm statistics of the evaluation gate (default running, as the release)")
    cmd.add_argument("--switcher-input", choices=SWITCHER_INPUTS,
                     help="what the switcher reads: weights (the method) or a control (ablation)")
    cmd.add_argument("--switcher-scope", choices=SCOPES, help="layer: one switcher per layer (default, the "
                     "release); joint: one switcher reads all FC layers and one all conv layers (the first "
                     "paper's section 3.3)")
    cmd.add_argument("--clip-grad-norm", type=float, help="off by default (not in the paper)")
    cmd.add_argument("--switcher-lr", type=float, help="the gates' learning rate (default: --lr, as the release)")
    cmd.add_argument("--tnn-lr-gated", type=float, help="the TNN's rate once the gates turn on after a warm-up "
                     "(default: --lr, as the release; no effect without a warm-up)")
    cmd.add_argument("--gates-start-open", action="store_true", help="every switcher gate starts at 1 (its last "
                     "BatchNorm: scale 0, shift 1); the release's start with about half closed")
    cmd.add_argument("--train-size", type=int, help="subsample the training set")
    cmd.add_argument("--test-size", type=int, help="subsample the test set")
    cmd.add_argument("--max-steps", type=int, help="cap on steps per epoch (smoke runs)")
    cmd.add_argument("--seed", type=int, help=f"default {d.seed}")
    cmd.add_argument("--device", help="auto (default), cpu or cuda")
    cmd.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    cmd.add_argument("--compile", action="store_true", help="torch.compile the switchers (the first run on a "
                     "machine spends about a minute compiling; later ones read ~/.cache/snn_edu/inductor)")
    cmd.add_argument("--out", type=Path, required=True, help="folder for metrics.json, checkpoint, history")
    cmd.add_argument("--resume", action="store_true", default=False,
                     help="continue from the checkpoint in --out")
    cmd.add_argument("--overwrite", action="store_true", default=False,
                     help="replace the run that --out holds (without it, a folder holding a run is refused)")
    cmd.add_argument("--no-progress", action="store_true", default=False, help="hide progress bars")
    cmd.set_defaults(handler=train)


def _add_bench(sub) -> None:
    cmd = sub.add_parser("bench", help="time the dense TNN and both switchers against the reference mode")
    cmd.add_argument("--model", choices=MODELS, default="mlp")
    cmd.add_argument("--steps", type=_count, default=8, help="timed steps per phase")
    cmd.add_argument("--train-size", type=_count, default=1024, help="digits in the timed epoch (65-4,000)")
    cmd.add_argument("--device", default="auto")
    cmd.add_argument("--precisions", nargs="+", choices=("fp32", "bf16", "fp16"), default=["fp32", "bf16"],
                     help="precisions of our switchers, each timed beside the fp32 reference (default fp32 bf16)")
    cmd.add_argument("--switchers", nargs="+", choices=("lite", "paper"), default=["lite", "paper"],
                     help="switchers to time beside the dense TNN (default lite paper)")
    cmd.add_argument("--compile", action="store_true",
                     help="also time ours with torch.compile'd switchers (compile time reported separately)")
    cmd.add_argument("--joint", action="store_true",
                     help="also time ours with one joint switcher per family (--switcher-scope joint)")
    cmd.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    cmd.add_argument("--profile", action="store_true", help="also count each row's aten ops, CPU time and, on "
                     "CUDA, kernel launches and GPU time per step (torch.profiler)")
    cmd.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                     help="print the results as JSON (or write them to PATH and print the table)")
    cmd.set_defaults(handler=bench)


def _add_page(sub, name: str, help: str, results: str, handler) -> None:
    """A subcommand that writes one page from a results folder (or prints it)."""
    cmd = sub.add_parser(name, help=help)
    cmd.add_argument("--results", type=Path, default=Path(results))
    cmd.add_argument("--out", type=Path, default=None, help="write the page here (default: print it)")
    cmd.set_defaults(handler=handler)


def _add_tasks(sub) -> None:
    _add_page(sub, "tasks", "is a harder task pruned less? mnist5k against fashion5k, from results/", "results",
              tasks_page)


def _add_gpu_sitting(sub) -> None:
    cmd = sub.add_parser("gpu-sitting", help="one sitting of the paper-scale study on a lent GPU: bench once, then "
                         "the resumable study until --budget is spent (snn_edu.sitting)")
    cmd.add_argument("--budget", type=_count, default=480, help="seconds this call may work (default 480)")
    cmd.add_argument("--jobs", type=_count, default=4, help="jobs sharing the device at once (default 4)")
    cmd.add_argument("--device", default="cuda")
    cmd.add_argument("--level", type=_level, default="paper", help="paper (default), or smoke to check the path")
    cmd.add_argument("--data", type=_data_name, default="fashion-mnist")
    cmd.add_argument("--seeds", type=_count, default=3)
    cmd.add_argument("--results", type=Path, default=Path("results"))
    cmd.set_defaults(handler=gpu_sitting)


def _add_paper_scale(sub) -> None:
    _add_page(sub, "paper-scale", "how far the paper-scale study has got, from results/paper-fashion",
              "results/paper-fashion", paper_scale)


def _add_recipes(sub) -> None:
    _add_page(sub, "recipes", "does the release's recipe train to the end? its runs beside each fix's, from "
              "results/recipes", "results/recipes", recipes_page)


def _add_regeneration(sub) -> None:
    _add_page(sub, "regeneration", "one study trained on two kinds of CPU, run by run, from "
              "results/cross-cpu/cpu.json", "results/cross-cpu/cpu.json", regeneration)
    cmd = sub.choices["regeneration"]
    cmd.add_argument("--collect", nargs=2, type=Path, metavar=("FIRST", "REGENERATED"),
                     help="first compare these two study folders and write --results")
    cmd.add_argument("--labels", nargs=2, metavar=("FIRST", "REGENERATED"), default=(None, None),
                     help="where the page says each study lives (default: the folders given to --collect)")


def _add_reproduce(sub) -> None:
    cmd = sub.add_parser("reproduce", help="the frontier study and the ablation variants, as independent jobs")
    cmd.add_argument("--level", type=_level, default="cpu", help="configuration of every run (default cpu; "
                     "also release, and +FIX/+SIZE parts such as release+clip+check)")
    cmd.add_argument("--out", type=Path, default=None, help="results folder (default results/LEVEL)")
    cmd.add_argument("--jobs", type=_count, default=1, help="worker processes; the usable cores are split between them")
    cmd.add_argument("--threads", type=_count, default=None, help="threads per job (default: usable cores / --jobs)")
    cmd.add_argument("--models", nargs="+", choices=MODELS + NETWORKS, default=list(MODELS),
                     help="default mlp lenet5; the papers' CIFAR networks too (vgg-cov2, vgg16, resnet18, resnet34, "
                     "mobilenet-v1: meant for a GPU at --level paper)")
    cmd.add_argument("--variants", nargs="+", choices=list(RUNS), default=None,
                     help="training runs (default: the ablation's); the frontier and magnitude jobs need al and dense; "
                     "the switcher's peers: direct, " + ", ".join(k for k in RUNS if k.startswith("l0")))
    cmd.add_argument("--seeds", type=_count, default=3, help="seeds 0..N-1 (default 3)")
    cmd.add_argument("--no-frontier", action="store_true", help="skip the jobs that measure frontier points "
                     "(frontier, peers, scopes); the magnitude baselines still run")
    cmd.add_argument("--run", metavar="ID", help="run one job only, e.g. mlp/al/seed0 (what --print-commands lists)")
    cmd.add_argument("--print-commands", action="store_true",
                     help="print one self-contained command per unfinished job, in dependency order, and exit")
    cmd.add_argument("--stage", choices=STAGES, default=None,
                     help="with --print-commands: only training jobs, or only the measurements that need them")
    cmd.add_argument("--precision", choices=PRECISIONS, default="fp32", help=PRECISION_HELP)
    cmd.add_argument("--data", type=_data_name, default=None,
                     help="train every run on this data set instead of the level's (e.g. fashion5k; use its own --out)")
    cmd.add_argument("--device", default=None, help="every training job's device (default: the level's, auto); "
                     "with cuda and --jobs N, N jobs share the card, each checked against its free memory first")
    cmd.add_argument("--time-budget", type=_count, default=None, metavar="SECONDS",
                     help="stop cleanly after this long (as on SIGTERM: running jobs keep their last good epoch) and "
                     "exit 0; the same command goes on from there (a GPU lent for a few minutes at a time)")
    cmd.add_argument("--no-progress", action="store_true")
    slurm = cmd.add_argument_group("on a SLURM cluster (--slurm; see snn_edu/slurm.py)")
    slurm.add_argument("--slurm", action="store_true", help="submit one job array per stage with sbatch and return; "
                       "the same command again collects frontier.csv and resubmits what did not finish")
    slurm.add_argument("--partition", default=None, help="sbatch --partition")
    slurm.add_argument("--time", default=None, help="sbatch --time per task, e.g. 24:00:00")
    slurm.add_argument("--cpus-per-task", type=_count, default=None,
                       help="CPUs per task (default: --threads, else 1); each job runs with that many threads")
    slurm.add_argument("--gpus-per-task", type=int, default=0, help="GPUs per task (sbatch --gres=gpu:N)")
    slurm.add_argument("--sbatch-args", default="", help="more sbatch flags, quoted as one string")
    slurm.add_argument("--python", default=sys.executable,
                       help="the Python each task runs (default: this one; it must see the same snn_edu)")
    cmd.set_defaults(handler=reproduce)


def _add_ablation(sub) -> None:
    cmd = sub.add_parser("ablation", help="the ablation variants of one model (reproduce without the frontier)")
    cmd.add_argument("--model", choices=MODELS, default="mlp")
    cmd.add_argument("--preset", type=_level, default="cpu")
    cmd.add_argument("--seeds", type=_count, default=3)
    cmd.add_argument("--variants", nargs="*", default=None, help="subset of: " + ", ".join(VARIANTS))
    cmd.add_argument("--jobs", type=_count, default=1, help="worker processes")
    cmd.add_argument("--out", type=Path, default=Path("runs/ablation"))
    cmd.add_argument("--precision", choices=PRECISIONS, default="fp32", help=PRECISION_HELP)
    cmd.add_argument("--no-progress", action="store_true")
    cmd.set_defaults(handler=ablation)


def _add_report(sub) -> None:
    cmd = sub.add_parser("report", help="the measured-results page (docs/ablation.md) from a results folder")
    cmd.add_argument("results", type=Path, help="a folder written by reproduce, e.g. results/cpu")
    cmd.add_argument("--out", type=Path, default=None, help="write the markdown here (default: print it)")
    cmd.add_argument("--figure", type=Path, default=None, help="also draw the frontier figure to this PNG")
    cmd.set_defaults(handler=report)


def _add_book(sub) -> None:
    cmd = sub.add_parser("book", help="execute the notebooks and write them as a static HTML site")
    cmd.add_argument("--out", type=Path, default=Path("build/book"), help="the site's folder (default build/book)")
    cmd.add_argument("--level", choices=BOOK_LEVELS, default="results",
                     help="results: the notebooks' default, on the shipped runs; smoke: SNN_EDU_SMOKE=1")
    cmd.add_argument("--timeout", type=_count, default=600, help="seconds one cell may take (default 600)")
    cmd.add_argument("--notebooks", type=Path, default=None, help="the notebook sources (default: notebooks/)")
    cmd.add_argument("--jobs", type=_count, default=1,
                     help="notebooks run at a time, the cores split between them (default 1)")
    cmd.add_argument("--record", type=Path, default=None,
                     help="also add this build's notebook times to a timings file (results/notebook_times.json)")
    cmd.set_defaults(handler=book)


def _add_perf_doc(sub) -> None:
    cmd = sub.add_parser("perf-doc", help="rewrite docs/performance.md's measured tables from results/bench "
                         "and results/precision")
    cmd.add_argument("--check", action="store_true", help="only say whether a table is out of date")
    cmd.set_defaults(handler=perf_doc)


def _add_links(sub) -> None:
    cmd = sub.add_parser("links", help="rewrite the launch badges and Colab cells from snn_edu.links.REPOSITORY")
    cmd.add_argument("--check", action="store_true", help="only say whether any file is out of date")
    cmd.set_defaults(handler=links)


def _add_memory(sub) -> None:
    cmd = sub.add_parser("memory", help="memory of one training step of the papers' CIFAR networks, estimated "
                         "before any work and measured where the estimate allows")
    cmd.add_argument("--models", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    cmd.add_argument("--switchers", nargs="+", choices=("lite", "paper"), default=["lite", "paper"])
    cmd.add_argument("--device", default="auto")
    cmd.add_argument("--measure-below", type=float, default=12.0, metavar="GB",
                     help="measure only configurations estimated below this (default 12 GB)")
    cmd.add_argument("--json", type=Path, default=None, help="also write the rows, command and machine to this file")
    cmd.set_defaults(handler=memory)


def _add_data(sub) -> None:
    cmd = sub.add_parser("data", help="fetch data sets")
    data_sub = cmd.add_subparsers(dest="action", required=True)
    download = data_sub.add_parser("download", help="download a data set (needs internet)")
    download.add_argument("name", choices=("mnist", "fashion-mnist", "mnist5k", "fashion5k", "cifar10", "cifar100"))
    download.add_argument("--root", type=Path, default=None)
    cmd.set_defaults(handler=data)


def _add_recount(sub) -> None:
    cmd = sub.add_parser("recount", help="count finished runs' weights again by today's rule, from the gates their "
                         "histories kept (nothing is retrained); each run records the command")
    cmd.add_argument("folders", nargs="+", type=Path, help="run folders (each holding metrics.json and history.pt)")
    cmd.set_defaults(handler=recount)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The preset (or the defaults), overridden by every flag given."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    kind = GATE_KINDS.get(given.get("gate") or "switcher")
    if kind is not None and kind.schedule:  # e.g. L0 and BC-GNJ train jointly with the TNN
        given.setdefault("schedule", kind.schedule)
    model = given.pop("model", TrainConfig.model)
    base = preset(model, args.preset) if args.preset else TrainConfig(model=model)
    return replace(base, **given)


def _gate_name(c: dict) -> str:
    return GATE_KINDS[c.get("gate", "switcher")].recipe_words(c)


def summary(m: dict) -> str:
    """A one-screen text summary of a metrics dict."""
    c = m["config"]
    acc = "n/a" if m["test_accuracy"] is None else f"{m['test_accuracy']:.2f} %"
    lines = [
        f"{c['model']} / {c['strategy']} / {c['schedule']} / {_gate_name(c)} on {c['data']} ({m['device']}, "
        f"switcher in {m.get('precision', 'fp32')})",
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
    if m.get("collapsed"):
        lines.append("COLLAPSED" + m["collapse"][len("collapsed"):])
    return "\n".join(lines)


def train(args: argparse.Namespace, argv: list[str] | None) -> int:
    from .machine import provenance

    config = config_from_args(args)
    trainer = Trainer(config, *load_data(config), out=args.out, progress=not args.no_progress, verbose=True)
    with folder_lock(args.out):  # held until metrics.json is written too
        trainer.fit(resume=args.resume, overwrite=args.overwrite)
        metrics = {**trainer.metrics(), "command": _argv_line(argv), "provenance": provenance()}
        path = trainer.folder.write_metrics(metrics)
    print(summary(metrics))
    print(f"wrote {path}")
    return 1 if metrics["diverged"] else 0


def _argv_line(argv: list[str] | None) -> str:
    return "python -m snn_edu " + shlex.join(sys.argv[1:] if argv is None else argv)


def reproduce(args: argparse.Namespace, argv: list[str] | None) -> int:
    from .study import MEASURES, Job, command, plan, run_job, run_study
    from .variants import MEASURE_REGISTRY

    if args.data and not args.out and args.data not in DATASETS:
        raise ConfigError(f"--data {args.data} needs its own --out folder")
    out = args.out or Path("results") / (f"{args.level}-{args.data}" if args.data else args.level)
    if args.run:
        line = run_job(Job.parse(args.run).id, args.level, out, args.threads, not args.no_progress, args.precision,
                       args.data, args.device)
        print(f"{args.run}: {line}")
        return 0
    measures = [m for m in MEASURES if not (args.no_frontier and MEASURE_REGISTRY[m].points)]
    jobs = plan(args.models, args.variants, args.seeds, measures)
    if args.slurm:
        return _submit_to_slurm(args, jobs, out)
    if args.print_commands:
        for job in jobs:
            if not job.finished(out) and args.stage in (None, job.stage):
                print(command(job, args.level, out, args.threads, args.precision, args.data, args.device))
        return 0
    start = time.perf_counter()
    result = run_study(jobs, args.level, out, args.jobs, args.threads, not args.no_progress, argv=_argv_line(argv),
                       precision=args.precision, data=args.data, device=args.device, time_budget=args.time_budget)
    if result["budget_reached"]:
        print(f"{len(result['ran'])} jobs run in this call, {len(result['failed'])} failed; the time budget of "
              f"{args.time_budget:g} s is spent and the study is not finished: run the same command again to go on "
              f"(results in {out})")
        return 0
    print(f"{len(result['ran'])} jobs run, {len(jobs) - len(result['ran']) - len(result['failed']) - len(result['skipped'])}"
          f" already finished, {len(result['failed'])} failed, {len(result['skipped'])} skipped; "
          f"wall time {time.perf_counter() - start:.0f} s; results in {out}")
    return 1 if result["failed"] or result["skipped"] else 0


def _page(text: str, out: Path | None) -> int:
    """Print a generated page, or write it to `out`."""
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
        print(f"wrote {out}")
    return 0


def tasks_page(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .tasks import tasks_page as page

    return _page(page(args.results), args.out)


def gpu_sitting(args: argparse.Namespace, argv: list[str] | None) -> int:
    from .paperscale import paper_scale_page
    from .sitting import sitting

    done = sitting(args.results, args.budget, args.jobs, args.device, args.level, args.data, args.seeds,
                   argv=_argv_line(argv))
    print(paper_scale_page(done["progress"].parent), end="")
    study = done["study"]
    return 1 if study and (study["failed"] or study["skipped"]) else 0


def regeneration(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .regeneration import collect, regeneration_page

    if args.collect:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(collect(*args.collect, *args.labels), indent=1) + "\n")
    return _page(regeneration_page(args.results), args.out)


def recipes_page(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .recipes import recipes_page as page

    return _page(page(args.results), args.out)


def _submit_to_slurm(args: argparse.Namespace, jobs, out: Path) -> int:
    from .slurm import SlurmOptions, submit_study
    from .study import Job, collect, command

    if args.print_commands or args.jobs != 1:
        raise ConfigError("--slurm submits every job itself: leave out --print-commands and --jobs")
    threads = args.threads or args.cpus_per_task or 1
    options = SlurmOptions(args.partition, args.time, args.cpus_per_task or threads, args.gpus_per_task,
                           shlex.split(args.sbatch_args), args.python)

    def command_of(job_id: str) -> str:
        line = command(Job.parse(job_id), args.level, out, threads, args.precision, args.data, args.device)
        return shlex.quote(options.python) + line[len("python"):] + " --no-progress"  # no bars in the logs

    submit_study(jobs, out, command_of, lambda: collect(out, jobs, args.level), options)
    return 0


def ablation(args: argparse.Namespace, argv: list[str] | None) -> int:
    from .ablation import load_runs, summary_markdown
    from .study import plan, run_study

    start = time.perf_counter()
    result = run_study(plan([args.model], args.variants, args.seeds, measures=("magnitude",)), args.preset, args.out,
                       args.jobs, progress=not args.no_progress, argv=_argv_line(argv), precision=args.precision)
    print(summary_markdown(load_runs(args.out / args.model)))
    print(f"wall time {time.perf_counter() - start:.0f} s; runs in {args.out / args.model}")
    return 1 if result["failed"] or result["skipped"] else 0


def report(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .ablationdoc import report_markdown, save_frontier_figure

    if args.figure is not None:
        save_frontier_figure(args.results, args.figure)
    text = report_markdown(args.results, figure=args.figure, page=args.out)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}" + (f" and {args.figure}" if args.figure else ""))
    return 0


def bench(args: argparse.Namespace, argv: list[str] | None) -> int:
    from .bench import format_report, run_bench

    to_stdout = args.json == "-"
    log = (lambda line: print(line, file=sys.stderr)) if to_stdout else print
    result = run_bench(args.model, args.steps, args.train_size, args.device, memory=not args.no_memory, log=log,
                       precisions=args.precisions, command=_argv_line(argv), compiled=args.compile, joint=args.joint,
                       switchers=args.switchers, profile=args.profile)
    if to_stdout:
        print(json.dumps(result, indent=2))
        return 0
    print(format_report(result))
    if args.json is not None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def book(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .book import build_book, record_times

    if args.record is not None and args.jobs > 1:
        raise ConfigError("--record times each notebook alone: drop --jobs (or set it to 1)")
    info = build_book(args.out, args.level, args.notebooks, timeout=args.timeout, jobs=args.jobs)
    if args.record is not None:
        record_times(args.record, info)
        print(f"recorded the {args.level} times in {args.record}")
    print(f"open {args.out / 'index.html'}")
    return 0


def memory(args: argparse.Namespace, argv: list[str] | None) -> int:
    from . import machine
    from .memory import memory_table

    device = resolve_device(args.device).type
    print("| network | switcher | estimate | measured step | fits |\n|---|---|---|---|---|")
    rows = memory_table(args.models, args.switchers, device, args.measure_below)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": _argv_line(argv), "device": device, "batch_size": 64,
                                         "provenance": machine.provenance(), "rows": rows}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _sync_page(what: str, stale: list[Path], rewrite, root: Path, check: bool) -> int:
    """`--check`: name each stale file and fail; otherwise rewrite them and say what changed."""
    if check:
        for path in stale:
            print(f"out of date: {path.relative_to(root)} (run python -m snn_edu {what})", file=sys.stderr)
        return 1 if stale else 0
    print(rewrite())
    return 0


def perf_doc(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from . import perfdoc

    root = Path(perfdoc.__file__).resolve().parents[1]
    page = root / "docs" / "performance.md"
    stale = [page] if args.check and not perfdoc.sync(page, root / "results", check=True) else []

    def rewrite() -> str:
        current = perfdoc.sync(page, root / "results", check=False)
        return f"{page.relative_to(root)} {'was already current' if current else 'rewritten'}"

    return _sync_page("perf-doc", stale, rewrite, root, args.check)


def links(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from . import links as repo_links

    root = Path(repo_links.__file__).resolve().parents[1]

    def rewrite() -> str:
        changed = repo_links.sync(root)
        return (f"{len(changed)} files rewritten for {repo_links.REPOSITORY}"
                + "".join(f"\n  {p.relative_to(root)}" for p in changed))

    return _sync_page("links", repo_links.stale_files(root) if args.check else [], rewrite, root, args.check)


def paper_scale(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .paperscale import paper_scale_page

    return _page(paper_scale_page(args.results), args.out)


def recount(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from .runs import recount as recount_run

    for folder in args.folders:
        changed = recount_run(folder, f"python -m snn_edu recount {folder}")
        print(f"{folder}: " + ("; ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items()) or "unchanged"))
    return 0


def data(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    path = download_dataset(args.name, args.root)
    print(f"{args.name} is ready under {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args, argv)
    except RunStopped as exc:  # SIGINT or SIGTERM between saves: the folder holds its last good epoch
        print(f"{exc}", file=sys.stderr)
        return exc.exit_code
    except SnnEduError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last completed epoch's checkpoint is kept (use --resume)", file=sys.stderr)
        return 130
