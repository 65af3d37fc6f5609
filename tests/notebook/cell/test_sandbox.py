"""%%flow run against the Mithril sandbox: real bids, real instances over ssh."""

from __future__ import annotations

import pytest

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.pinned import TaskFailedError

from .conftest import start_kernel, stop_kernel, ticking, wait_until

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh, pytest.mark.usefixtures("require_ssh")]


@pytest.fixture
def remote(ip, tmp_path, project, mithril_sandbox, monkeypatch):
    """A kernel whose provider is Mithril, pointed at the sandbox."""
    for name, value in mithril_sandbox.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLOW_PROVIDER", "mithril")
    kernel = start_kernel(ip, tmp_path / "state")
    yield kernel
    stop_kernel(kernel)


def test_a_cell_runs_on_an_instance_with_code_push_and_pull(ip, remote):
    ip.user_ns["base"] = 2
    body = "import helper\nresult = base + helper.OFFSET\nprint('result', result)\n"
    ip.run_cell_magic("flow", "run --gpu a100 --wait --push base --pull result", body)
    surface = remote.last
    assert surface.metadata["provider"] == "mithril"
    assert surface.lines == ["result 102"]
    assert surface.summary.task.status is TaskStatus.COMPLETED
    assert ip.user_ns["result"] == 102


def test_attach_after_a_restart_resumes_a_remote_task_exactly(ip, tmp_path, remote, project):
    ip.run_cell_magic("flow", "run --gpu a100 --name long", ticking(30, 0.05, word="r"))
    first = remote.last
    wait_until(lambda: len(first.lines) >= 3, timeout=60)
    task_id = first.metadata["task_id"]
    remote.session.followers.stop_all("kernel restarted")
    second = start_kernel(ip, tmp_path / "state")
    try:
        ip.run_line_magic("flow", f"attach {task_id} --wait")
        assert first.lines + second.last.lines == [f"r {i}" for i in range(30)]
    finally:
        second.session.close()


def test_a_failing_remote_cell_is_one_line(ip, remote):
    with pytest.raises(TaskFailedError) as caught:
        ip.run_cell_magic("flow", "run --gpu a100 --wait", "raise SystemExit('no data here')\n")
    assert "failed (exit 1): no data here; full log" in str(caught.value)
