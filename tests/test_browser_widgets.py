"""Chapter 01's sliders work in a real browser.

JupyterLab is started headless on a free localhost port, Debian's Chromium (``/usr/bin/chromium``,
never a downloaded browser) is driven by Playwright for Python, chapter 01 is opened and run top to
bottom, the alpha slider is moved with the keyboard (focus the handle, press ArrowRight), and the
figure in the panel's output area must change. Screenshots before and after are saved under
``tests/artifacts/`` (git-ignored).

The notebook is copied into a temporary server root, so that JupyterLab's autosave can never write
outputs into the repository's copy; ``CPLUS_EDU_FAST=1`` makes the notebook run at its smallest
size. Skipped, with the reason, when Chromium or Playwright is missing, unless
``CPLUS_EDU_REQUIRE_BROWSER`` is set (CI sets it): then a missing browser is a failure.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = Path("notebooks/01_hypersphere.ipynb")
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PANEL_IMAGE = ".widget-output img"  # the figure the slider panel draws


def _require_browser() -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package `chromium`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package `playwright`")
    if not missing:
        return
    reason = "the real-browser widget test needs " + " and ".join(missing)
    if os.environ.get("CPLUS_EDU_REQUIRE_BROWSER"):
        pytest.fail(f"{reason}; CPLUS_EDU_REQUIRE_BROWSER is set, so this is a failure")
    pytest.skip(f"{reason} (set CPLUS_EDU_REQUIRE_BROWSER=1 to fail instead of skipping)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_lab_settings(settings_dir: Path) -> None:
    """No autosave. The news toast is left to the shipped binder/overrides.json (installed by
    `make test` into the environment), which the test below checks."""
    for plugin, values in {
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    }.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    _require_browser()
    root = tmp_path_factory.mktemp("lab_root")
    (root / NOTEBOOK.parent).mkdir()
    shutil.copy(ROOT / NOTEBOOK, root / NOTEBOOK)
    home = tmp_path_factory.mktemp("lab_home")
    _write_lab_settings(home / "settings")
    port = _free_port()
    env = dict(os.environ, CPLUS_EDU_FAST="1", CI="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / "config"))
    log = open(home / "lab.log", "w")  # noqa: SIM115 (closed in the teardown)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernel it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _kernel_idle(page) -> bool:
    return page.evaluate(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " const k = w && w.sessionContext && w.sessionContext.session"
        " && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }"
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def _error_outputs(page) -> list[str]:
    texts = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    return [t for t in texts if "Error" in t or "Traceback" in t]


def test_moving_the_alpha_slider_changes_the_figure(lab_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab_url}/lab/tree/{NOTEBOOK.as_posix()}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function("() => window.jupyterapp !== undefined", timeout=30_000)
            _wait(lambda: _kernel_idle(page), 60, "the kernel to start")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_selector(PANEL_IMAGE, timeout=150_000)
            _wait(lambda: _kernel_idle(page), 60, "the notebook to finish")
            assert _error_outputs(page) == [], "a notebook cell failed"
            # by now (tens of seconds after start-up) JupyterLab would have asked
            news = page.get_by_text("get notified about official Jupyter news")
            assert news.count() == 0, "the shipped binder/overrides.json should silence the toast"

            image = page.locator(PANEL_IMAGE).first
            image.scroll_into_view_if_needed()
            before = image.get_attribute("src")
            page.screenshot(path=str(ARTIFACTS / "01_hypersphere_before.png"), full_page=False)

            alpha = page.locator(".widget-slider").filter(
                has=page.locator(".widget-label", has_text="alpha")
            )
            readout = alpha.locator(".widget-readout")
            old_readout = readout.inner_text()
            handle = alpha.locator(".noUi-handle")
            handle.focus()
            handle.press("ArrowRight")
            _wait(lambda: readout.inner_text() != old_readout, 10, "the alpha readout to move")
            _wait(lambda: page.locator(PANEL_IMAGE).first.get_attribute("src") != before, 90,
                  "the panel to redraw after the slider moved")
            _wait(lambda: _kernel_idle(page), 60, "the retraining to finish")
            after = page.locator(PANEL_IMAGE).first.get_attribute("src")
            new_readout = readout.inner_text()
            page.screenshot(path=str(ARTIFACTS / "01_hypersphere_after.png"), full_page=False)
            print(f"screenshots in {ARTIFACTS}; alpha {old_readout} -> {new_readout}")
        finally:
            browser.close()

    assert before.startswith("data:image/png;base64,") and after.startswith("data:image/png;")
    png_before = base64.b64decode(before.split(",", 1)[1])
    png_after = base64.b64decode(after.split(",", 1)[1])
    assert png_before[:8] == png_after[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_before != png_after
    assert float(new_readout) > float(old_readout)  # ArrowRight raised alpha


def test_a_missing_browser_skips_or_fails_as_configured(monkeypatch):
    monkeypatch.setitem(globals(), "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CPLUS_EDU_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs /nonexistent/chromium"):
        _require_browser()
    monkeypatch.setenv("CPLUS_EDU_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="so this is a failure"):
        _require_browser()
