"""%flow tunnel: through the provider's tunnel manager; closes with the task or on --stop."""

from __future__ import annotations

import time

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.models import TaskStatus

from .widgets.conftest import FullFakeProvider, WidgetFakeProvider, make_task


@pytest.fixture
def provider(use_provider) -> FullFakeProvider:
    provider = FullFakeProvider([make_task()])
    use_provider(provider)
    return provider


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_open_prints_the_local_link(provider, flow):
    out = flow("tunnel task-1 8888 --local-port 9999")[1]
    assert out.startswith("http://127.0.0.1:9999/ forwards to port 8888 of task task-1")
    assert list(provider.tunnels.open) == ["tun-1"]
    provider.tunnels.close_tunnel("tun-1")


def test_stop_closes_the_tasks_tunnels(provider, flow):
    flow("tunnel task-1 8888")
    flow("tunnel task-1 6006")
    assert (
        flow("tunnel --stop task-1 6006")[1] == "closed 1 tunnel(s) to port 6006 of task task-1\n"
    )
    assert flow("tunnel --stop task-1")[1] == "closed 1 tunnel(s) to task task-1\n"
    assert provider.tunnels.open == {}
    assert flow("tunnel --list")[1] == "no tunnels\n"


def test_tunnel_closes_when_the_task_ends(provider, flow):
    flow("tunnel task-1 8888")
    provider.tasks["task-1"] = provider.tasks["task-1"].model_copy(
        update={"status": TaskStatus.COMPLETED}
    )
    _wait(lambda: provider.tunnels.open == {})
    assert provider.tunnels.closed == ["tun-1"]


def test_unloading_closes_open_tunnels(provider, flow, ip):
    magics = ip.magics_manager.registry["FlowMagics"]
    flow("tunnel task-1 8888")
    magics.session.close()
    assert provider.tunnels.open == {}


def test_local_task_needs_no_tunnel(use_provider, flow):
    use_provider(WidgetFakeProvider([make_task()], runs_here=True))
    out = flow("tunnel task-1 8888")[1]
    assert "runs on this machine: port 8888 is already local, at http://127.0.0.1:8888/" in out


def test_provider_without_tunnels_is_one_line(use_provider, flow):
    use_provider(WidgetFakeProvider([make_task()]))
    with pytest.raises(UsageError, match="^provider fake cannot forward ports$"):
        flow("tunnel task-1 8888")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("tunnel", "give TASK and PORT"),
        ("tunnel task-1", "give the PORT"),
        ("tunnel task-1 70000", "invalid port number"),
    ],
)
def test_usage_errors(provider, flow, line, message):
    with pytest.raises(UsageError, match=message):
        flow(line)
