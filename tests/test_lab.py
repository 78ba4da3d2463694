"""The Studio panel works in a real JupyterLab, driven by headless Chromium.

The test starts JupyterLab on 127.0.0.1 (token, random free port, throwaway HOME and Jupyter
dirs, a temporary copy of ``notebooks/``), opens the quickstart, runs all its cells, clicks the
Studio's **Generate** button and checks that the ``<video>`` it shows loads in full.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _need_browser() -> None:
    found = {"chromium": CHROMIUM is not None, "playwright": _importable("playwright.sync_api"),
             "jupyterlab": _importable("jupyterlab")}
    missing = [name for name, ok in found.items() if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Debian's chromium and the playwright and jupyterlab packages; missing: {missing}")
        pytest.skip(f"not installed: {', '.join(missing)} (run tests/setup.sh)")


# ---------------------------------------------------------------------------------------------------------------
# JupyterLab server


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _lab_env(tmp: Path) -> dict[str, str]:
    """The environment for the server and its kernels: nothing of the user's Jupyter or IPython setup.

    ``JUPYTER_DATA_DIR`` is a temporary folder; ``sys.prefix/share/jupyter`` stays on the data path on
    its own, so the venv's ``python3`` kernelspec and the ipywidgets lab extension are found.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_", "IPYTHON", "MPL"))}
    dirs = {name: tmp / name.lower() for name in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                                                  "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["PYTHONNOUSERSITE"] = "1"
    config = dirs["JUPYTER_CONFIG_DIR"]
    # No news feed, no update check, no PyPI extension manager: the server makes no outside requests.
    _write_json(config / "jupyter_server_config.json", {"LabApp": {
        "news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly"}})
    settings = config / "lab" / "user-settings" / "@jupyterlab"
    # No "would you like to receive news" toast; every cell attached to the DOM, in view or not.
    _write_json(settings / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    _write_json(settings / "notebook-extension" / "tracker.jupyterlab-settings", {"windowingMode": "none"})
    return env


@contextmanager
def _jupyterlab(tmp: Path, notebooks: Path) -> Iterator[Lab]:
    root = tmp / "notebooks"
    shutil.copytree(notebooks, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "sorakit-outputs"))
    token, port = secrets.token_hex(16), _free_port()
    log = tmp / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
           f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=_lab_env(tmp), cwd=root, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        _wait_until_up(proc, lab)
        yield lab
    finally:
        _stop(proc, lab)


def _api(lab: Lab, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(f"{lab.url}{path}", method=method, headers={"Authorization": f"token {lab.token}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
    return json.loads(body) if body else None


def _wait_until_up(proc: subprocess.Popen[bytes], lab: Lab, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{_tail(lab.log)}")
        try:
            _api(lab, "/api/status")
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise AssertionError(f"JupyterLab did not answer in {timeout:.0f} s:\n{_tail(lab.log)}")


def _descendants(pid: int) -> list[Any]:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - ipykernel depends on psutil
        return []
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _stop(proc: subprocess.Popen[bytes], lab: Lab) -> None:
    """Shuts the kernels down through the API, then the server's process group; kills what is left.

    Kernels run in sessions of their own (jupyter_client starts them so), so they are listed first and
    killed by pid if the server did not end them.
    """
    children = _descendants(proc.pid)
    if proc.poll() is None:
        try:
            for kernel in _api(lab, "/api/kernels"):
                _api(lab, f"/api/kernels/{kernel['id']}", method="DELETE")
        except (OSError, urllib.error.URLError, ValueError):
            pass
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    try:  # anything of the group that outlived the server
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in children:
        try:
            child.kill()
            child.wait(timeout=10)
        except Exception:  # already gone  # noqa: BLE001
            pass


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


# ---------------------------------------------------------------------------------------------------------------
# The browser side

OPEN = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.context && w.context.isReady && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel);
}"""

RUN_ALL = """async () => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session.kernel;
  await kernel.info;
  let prefix = '';
  const probe = kernel.requestExecute({code: 'import sys; print(sys.prefix, end="")', silent: false,
                                       store_history: false});
  probe.onIOPub = msg => { if (msg.header.msg_type === 'stream') prefix += msg.content.text; };
  await probe.done;
  const ok = await app.commands.execute('notebook:run-all-cells');
  const errors = [];
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (let j = 0; j < cell.outputs.length; j++) {
      const o = cell.outputs.get(j).toJSON();
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
    }
  }
  return {ok, errors, prefix, path: panel.context.path, kernel: kernel.name};
}"""

IDLE = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'"

CHECK = """async v => {
  if (v.readyState < 2) await new Promise((ok, bad) => {
    v.addEventListener('loadeddata', ok, {once: true});
    v.addEventListener('error', () => bad(new Error('video error ' + (v.error && v.error.code))), {once: true});
    setTimeout(() => bad(new Error('no loadeddata in 15 s')), 15000); });
  v.muted = true;
  await Promise.race([v.play().catch(() => {}), new Promise(r => setTimeout(r, 3000))]);
  await new Promise(r => setTimeout(r, 1000));
  v.pause();
  const cap = v.closest('figure') && v.closest('figure').querySelector('figcaption');
  return {ready: v.readyState, duration: v.duration, time: v.currentTime, error: v.error && v.error.code,
          width: v.videoWidth, height: v.videoHeight, videoBytes: v.webkitVideoDecodedByteCount,
          src: v.src.slice(0, 30), caption: cap ? cap.textContent : null,
          inHtmlWidget: !!v.closest('.widget-html')};
}"""


def _studio_generates_a_video(notebook: Path, tmp: Path, screenshot: Path) -> dict[str, Any]:
    """Opens ``notebook`` in JupyterLab, runs it, clicks Generate, returns the video's state."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    with _jupyterlab(tmp, notebook.parent) as lab, sync_playwright() as p:
        home = tmp / "home"
        context = p.chromium.launch_persistent_context(
            str(tmp / "chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            env={**os.environ, "HOME": str(home)}, viewport={"width": 1280, "height": 1000})
        try:
            # Only the local server: the notebook's Colab badge and the like are never fetched.
            context.route(re.compile(r"^(https?|wss?)://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("requestfailed", lambda r: console.append(f"requestfailed: {r.url[:200]} {r.failure}"))
            try:
                page.goto(f"{lab.url}/lab/tree/{notebook.name}?token={lab.token}")
                page.wait_for_function(OPEN, timeout=45_000)
                run = page.evaluate(RUN_ALL)
                assert run["path"] == notebook.name and run["kernel"] == "python3", run
                assert Path(run["prefix"]) == Path(sys.prefix), "the kernel is this environment's python"
                assert run["ok"] and not run["errors"], f"run all cells: {run}"
                page.wait_for_function(IDLE)

                button = page.locator("button.jupyter-button").filter(has_text=re.compile(r"^\s*Generate\s*$"))
                button.wait_for(state="visible")
                assert button.count() == 1, "one Generate button"
                studio = page.locator(".jp-CodeCell").filter(has=button)
                studio.evaluate("c => c.querySelectorAll('video').forEach(v => { v.dataset.beforeClick = '1'; })")
                button.click()
                video = studio.locator("video:not([data-before-click])")
                try:
                    video.wait_for(state="attached", timeout=45_000)
                except Exception as exc:
                    raise AssertionError(f"no video after Generate; the Studio shows:\n{studio.inner_text()}") from exc
                assert video.count() == 1, "one new video"
                state: dict[str, Any] = video.evaluate(CHECK)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                studio.screenshot(path=str(screenshot))
                return state
            finally:
                if console:
                    print("browser console:\n" + "\n".join(console[-40:]))
                print("jupyterlab log:\n" + _tail(lab.log))
        finally:
            context.close()


def _expected_duration(caption: str | None) -> float:
    """The clip's duration from the caption ``clip_html`` writes under the video."""
    m = re.search(r"(\d+) frames @ (\d+) fps · ([\d.]+) s", caption or "")
    assert m, f"the video has the caption of clip_html: {caption!r}"
    frames, fps, shown = int(m[1]), int(m[2]), float(m[3])
    assert abs(frames / fps - shown) < 0.01
    return frames / fps


def test_studio_generate_shows_a_video_in_jupyterlab(tmp_path: Path) -> None:
    _need_browser()
    state = _studio_generates_a_video(NOTEBOOK, tmp_path, ARTIFACTS / "studio.png")
    assert state["src"].startswith("data:video/mp4;base64,"), state
    assert state["inHtmlWidget"], "the video is in the Studio's HTML result area"
    assert state["error"] is None, state
    assert state["ready"] >= 2, state
    assert abs(state["duration"] - _expected_duration(state["caption"])) < 0.1, state
    assert state["width"] > 0 and state["height"] > 0 and state["videoBytes"] > 0, state
    assert state["time"] > 0.2, f"playback advanced: {state}"
