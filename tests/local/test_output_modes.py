"""Task output under FLOW_HOME is the user's alone: files 0600 in 0700 directories."""

from __future__ import annotations

import stat

from flow_notebook.core.models import TaskConfig

from .conftest import wait_terminal


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_local_tasks_directory_is_0700_and_its_logs_0600(provider):
    task = provider.submit_task("cpu", TaskConfig(name="modes", command="echo out; echo err >&2"))
    wait_terminal(provider, task.task_id)
    task_dir = provider._store.get(task.task_id).task_dir
    assert _mode(task_dir) == 0o700
    logs = {p.name: _mode(p) for p in task_dir.iterdir() if p.suffix == ".log"}
    assert logs == {"stdout.log": 0o600, "stderr.log": 0o600, "supervisor.log": 0o600}
