"""The real local provider next to a real Mithril provider that cannot answer.

Mithril without an API key, or with its API unreachable (a closed port on
127.0.0.1), is one line under the table of ``%flow list`` and the dashboard's text;
the local tasks still show, and the local provider stays the default.
"""

from __future__ import annotations

import pytest

from flow_notebook.core.provider_interfaces import IActiveTasks
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.session import Timing
from flow_notebook.sandbox.instances import free_port


@pytest.fixture
def session(ip, monkeypatch):
    monkeypatch.setenv("FLOW_PROVIDERS", "mithril")
    magics = FlowMagics(ip, timing=Timing(poll_interval=0.05, settle_timeout=10.0))
    ip.register_magics(magics)
    yield magics.session
    provider = magics.session.provider_named("local")
    if isinstance(provider, IActiveTasks):
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    magics.session.close()


def test_mithril_without_an_api_key_is_one_line_next_to_the_local_tasks(session, flow):
    task, _ = flow("run --name here --wait -- true")
    lines = flow("list")[1].splitlines()
    assert lines[1].split()[:3] == [task.task_id, "local", "here"]
    assert len(lines) == 3
    assert lines[2].startswith("mithril: cannot list tasks: no Mithril API key")
    text = flow("dashboard --text")[1].splitlines()
    assert text[1].split()[:2] == [task.task_id, "local"]
    assert text[2] == lines[2]


def test_an_unreachable_mithril_api_is_one_line_next_to_the_local_tasks(session, flow, monkeypatch):
    closed = free_port()  # nothing listens there
    monkeypatch.setenv("MITHRIL_API_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("MITHRIL_API_KEY", "fkey_test")
    monkeypatch.setenv("MITHRIL_PROJECT", "proj_test")
    task, _ = flow("run --name here --wait -- true")
    out = flow("list")[1].splitlines()
    # The API client's retry notes come first ("flow: Mithril API unavailable ...").
    lines = [line for line in out if not line.startswith("flow: ")]
    assert lines[0].split()[:2] == ["ID", "PROVIDER"]
    assert lines[1].split()[:3] == [task.task_id, "local", "here"]
    assert lines[2:] == [
        "mithril: cannot list tasks: Mithril API unreachable on GET /v2/projects: "
        "connection failed (check the network and retry)"
    ], out
    assert "fkey_test" not in "\n".join(out)
    assert flow(f"status {task.task_id}")[1].startswith(f"task:      {task.task_id}")
