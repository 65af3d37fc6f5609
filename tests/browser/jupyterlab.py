"""Runs JupyterLab or Notebook 7 on 127.0.0.1 with every Jupyter directory in a temporary one.

Settings make a notebook start its kernel without asking and keep the news popup
away, so a browser can drive the page without dialogs. Also: writing the notebook a
test runs, running all its cells from the page, and saving screenshots.

``APPS`` names the two front ends: ``lab`` (JupyterLab 4) and ``notebook``
(Notebook 7, ``jupyter notebook``). Both are built on the same JupyterLab
components, so the same page selectors reach the cells and panels.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0
WAIT_MS = 30_000
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
# The active cell's floating toolbar would otherwise cover the top of a panel.
SCREENSHOT_STYLE = ".jp-cell-toolbar { display: none !important; }"
_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}


# Front end name -> (Python module that serves it, its settings option, notebook URL path).
APPS = {
    "lab": ("jupyterlab", "LabApp", "lab/tree"),
    "notebook": ("notebook", "JupyterNotebookApp", "notebooks"),
}


@dataclass
class JupyterLab:
    """A running JupyterLab (or Notebook 7) server.

    Attributes:
        process: The server process.
        port: Its port on 127.0.0.1.
        token: The access token.
        root: The directory it serves.
        log: The file holding its output.
        app: ``lab`` or ``notebook`` (a key of ``APPS``).
    """

    process: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    log: Path
    app: str = "lab"
    flow_home: Path | None = None

    def front_end(self, app: str) -> JupyterLab:
        """The same server seen through front end ``app`` (``lab`` or ``notebook``)."""
        return dataclasses.replace(self, app=app)

    def notebook_url(self, notebook: str) -> str:
        """Returns the URL that opens ``notebook`` in this front end."""
        return self.url(f"{APPS[self.app][2]}/{notebook}")

    def url(self, path: str) -> str:
        """Returns the URL of ``path`` (e.g. ``lab/tree/x.ipynb``) with the token."""
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"


def free_port() -> int:
    """Returns a port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_notebook(path: Path, cells: list[str]) -> None:
    """Writes a Python 3 notebook whose code cells are ``cells``."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)


def start(
    root: Path,
    state: Path,
    flow_home: Path,
    env: dict[str, str] | None = None,
    app: str = "lab",
    theme: str | None = None,
) -> JupyterLab:
    """Starts JupyterLab (or Notebook 7: ``app="notebook"``) serving ``root``.

    Jupyter state lives under ``state``. Its kernels inherit ``FLOW_HOME=flow_home``,
    ``FLOW_PROVIDER=local`` and then ``env``, which may override both. ``theme``
    (e.g. ``"JupyterLab Dark"``) replaces the default light theme.

    Raises:
        AssertionError: The server did not answer within ``START_TIMEOUT`` seconds.
    """
    dirs = {name: state / name for name in ("config", "data", "runtime", "ipython", "settings")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    settings = dict(_SETTINGS)
    if theme:
        settings["@jupyterlab/apputils-extension:themes"] = {"theme": theme}
    (dirs["settings"] / "overrides.json").write_text(json.dumps(settings))
    # Both front ends read these settings: a server started for one serves the other too.
    app_settings = [
        f"--{owner}.app_settings_dir={dirs['settings']}" for _, owner, _ in APPS.values()
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "FLOW_HOME": str(flow_home),
        "FLOW_PROVIDER": "local",
        **(env or {}),
    }
    port, token = free_port(), secrets.token_hex(16)
    log = state / "jupyterlab.log"
    module = APPS[app][0]
    argv = [
        sys.executable, "-m", module, "--no-browser", "--ip", "127.0.0.1",
        "--port", str(port), f"--IdentityProvider.token={token}", "--allow-root",
        f"--ServerApp.root_dir={root}", *app_settings,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = JupyterLab(process, port, token, root, log, app, flow_home)
    _wait_ready(lab)
    return lab


def stop(lab: JupyterLab, timeout: float = 15.0) -> None:
    """Stops the server and its kernels (one process group)."""
    if lab.process.poll() is None:
        os.killpg(lab.process.pid, signal.SIGTERM)
        try:
            lab.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(lab.process.pid, signal.SIGKILL)
            lab.process.wait(timeout)
    try:
        os.killpg(lab.process.pid, signal.SIGKILL)  # kernels left in the group, if any
    except ProcessLookupError:
        pass


def run_all_cells(page: Any, lab: JupyterLab, notebook: str) -> None:
    """Opens ``notebook`` in ``page``, waits for its kernel, and runs every cell."""
    open_notebook(page, lab, notebook)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def open_notebook(page: Any, lab: JupyterLab, notebook: str) -> None:
    """Opens ``notebook`` in ``page`` and waits until its kernel is idle."""
    from playwright.sync_api import expect

    page.goto(lab.notebook_url(notebook))
    # The toolbar says idle before the kernel exists: wait for the server's session.
    _wait_kernel_idle(lab, notebook)
    expect(idle_indicator(page, lab)).to_be_visible(timeout=WAIT_MS)


def idle_indicator(page: Any, lab: JupyterLab) -> Any:
    """Returns what shows on the page while the notebook's kernel is idle."""
    if lab.app == "lab":
        return page.locator(".jp-StatusBar-TextItem", has_text="| Idle")
    # Notebook 7 has no status bar; its toolbar indicator follows the kernel.
    return page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first


def restart_kernel(page: Any, lab: JupyterLab) -> None:
    """Restarts the open notebook's kernel from the Kernel menu; waits until it is idle."""
    from playwright.sync_api import expect

    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_text("Restart Kernel…", exact=True).click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(idle_indicator(page, lab)).to_be_visible(timeout=WAIT_MS)


def save_notebook(page: Any, lab: JupyterLab, notebook: str) -> None:
    """Saves the open notebook (Ctrl+S) and waits until the file on disk changed."""
    path = lab.root / notebook
    before = path.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + WAIT_MS / 1000
    while path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise AssertionError(f"{notebook} was not saved in {WAIT_MS / 1000:g} s")
        time.sleep(0.1)


def save_screenshots(
    shots: dict[str, Any], artifacts: Path, docs: dict[str, str] | None = None
) -> None:
    """Saves each element of ``shots`` as ``artifacts/<name>``.

    Args:
        shots: File name to Playwright locator.
        artifacts: Where every screenshot goes.
        docs: Artifact name to ``docs/img`` name; copied there only with
            ``FLOW_UPDATE_SCREENSHOTS=1``.
    """
    for name, locator in shots.items():
        locator.screenshot(path=str(artifacts / name), style=SCREENSHOT_STYLE)
    if os.environ.get("FLOW_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for name, doc_name in (docs or {}).items():
            if name in shots:
                shutil.copyfile(artifacts / name, DOCS_IMG / doc_name)


def _wait_kernel_idle(lab: JupyterLab, notebook: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with urllib.request.urlopen(lab.url("api/sessions"), timeout=5) as answer:
            sessions = json.loads(answer.read())
        states = [
            (s.get("kernel") or {}).get("execution_state")
            for s in sessions
            if s.get("path", "").endswith(notebook)
        ]
        if "idle" in states:
            return
        time.sleep(0.2)
    raise AssertionError(f"no idle kernel for {notebook} in {START_TIMEOUT} s")


def _wait_ready(lab: JupyterLab) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise AssertionError(f"JupyterLab exited: {lab.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(
        f"JupyterLab not ready in {START_TIMEOUT} s: {lab.log.read_text()[-2000:]}"
    )
