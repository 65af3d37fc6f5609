"""Runs JupyterLab on 127.0.0.1 with every Jupyter directory in a temporary one.

Settings make a notebook start its kernel without asking and keep the news popup
away, so a browser can drive the page without dialogs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0
_SETTINGS = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
}


@dataclass
class JupyterLab:
    """A running JupyterLab server.

    Attributes:
        process: The server process.
        port: Its port on 127.0.0.1.
        token: The access token.
        root: The directory it serves.
        log: The file holding its output.
    """

    process: subprocess.Popen[bytes]
    port: int
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        """Returns the URL of ``path`` (e.g. ``lab/tree/x.ipynb``) with the token."""
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"


def free_port() -> int:
    """Returns a port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(root: Path, state: Path, flow_home: Path) -> JupyterLab:
    """Starts JupyterLab serving ``root``, with Jupyter state under ``state``.

    Raises:
        AssertionError: The server did not answer within ``START_TIMEOUT`` seconds.
    """
    dirs = {name: state / name for name in ("config", "data", "runtime", "ipython", "settings")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["settings"] / "overrides.json").write_text(json.dumps(_SETTINGS))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "FLOW_HOME": str(flow_home),
        "FLOW_PROVIDER": "local",
    }
    port, token = free_port(), secrets.token_hex(16)
    log = state / "jupyterlab.log"
    argv = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1",
        "--port", str(port), f"--IdentityProvider.token={token}", "--allow-root",
        f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={dirs['settings']}",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = JupyterLab(process, port, token, root, log)
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
