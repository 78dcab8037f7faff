"""Every widget a notebook builds keeps its figure readable: at its defaults, and with each control
moved to each end of its range (one control at a time), no two pieces of text overlap, no
legend covers a plotted line and the figure fits one screen; printed lines fit the output area.
The notebooks run here, in this process, on the shipped results; `widgets.panel.build` hands over each
panel's controls and drawing function. No browser needed."""
import contextlib
import inspect
import io
import itertools
import os
from pathlib import Path

import jupytext
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from snn_edu import prose, widgets  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9]*.py"))
PANEL_BUILDERS = [name for name, f in vars(widgets).items()
                  if inspect.isfunction(f) and "panel.build(" in inspect.getsource(f)]
WITH_PANELS = [p for p in SOURCES
               if any(f"widgets.{name}(" in p.read_text() for name in PANEL_BUILDERS)]


def texts(fig) -> list:
    """(label, window box) of every piece of text the figure draws; a legend counts as one box."""
    renderer = fig.canvas.get_renderer()
    found = list(dict.fromkeys(t for t in (fig._suptitle, *fig.texts) if t is not None))
    boxes = [leg for leg in fig.legends]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        found += [ax.title, ax._left_title, ax._right_title, *ax.texts]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                drawn = axis._update_ticks()  # the ticks inside the view; the locator's others are not drawn
                found += [axis.label, *[t.label1 for t in drawn], *[t.label2 for t in drawn]]
        if ax.get_legend() is not None:
            boxes.append(ax.get_legend())
    out = [(repr(t.get_text())[:60], t.get_window_extent(renderer)) for t in found
           if t.get_visible() and t.get_text().strip()]
    out += [(f"legend {[t.get_text() for t in leg.get_texts()][:3]}", leg.get_window_extent(renderer))
            for leg in boxes if leg.get_visible()]
    return [(label, box) for label, box in out if box.width > 0 and box.height > 0]


def overlapping_text(fig) -> list[tuple[str, str]]:
    boxes = texts(fig)
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def covered_lines(fig) -> list[tuple[str, str]]:
    """(legend, line) pairs where a legend lies over part of a line drawn in its axes."""
    renderer, found = fig.canvas.get_renderer(), []
    for ax in fig.axes:
        for leg in [x for x in (ax.get_legend(), *fig.legends) if x is not None and x.get_visible()]:
            box = leg.get_window_extent(renderer).padded(-1)
            for line in ax.lines:
                xy = np.asarray(line.get_xydata(), float)
                if not line.get_visible() or not len(xy):
                    continue
                xy = line.get_transform().transform(xy)
                if len(xy) > 1:  # points along each segment, not only its ends
                    t = np.linspace(0, 1, 25)[:, None, None]
                    xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
                xy = xy[np.isfinite(xy).all(1)]
                if ((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)).any():
                    found.append((f"legend {[t.get_text() for t in leg.get_texts()][:3]}", line.get_label()))
    return found


def problems(fig) -> list:
    fig.canvas.draw()
    return [f"text {a} overlaps {b}" for a, b in overlapping_text(fig)] + \
        [f"{a} covers line {b!r}" for a, b in covered_lines(fig)]


def ends(control) -> list:
    """The values at each end of a control's range."""
    if isinstance(control.value, bool):
        return [False, True]
    if hasattr(control, "min"):
        return [control.min, control.max]
    values = [o[1] if isinstance(o, tuple) else o for o in control.options]
    if isinstance(control.value, tuple):  # a multiple choice: one item, and all of them
        return [tuple(values[:1]), tuple(values)]
    return [values[0], values[-1]]


RUNS: dict = {}  # one run of each notebook serves both tests (this file runs on one worker: --dist loadfile)


def notebook_run(source: Path, monkeypatch) -> tuple[list, str]:
    """Run a notebook's code here (default mode, shipped results): the panels it builds, what it prints."""
    if source in RUNS:
        return RUNS[source]
    panels, build = [], widgets.panel.build
    monkeypatch.setattr(widgets.panel, "build", lambda *a, **k: panels.append(build(*a, **k)) or panels[-1])
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    monkeypatch.delenv("SNN_EDU_SMOKE", raising=False)
    monkeypatch.chdir(NOTEBOOKS)
    namespace, printed, static = {"__name__": "__main__"}, io.StringIO(), []
    for number, cell in enumerate(jupytext.read(source).cells):
        if cell.cell_type == "code":
            code = "\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!")))
            with contextlib.redirect_stdout(printed):
                exec(compile(code, str(source), "exec"), namespace)
            static += [f"cell {number}, figure {n}: {p}" for n in plt.get_fignums() for p in problems(plt.figure(n))]
        plt.close("all")
    RUNS[source] = panels, printed.getvalue(), static
    return RUNS[source]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_printed_lines_fit_the_output_area(source, monkeypatch):
    """JupyterLab wraps a longer line anywhere, mid-word: print long sentences with prose.say."""
    _, printed, _ = notebook_run(source, monkeypatch)
    long = [line for line in printed.splitlines() if len(line) > prose.WIDTH and "\x1b" not in line]
    assert not long, f"{source.name} prints {len(long)} lines over {prose.WIDTH} characters, e.g. {long[0][:120]!r}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_static_figure_keeps_its_text_apart(source, monkeypatch):
    """The figures a notebook shows between its widgets: no two texts overlap, no legend covers a line."""
    _, _, static = notebook_run(source, monkeypatch)
    assert not static, f"{source.name}: " + "; ".join(static[:6])


@pytest.mark.parametrize("source", WITH_PANELS, ids=lambda p: p.stem)
def test_every_widget_keeps_its_text_apart_at_every_end_of_its_controls(source, monkeypatch):
    panels, _, _ = notebook_run(source, monkeypatch)
    assert panels, f"{source.name} builds no panel"
    failures = []
    for number, panel in enumerate(panels):
        defaults = {name: control.value for name, control in panel.controls.items()}
        cases = {"defaults": defaults}
        for name, control in panel.controls.items():
            for value in ends(control):
                cases.setdefault(f"{name}={value!r}"[:60], {**defaults, name: value})
        for case, values in cases.items():
            fig = panel.draw(**values)
            failures += [f"panel {number} at {case}: {p}" for p in problems(fig)]
            if fig.get_size_inches()[1] > widgets.FIGURE_HEIGHT + 1e-6:  # the panel would not fit one screen
                failures.append(f"panel {number} at {case}: {fig.get_size_inches()[1]:.1f} inches tall")
            plt.close(fig)
    assert not failures, f"{source.name}: " + "\n".join(failures)


def test_the_check_finds_overlapping_text_and_a_covered_line():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="rising")
    ax.legend(loc="center")
    ax.set_title("a title")
    ax.text(0.5, 1.0, "on the title", transform=ax.transAxes, ha="center", va="bottom")
    found = problems(fig)
    assert any("covers line 'rising'" in p for p in found) and any("'on the title'" in p for p in found)
    plt.close(fig)
