"""%flow ssh against the sandbox: the printed command logs in when a shell runs it as printed."""

from __future__ import annotations

import os
import shlex
import subprocess

from flow_notebook.core.models import TaskConfig

from .conftest import run_flow


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

    command = run_flow(ip, f"ssh {task.task_id}")
    assert " -i " in command and "UserKnownHostsFile=" in command and " -p " in command
    result = _shell(f"{command} echo ok", home)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr

    note = run_flow(ip, f"ssh {task.task_id} --config")
    alias = f"flow-{task.task_id}"
    config = os.environ["FLOW_HOME"] + "/ssh/config"
    assert f"ssh -F {config} {alias}" in note
    result = _shell(f"ssh -F {shlex.quote(config)} {alias} echo ok", home)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr
    assert not (home / ".ssh").exists()
