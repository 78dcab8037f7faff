"""The rendered book: every notebook executed and written as a linked, static HTML page."""
from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

from .errors import SnnEduError
from .links import book_url, github_url

LEVELS = ("results", "smoke")  # the notebooks' default (the shipped runs), or SNN_EDU_SMOKE=1
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
HIDDEN_TAG = "colab-setup"  # cells the pages leave out
BUILD_FILE = "build.json"
WIDGET_NOTE = ("<p class=\"snn-widget-note\">&#9655; An interactive widget runs here in JupyterLab, "
               "Binder or Colab (buttons at the top of the page). The figure above is its first view.</p>")
NAV_STYLE = """<style>
.snn-nav{font:14px/1.6 system-ui,sans-serif;padding:8px 16px;border-bottom:1px solid #ddd;background:#f7f7f7}
.snn-nav a{margin-right:14px}.snn-nav b{margin-right:14px}
.snn-widget-note{color:#555;font-style:italic;margin:4px 0}
</style>"""


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class BookError(SnnEduError):
    """A notebook failed while the book was built."""


def notebook_sources(folder: str | Path) -> list[Path]:
    """The notebooks' percent-format sources, in reading order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.py"))


def page_name(source: Path) -> str:
    """The page a notebook becomes: the index notebook is the site's index.html."""
    return "index.html" if source.stem.startswith("00") else f"{source.stem}.html"


class _SlicedChannel:
    """A shell channel polled in short slices.

    With ipywidgets, nbclient can wait on the shell channel until the cell timeout although the
    reply has arrived (jupyter/nbclient#312); re-checking every fraction of a second avoids it.
    """

    def __init__(self, channel, slice_s: float = 0.2):
        self._channel, self._slice = channel, slice_s

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self._slice if deadline is None else min(self._slice, max(0.0, deadline - time.monotonic()))
            try:
                return await self._channel.get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    def __getattr__(self, name):
        return getattr(self._channel, name)


def execute(nb, cwd: str | Path, timeout: int = 600, env: dict | None = None):
    """Run every cell of `nb` in a fresh python3 kernel started in `cwd` (with `env`, default
    this process's environment); returns `nb`.

    The kernel's own log (transport warnings, its shutdown) is dropped; cell output is kept.
    """
    import subprocess

    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel(stderr=subprocess.DEVNULL, env=dict(os.environ if env is None else env)):
        client.kc._shell_channel = _SlicedChannel(client.kc.shell_channel)
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    return nb


def run_notebook(source: Path, smoke: bool, timeout: int = 600, threads: int | None = None):
    """Execute one notebook source, with SNN_EDU_SMOKE=1 or without it (and, given `threads`,
    that many torch threads in its kernel); a failing cell becomes a one-line BookError."""
    import jupytext
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    env = {k: v for k, v in os.environ.items() if k != "SNN_EDU_SMOKE"} | ({"SNN_EDU_SMOKE": "1"} if smoke else {})
    if threads is not None:
        env |= {name: str(threads) for name in THREAD_VARIABLES}
    try:
        return execute(jupytext.read(source), cwd=source.parent, timeout=timeout, env=env)
    except CellTimeoutError as e:
        raise BookError(f"{source.name}: a cell ran past the {timeout} s cell timeout") from e
    except CellExecutionError as e:
        raise BookError(f"{source.name}: a cell raised {e.ename}: {e.evalue}") from e


PANEL_CALL = re.compile(r"^\s*widgets\.(?!\w+_figure\()\w+\(", re.M)


def static_outputs(nb) -> int:
    """Widget views are blank on a static page: a panel's view becomes a note under its static
    figure, other views (progress bars) are dropped. Returns the number of notes."""
    note = {"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE}}
    notes = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = [o for o in cell.outputs if WIDGET_MIME not in o.get("data", {})]
        if len(kept) < len(cell.outputs) and PANEL_CALL.search(cell.source):
            kept.append(type(cell.outputs[0])(note))
            notes += 1
        cell.outputs = kept
    nb.metadata.pop("widgets", None)
    return notes


def figure_count(nb) -> int:
    """How many PNG figures the executed notebook's outputs hold."""
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def title(nb) -> str:
    """The notebook's first heading."""
    for cell in nb.cells:
        match = re.search(r"^#\s+(.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1).strip()
    return "notebook"


def _nav(pages: list[tuple[str, str]], current: str) -> str:
    items = [f"<b>{html.escape(label)}</b>" if name == current else f'<a href="{name}">{html.escape(label)}</a>'
             for name, label in pages]
    return f'<nav class="snn-nav">{"".join(items)}<a href="{github_url()}">source</a></nav>'


def _link_pages(text: str) -> str:
    """Links to notebooks point at their pages; other relative links at the repository."""
    text = re.sub(r'href="(?:\./)?(\d\d)_(\w+)\.(?:ipynb|py)"',
                  lambda m: f'href="{"index" if m.group(1) == "00" else f"{m.group(1)}_{m.group(2)}"}.html"', text)
    return re.sub(r'href="\.\./([^"#]+)"', lambda m: f'href="{github_url(m.group(1))}"', text)


def render(nb, nav: str) -> str:
    """One page: the lab template, hidden cells left out, the navigation bar on top."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(template_name="lab")
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={HIDDEN_TAG}, enabled=True), enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title(nb)}})
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    return _link_pages(body.replace("</head>", NAV_STYLE + "</head>", 1))


def _run_all(sources: list[Path], smoke: bool, timeout: int, jobs: int, log) -> list[tuple[Path, object, float]]:
    """Execute the notebooks, `jobs` kernels at a time (the cores split between them); returns
    (source, executed notebook, seconds) in reading order. The first failure stops the build."""
    from concurrent.futures import ThreadPoolExecutor

    from .machine import available_cpus

    threads = max(1, available_cpus() // jobs) if jobs > 1 else None

    def one(source: Path):
        start = time.perf_counter()
        nb = run_notebook(source, smoke=smoke, timeout=timeout, threads=threads)
        seconds = time.perf_counter() - start
        log(f"{source.name}: ran in {seconds:.1f} s")
        return source, nb, seconds

    if jobs == 1:
        return [one(source) for source in sources]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, source) for source in sources]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def build_book(out: str | Path, level: str = "results", notebooks: str | Path | None = None,
               timeout: int = 600, log=print, jobs: int = 1) -> dict:
    """Execute every notebook at `level` (`jobs` at a time) and write the site to `out`;
    returns what was built.

    The site is assembled in a temporary folder and moved into place only when every notebook
    ran, so a failed build leaves the previous one as it was.
    """
    import nbformat

    from .machine import available_cpus, cpu_model, git_commit

    if level not in LEVELS:
        raise BookError(f"unknown book level {level!r}; choose one of {', '.join(LEVELS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / BUILD_FILE).exists():
        raise BookError(f"{out} exists and is not a book build (no {BUILD_FILE}); choose another --out")
    sources = notebook_sources(notebooks or Path(__file__).resolve().parents[1] / "notebooks")
    if not sources:
        raise BookError(f"no notebook sources (NN_name.py) in {notebooks}")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    stage.chmod(0o755)
    try:
        executed = _run_all(sources, level == "smoke", timeout, jobs, log)
        pages = [(page_name(source), source.stem.replace("_", " ")) for source, _, _ in executed]
        (stage / "notebooks").mkdir()
        built = []
        for source, nb, seconds in executed:
            nbformat.write(nb, stage / "notebooks" / f"{source.stem}.ipynb")
            widgets = static_outputs(nb)
            (stage / page_name(source)).write_text(render(nb, _nav(pages, page_name(source))))
            built.append({"notebook": source.stem, "page": page_name(source), "seconds": round(seconds, 2),
                          "figures": figure_count(nb), "widgets": widgets})
        info = {"level": level, "command": "python -m snn_edu " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "git_commit": git_commit()[0],
                "cpu": cpu_model(), "cpus": available_cpus(), "jobs": jobs, "url": book_url(), "pages": built}
        (stage / BUILD_FILE).write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    log(f"wrote {len(built)} pages to {out} ({sum(p['seconds'] for p in built):.0f} s of notebooks)")
    return info


def record_times(path: str | Path, info: dict) -> Path:
    """Add one build's seconds per notebook, under its level, to a timings file."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {"levels": {}}
    keep = ("command", "date", "git_commit", "cpu", "cpus")
    data["levels"][info["level"]] = {**{k: info[k] for k in keep},
                                     "seconds": {p["notebook"]: p["seconds"] for p in info["pages"]}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


# What a notebook trains when TRAIN_LIVE = True at the cpu level: shipped runs, or the jobs of
# shipped studies it runs again (the studies' folders next to results/cpu, the networks, the kinds
# of training run and measurement).
LIVE_STUDIES = {"04_ablation": (("cpu",), ("mlp", "lenet5"), ("al", "sl", "dense", "shuffled", "noise", "constant",
                                                            "connection", "magnitude", "frontier", "joint",
                                                            "scopes")),
                "05_peers": (("cpu",), ("mlp", "lenet5"), ("al", "dense", "frontier", "direct", "peers", "l0-*")),
                "07_harder_tasks": (("cpu", "cpu-fashion5k"), ("mlp", "lenet5"), ("al", "dense"))}
LIVE_TRAINING = {"02_training": ("mlp/al/seed0", "lenet5/al/seed0"),
                 "03_kernels": ("lenet5/al/seed0", "mlp/al/seed0")}


def _live_training_seconds(notebook: str, results: Path) -> tuple[float, str]:
    """Seconds the shipped cpu-level jobs took to produce what `notebook` trains live, and how they ran."""
    from .runfolder import read_metrics

    if notebook in LIVE_STUDIES:
        from fnmatch import fnmatch

        from .study import finished_jobs

        folders, models, kinds = LIVE_STUDIES[notebook]
        runs = [read_metrics(j.metrics_path(study).parent)["provenance"]
                for study in (results.parent / f for f in folders) for j in finished_jobs(study)
                if j.model in models and any(fnmatch(j.kind, k) for k in kinds)]
        threads = sorted({r["threads"] for r in runs})
        return (sum(r["seconds"] for r in runs),
                f"{len(runs)} jobs, added up as if run one after another, {'/'.join(map(str, threads))} thread(s) each")
    what = LIVE_TRAINING.get(notebook)
    if what is None:
        return 0.0, ""
    runs = [read_metrics(results / run)["provenance"] for run in what]
    return sum(r["seconds"] for r in runs), f"{runs[0]['threads']} thread(s)"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not timed"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def timing_markdown(times: str | Path, results: str | Path) -> str:
    """A table of how long each notebook takes at each level, from a timings file and the shipped runs."""
    if not Path(times).exists():
        return (f"No notebook times are recorded yet ({times} is missing): `python -m snn_edu book "
                f"--level smoke --record {times}` and `--level results` measure them.")
    data = json.loads(Path(times).read_text())["levels"]
    results = Path(results)
    smoke, shipped = data.get("smoke", {}).get("seconds", {}), data.get("results", {}).get("seconds", {})
    lines = ["| notebook | smoke (`SNN_EDU_SMOKE=1`) | opening the shipped runs (default) | "
             "training here at the cpu level (`TRAIN_LIVE = True`) |", "| --- | --- | --- | --- |"]
    for name in sorted(set(smoke) | set(shipped)):
        training, how = _live_training_seconds(name, results)
        live = None if name not in shipped else shipped[name] + training
        detail = f" (the shipped runs trained in {_duration(training)}, {how})" if training else ""
        lines.append(f"| {name} | {_duration(smoke.get(name))} | {_duration(shipped.get(name))} | "
                     f"{_duration(live)}{detail} |")
    sources = "; ".join(f"{level}: `{d['command']}` on {d['cpus']} cores of {d['cpu']}, {d['date'][:10]}"
                        for level, d in sorted(data.items()))
    return "\n".join(lines) + f"\n\nMeasured by {sources}. Training times come from the shipped runs' own records."
