"""Local and Slurm in one notebook session: one listing, one dashboard, ids routed to their own.

The default provider is ``local``; the configuration lists ``slurm`` too, pointing at
the real two-node test cluster over SSH. Nothing in the notebook layer knows either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.utils.capture import capture_output

from flow_notebook.core.provider_interfaces import IActiveTasks
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.session import FlowSession, Timing
from flow_notebook.notebook.widgets.dashboard import HEADERS, DashboardModel
from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard
from flow_notebook.providers.slurm.testing import ClusterHandle

from .conftest import ip_shell, wait_ended

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def session(slurm_cluster: ClusterHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FLOW_PROVIDER", "local")
    monkeypatch.setenv("FLOW_PROVIDERS", "slurm")
    ip = ip_shell()
    magics = FlowMagics(ip, timing=Timing(poll_interval=0.2, settle_timeout=30.0))
    ip.register_magics(magics)
    yield magics.session
    _cancel_leftovers(magics.session)
    magics.session.close()


def _cancel_leftovers(session: FlowSession) -> None:
    for name in ("local", "slurm"):
        provider = session.provider_named(name)
        if isinstance(provider, IActiveTasks):
            for task in provider.list_active_tasks():
                provider.cancel_task(task.task_id)


def _flow(line: str) -> tuple[Any, str]:
    with capture_output() as captured:
        value = ip_shell().run_line_magic("flow", line)
    return value, captured.stdout


def test_local_and_slurm_tasks_side_by_side_and_routed_by_id(session):
    job, _ = _flow('run --provider slurm --wait --name on-slurm -- "echo from-slurm"')
    here, _ = _flow("run --name on-local -- sleep 60")

    header, *rows = _flow("list")[1].splitlines()
    assert header.split()[:4] == ["ID", "PROVIDER", "NAME", "STATUS"]
    seen = {row.split()[0]: row.split()[1:4] for row in rows}
    assert seen[job.task_id] == ["slurm", "on-slurm", "completed"]
    assert seen[here.task_id] == ["local", "on-local", "running"]

    # No --provider: each id reaches the provider it was submitted to.
    assert _flow(f"logs {job.task_id}")[1] == "from-slurm\n"
    assert _flow(f"cancel {here.task_id}")[1] == f"task {here.task_id} cancelled\n"
    assert session.provider_named("slurm").get_task(job.task_id).exit_code == 0

    text = _flow("dashboard --text")[1].splitlines()
    shown = {line.split()[0]: line.split()[1] for line in text[1:]}
    assert (shown[job.task_id], shown[here.task_id]) == ("slurm", "local")


def test_the_dashboard_widget_shows_both_providers_and_cancels_through_the_rows_own(session):
    job, _ = _flow("run --provider slurm --name slurm-long -- sleep 60")
    here, _ = _flow("run --name local-long -- sleep 60")
    dashboard = WidgetDashboard(
        DashboardModel(session.each_provider, on_listed=session.claim), interval=3600
    )
    try:
        dashboard.refresh()
        column = HEADERS.index("PROVIDER")
        providers = {view.task_id: view.cells[column].value for view in dashboard.row_views}
        assert (providers[job.task_id], providers[here.task_id]) == ("slurm", "local")
        assert dashboard.problems.value == ""
        dashboard.confirm_cancel(job.task_id)
        ended = wait_ended(session.provider_named("slurm"), job.task_id)
        assert ended.status.value == "cancelled"
        assert not session.provider_named("local").get_task(here.task_id).is_terminal
    finally:
        dashboard.close()
