"""Local provider fixtures: a provider per test, and no process left behind."""

from __future__ import annotations

import os
import sys
import time

import pytest

from flow_notebook.core.config import load_config
from flow_notebook.providers.local import LocalProvider
from flow_notebook.providers.local.control import TaskControl
from flow_notebook.providers.local.store import TaskStore


@pytest.fixture
def provider(isolated_flow_home):
    state = load_config().home / "local"
    store = TaskStore(state / "store")
    local = LocalProvider(state, store=store, control=TaskControl(store, cancel_grace_seconds=0.5))
    yield local
    for task in local.list_active_tasks():
        local.stop_task(task.task_id)
    local.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01):
    """Polls ``predicate`` until it returns a truthy value; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_terminal(provider, task_id: str, timeout: float = 10.0):
    wait_for(lambda: provider.get_task_status(task_id).is_terminal, timeout)
    return provider.get_task(task_id)


def pid_alive(pid: int) -> bool:
    from flow_notebook.providers.local import proc

    return proc.process_alive(pid)


PY = sys.executable
ENV = dict(os.environ)
