"""A real-browser check of every widget panel: JupyterLab + headless Chromium (through
Playwright) run every cell of notebooks 01-05 in their default mode (the shipped results), no
cell may raise, every visible control of every panel is moved once and must redraw its figure,
and no panel is wider than the notebook (no horizontal scrollbar) at 1,000 px.

Skips unless a Chromium executable (`chromium` or `chromium-browser` on PATH) and the
`playwright` Python package are available; Playwright never downloads a browser here.
The server serves temporary copies of the committed notebooks, so neither a notebook nor its
jupytext pair in the repository can be rewritten by an autosave; one server serves them all.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PANELS = {"01_gradient_analysis.ipynb": 1, "02_training.ipynb": 2, "03_kernels.ipynb": 1,
          "04_ablation.ipynb": 3, "05_peers.ipynb": 2, "07_harder_tasks.ipynb": 1}  # notebook: its widget panels

SHIPPED = ("02", "03", "04", "05", "07")  # the notebooks whose default mode reads results/cpu
SERVER_START_TIMEOUT = 120  # s, until /api/status answers
PAGE_TIMEOUT = 120_000  # ms, for the page to load and the kernel to start
RUN_ALL_TIMEOUT = 420  # s, for every cell to finish (the kernels run side by side)
REDRAW_TIMEOUT = 90  # s, for the figure to change after a control moved
VIEWPORT = {"width": 1000, "height": 1000}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no Chromium executable on PATH (chromium or chromium-browser); "
                "install it, e.g. `apt-get install chromium`", allow_module_level=True)
try:
    from playwright import sync_api
except ImportError as exc:  # not installed, or broken
    pytest.skip(f"playwright cannot be imported ({exc}); pip install -e '.[test]'",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a copy of the notebooks, with its own config,
    data, runtime, settings and workspace folders; its kernels run in the default mode."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    for name in PANELS:
        shutil.copy2(NOTEBOOKS / name, root / name)
    dirs = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir()
    # No "get notified about Jupyter news?" toast (it would cover the figure), no news fetch.
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False,
                                        "doNotDisturbMode": True}))
    port, token = _free_port(), secrets.token_hex(24)
    env = {**{k: v for k, v in os.environ.items() if k != "SNN_EDU_SMOKE"},
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "JUPYTER_CONFIG_DIR": str(dirs["config"]),
           "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
           "IPYTHONDIR": str(base / "ipython"),
           # the notebooks' kernels run side by side: one thread each, no oversubscribed cores
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jupyterlab",
           "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}",
           f"--ServerApp.runtime_dir={dirs['runtime']}",
           # window.jupyterapp, to run commands and read the notebook model from the page
           "--LabApp.expose_app_in_browser=True",
           # offline: no announcements feed, no update check
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
                                start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                    json.load(r)
                break
            except (urllib.error.URLError, OSError, ValueError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{_tail(log)}")
                time.sleep(0.5)
        yield {"url": url, "token": token, "log": log}
    finally:
        proc.terminate()  # SIGTERM: the server shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


# Reads the open notebook's model through window.jupyterapp: kernel status, execution counts
# and any error output (the DOM renders errors and plain stderr alike).
NOTEBOOK_STATE_JS = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  const cells = [];
  const model = panel.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type !== 'code') continue;
    const outputs = cell.outputs.toJSON();
    cells.push({
      index: i,
      count: cell.executionCount,
      errors: outputs.filter(o => o.output_type === 'error')
                     .map(o => o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n')),
      text: outputs.filter(o => o.output_type === 'stream')
                   .map(o => Array.isArray(o.text) ? o.text.join('') : o.text).join(''),
    });
  }
  return {ready: ctx.isReady, status: kernel ? kernel.status : null, cells: cells};
}"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _wait(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _image_src(output):
    imgs = output.locator("img")
    if imgs.count() != 1:
        return None
    img = imgs.first
    loaded = img.evaluate("el => el.complete && el.naturalWidth > 0")
    return img.get_attribute("src") if loaded else None


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def started(lab, browser):
    """Every notebook open in its own page, all its cells started at once (the kernels run side
    by side, one thread each, while the panels of the first ones are checked); each entry is
    (page, console errors)."""
    pages = {}
    try:
        for notebook in PANELS:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(PAGE_TIMEOUT)
            console = []
            page.on("console", lambda m, c=console: c.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            pages[notebook] = (page, console)
            page.goto(f"{lab['url']}/lab/tree/{notebook}?reset&token={lab['token']}")
        for page, _ in pages.values():
            _start_all(page)
        yield pages
    finally:
        for page, _ in pages.values():
            page.close()


@pytest.mark.parametrize("notebook", list(PANELS))
def test_every_control_of_every_panel_redraws_and_fits(notebook, lab, started, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nbrowser screenshots: {shots}")
    page, console = started[notebook]
    page.bring_to_front()
    try:
        printed = _finish_all(page, shots)
        if notebook[:2] in SHIPPED:  # the default mode opens on the shipped runs and says which
            assert "loaded " in printed and "results/cpu" in printed, "the notebook did not say what it loaded"
        panels = _panels(page)
        assert len(panels) == PANELS[notebook], f"expected {PANELS[notebook]} widget panels, found {len(panels)}"
        for i, panel in enumerate(panels):
            _check_panel(page, panel, shots / f"panel{i}")
    except BaseException:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        print("browser console errors:\n" + "\n".join(console[-30:]))
        print("server log:\n" + _tail(lab["log"]))
        raise


def _start_all(page):
    """Wait for the notebook's kernel and start every cell (not awaited in the page)."""
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.wait_for_function("() => { const s = (" + NOTEBOOK_STATE_JS + ")(); "
                           "return s && s.ready && s.status === 'idle' && s.cells.length > 0; }")
    state = page.evaluate(NOTEBOOK_STATE_JS)
    assert all(c["count"] is None for c in state["cells"]), "the committed notebook carries outputs"
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _finish_all(page, shots):
    """Wait until every cell ran and check that none raised; returns what the cells printed."""
    def finished():
        s = page.evaluate(NOTEBOOK_STATE_JS)
        if any(c["errors"] for c in s["cells"]):
            return s
        if s["status"] == "idle" and all(c["count"] is not None for c in s["cells"]):
            return s
        return None

    state = _wait(finished, RUN_ALL_TIMEOUT, "all cells to run")
    errors = [f"cell {c['index']}: {ANSI.sub('', e)}" for c in state["cells"] for e in c["errors"]]
    assert not errors, "cells raised:\n" + "\n\n".join(errors)
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and not any("*" in t for t in prompts), prompts
    page.screenshot(path=str(shots / "ran.png"))
    return "".join(c["text"] for c in state["cells"])


def _panels(page):
    """Every widget panel: the box that holds a widget output and the controls above it."""
    outputs = page.locator(".widget-output")
    _wait(lambda: outputs.count() > 0, REDRAW_TIMEOUT, "a widget panel")
    return [outputs.nth(i).locator("xpath=..") for i in range(outputs.count())]


CONTROLS = ".widget-hslider, .widget-dropdown, .widget-toggle-buttons, .widget-checkbox, .widget-select-multiple"


def _check_panel(page, panel, prefix):
    panel.scroll_into_view_if_needed()
    output = panel.locator(".widget-output").first
    src = _wait(lambda: _image_src(output), REDRAW_TIMEOUT, "the panel's first figure")
    _assert_fits(page, panel)
    controls = panel.locator(CONTROLS)
    moved = 0
    for i in range(controls.count()):
        control = controls.nth(i)
        if not control.is_visible():
            continue  # a control that cannot act is hidden, not shown idle
        name = control.locator(".widget-label").first.inner_text().strip() if control.locator(
            ".widget-label").count() else control.inner_text().strip()
        control.scroll_into_view_if_needed()
        _move(control)
        src = _wait(lambda: (lambda s: s if s and s != src else None)(_image_src(output)),
                    REDRAW_TIMEOUT, f"the figure to change after moving {name!r}")
        _assert_fits(page, panel)
        moved += 1
    assert moved >= 2, f"only {moved} controls could be moved"
    panel.screenshot(path=f"{prefix}_after.png")


def _move(control):
    """Move one control away from its value, as a student would."""
    classes = control.get_attribute("class") or ""
    if "widget-hslider" in classes:  # one step, down unless already at the minimum
        readout = control.locator(".widget-readout")
        before = readout.inner_text().strip()
        handle = control.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowLeft")
        try:
            _wait(lambda: readout.inner_text().strip() != before, 3, "the readout", interval=0.2)
        except AssertionError:  # at the minimum already
            handle.press("ArrowRight")
    elif "widget-toggle-buttons" in classes:
        _assert_one_line(control)
        control.locator("button:not(.mod-active)").first.click()
    elif "widget-checkbox" in classes:
        control.locator("input[type=checkbox]").click()
    else:  # a dropdown or a multiple selection: another option
        select = control.locator("select")
        options = select.locator("option")
        chosen = select.evaluate("el => [...el.options].findIndex(o => o.selected)")
        select.select_option(index=1 if chosen == 0 and options.count() > 1 else 0)


def _assert_one_line(toggle):
    """A toggle's buttons stay on the line of their label (ipywidgets 8 would stack them)."""
    label_mid, button_mid, height = toggle.evaluate(
        "el => { const l = el.querySelector('.widget-label').getBoundingClientRect();"
        " const b = el.querySelector('button').getBoundingClientRect();"
        " return [l.y + l.height / 2, b.y + b.height / 2, b.height]; }")
    assert abs(label_mid - button_mid) < height / 2, "a toggle's buttons wrapped away from their label"


def _assert_fits(page, panel):
    """No control box of the panel scrolls sideways or reaches past the notebook's right edge."""
    overflow = panel.evaluate(
        "el => { const right = el.closest('.jp-OutputArea-output').getBoundingClientRect().right;"
        " return [...el.querySelectorAll('.widget-hbox, .widget-vbox')].filter(b => b.scrollWidth > b.clientWidth + 1"
        " || b.getBoundingClientRect().right > right + 1).map(b => b.className + ' ' + b.scrollWidth"
        " + '>' + b.clientWidth); }")
    assert not overflow, f"a widget row is wider than the notebook: {overflow}"
