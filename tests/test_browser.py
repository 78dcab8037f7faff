"""A real-browser check of notebook 02: JupyterLab + headless Chromium (through Playwright) run
every cell in smoke mode, no cell may raise, and moving the mask inspector's epoch slider must
redraw its figure.

Skips unless a Chromium executable (`chromium` or `chromium-browser` on PATH) and the
`playwright` Python package are available; Playwright never downloads a browser here.
The server serves a temporary copy of the committed `02_training.ipynb`, so neither the
notebook nor its jupytext pair in the repository can be rewritten by an autosave.
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
NOTEBOOK = "02_training.ipynb"

SERVER_START_TIMEOUT = 120  # s, until /api/status answers
PAGE_TIMEOUT = 120_000  # ms, for the page to load and the kernel to start
RUN_ALL_TIMEOUT = 300  # s, for every cell to finish
REDRAW_TIMEOUT = 90  # s, for the figure to change after the slider moved
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
    data, runtime, settings and workspace folders and SNN_EDU_SMOKE=1 for its kernels."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    shutil.copy2(NOTEBOOKS / NOTEBOOK, root / NOTEBOOK)
    dirs = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir()
    # No "get notified about Jupyter news?" toast (it would cover the figure), no news fetch.
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False,
                                        "doNotDisturbMode": True}))
    port, token = _free_port(), secrets.token_hex(24)
    env = {**os.environ,
           "SNN_EDU_SMOKE": "1",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "JUPYTER_CONFIG_DIR": str(dirs["config"]),
           "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
           "IPYTHONDIR": str(base / "ipython")}
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


def test_notebook_02_runs_and_mask_inspector_redraws(lab, tmp_path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nbrowser screenshots: {shots}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT)
            console = []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.goto(f"{lab['url']}/lab/tree/{NOTEBOOK}?reset&token={lab['token']}")
            try:
                _run_and_check(page, shots)
            except BaseException:
                page.screenshot(path=str(shots / "failure.png"), full_page=True)
                print("browser console errors:\n" + "\n".join(console[-30:]))
                print("server log:\n" + _tail(lab["log"]))
                raise
        finally:
            browser.close()


def _run_and_check(page, shots):
    # 1. The notebook is open and its kernel has started.
    page.wait_for_function("() => window.jupyterapp !== undefined")
    page.wait_for_function("() => { const s = (" + NOTEBOOK_STATE_JS + ")(); "
                           "return s && s.ready && s.status === 'idle' && s.cells.length > 0; }")
    state = page.evaluate(NOTEBOOK_STATE_JS)
    assert all(c["count"] is None for c in state["cells"]), "the committed notebook carries outputs"
    page.screenshot(path=str(shots / "0_opened.png"))

    # 2. Run all cells; stop waiting early if a cell raises (Run All then skips the rest).
    # (Not awaited in the page: the timeout below stays ours.)
    started = time.monotonic()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def finished():
        s = page.evaluate(NOTEBOOK_STATE_JS)
        if any(c["errors"] for c in s["cells"]):
            return s
        if s["status"] == "idle" and all(c["count"] is not None for c in s["cells"]):
            return s
        return None

    state = _wait(finished, RUN_ALL_TIMEOUT, "all cells to run")
    print(f"ran {len(state['cells'])} code cells in {time.monotonic() - started:.1f} s")
    errors = [f"cell {c['index']}: {ANSI.sub('', e)}" for c in state["cells"] for e in c["errors"]]
    assert not errors, "cells raised:\n" + "\n\n".join(errors)
    # The page shows it too: a number in every prompt, no [*] left.
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and not any("*" in t for t in prompts), prompts
    page.screenshot(path=str(shots / "1_ran.png"))

    # 3. The first mask inspector: a VBox with an IntSlider labelled "epoch" above its output.
    slider = page.locator(".widget-hslider").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*epoch\s*$"))).first
    slider.scroll_into_view_if_needed()
    slider.wait_for(state="visible")
    inspector = page.locator(".widget-vbox").filter(has=slider).first
    # Its gate toggle keeps the buttons on the line of their label.
    toggle = inspector.locator(".widget-toggle-buttons").first
    # both boxes in one evaluation: the page may scroll between two separate measurements
    label_mid, button_mid, button_height = toggle.evaluate(
        "el => { const l = el.querySelector('.widget-label').getBoundingClientRect();"
        " const b = el.querySelector('button').getBoundingClientRect();"
        " return [l.y + l.height / 2, b.y + b.height / 2, b.height]; }")
    assert abs(label_mid - button_mid) < button_height / 2, \
        f"the gate buttons wrapped away from their label: label at y={label_mid}, buttons at y={button_mid}"
    output = inspector.locator(".widget-output").first
    output.scroll_into_view_if_needed()
    src_before = _wait(lambda: _image_src(output), REDRAW_TIMEOUT, "the mask inspector's figure")
    readout = slider.locator(".widget-readout")
    value_before = readout.inner_text().strip()
    assert int(value_before) >= 2, f"the slider starts at the last epoch, got {value_before}"
    before = output.screenshot(path=str(shots / "2_inspector_before.png"))
    slider.screenshot(path=str(shots / "2_slider_before.png"))

    # 4. Move the slider to epoch 0 with the keyboard (noUiSlider: Home = minimum).
    handle = slider.locator(".noUi-handle").first
    handle.focus()
    handle.press("Home")
    _wait(lambda: readout.inner_text().strip() != value_before, 30, "the slider's readout to change")
    value_after = readout.inner_text().strip()
    assert value_after == "0", f"expected epoch 0 after Home, readout shows {value_after}"

    # 5. The kernel redraws the figure: wait for a new, loaded image, then compare pixels.
    def redrawn():
        src = _image_src(output)
        return src if src and src != src_before else None

    _wait(redrawn, REDRAW_TIMEOUT, "the mask inspector's figure to change")
    output.scroll_into_view_if_needed()
    after = _wait(lambda: (lambda b: b if b != before else None)(output.screenshot()),
                  REDRAW_TIMEOUT, "the screenshot of the figure to change")
    (shots / "3_inspector_after.png").write_bytes(after)
    slider.screenshot(path=str(shots / "3_slider_after.png"))
    assert after != before
    page.screenshot(path=str(shots / "4_final.png"))
