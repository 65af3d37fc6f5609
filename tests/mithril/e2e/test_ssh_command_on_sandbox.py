"""%flow ssh against the sandbox: the printed command logs in when a shell runs it as printed."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskConfig
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.session import Timing


@pytest.fixture
def ip() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def magics(ip, provider):
    """``%flow`` backed by the sandbox provider; the session is closed afterwards."""
    registered = FlowMagics(
        ip,
        provider_factory=lambda name=None: provider,
        timing=Timing(poll_interval=0.2, settle_timeout=30.0),
    )
    ip.register_magics(registered)
    yield registered
    registered.session.close()


def _flow(ip, line: str) -> str:
    with capture_output() as captured:
        ip.run_line_magic("flow", line)
    return captured.stdout.strip()


def _shell(command: str, home) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` through ``sh -c`` as pasted, with HOME pointing away from ~/.ssh."""
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=30, env=env, check=False
    )


def test_printed_ssh_command_and_config_entry_log_in(ip, magics, provider, waits, tmp_path):
    task = provider.submit_task("", TaskConfig(command="sleep 120"))
    waits.status(provider, task.task_id, {"running"})
    home = tmp_path / "home"
    home.mkdir()

    command = _flow(ip, f"ssh {task.task_id}")
    assert " -i " in command and "UserKnownHostsFile=" in command and " -p " in command
    result = _shell(f"{command} echo ok", home)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr

    note = _flow(ip, f"ssh {task.task_id} --config")
    alias = f"flow-{task.task_id}"
    config = os.environ["FLOW_HOME"] + "/ssh/config"
    assert f"ssh -F {config} {alias}" in note
    result = _shell(f"ssh -F {shlex.quote(config)} {alias} echo ok", home)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
    assert not (home / ".ssh").exists()
