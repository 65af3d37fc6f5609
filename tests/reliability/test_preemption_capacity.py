"""Preemption by a price rise, as the magics and the dashboard show it; no capacity anywhere.

The sandbox keeps a preempted bid ``Preempting`` for 3 s (``--preempt-delay``), long
enough to see the state through ``%flow status`` and the dashboard model.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.errors import InsufficientCapacityError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.notebook.listing import single
from flow_notebook.notebook.widgets.dashboard import DashboardModel
from flow_notebook.sandbox.catalog import OFFERS
from flow_notebook.sandbox.testing import A100, wait_for

pytestmark = pytest.mark.sandbox

A100_REGIONS = tuple(OFFERS[A100])  # where the sandbox sells a100-80gb.sxm.1x


def status_line(shell, task_id: str) -> str:
    with capture_output() as captured:
        shell.run_line_magic("flow", f"status {task_id}")
    return captured.stdout


def test_a_task_preempted_by_a_price_rise_shows_preempting_then_its_end_in_status_and_dashboard(
    sandbox_with, providers, shell_magics, waits
):
    sandbox = sandbox_with("--no-instances", "--preempt-delay", "3")
    provider = providers.provider(sandbox)
    shell = shell_magics(provider)
    dashboard = DashboardModel(single(provider, "mithril"))
    task = provider.submit_task("a100", TaskConfig(name="spot", command="sleep 600"))
    waits(provider, task.task_id, {"running"})
    assert "running" in status_line(shell, task.task_id)

    sandbox.set_price(A100, task.region, "$900.00")  # far above the bid's limit price

    seen_in_status = wait_for(
        lambda: "preempting" in (out := status_line(shell, task.task_id)) and out, timeout=3
    )
    row = dashboard.refresh() and dashboard.row(task.task_id)
    assert row is not None and row.status is TaskStatus.PREEMPTING
    assert "preempting" in dashboard.text()
    final = wait_for(
        lambda: "preempting" not in (out := status_line(shell, task.task_id)) and out, timeout=10
    )
    dashboard.refresh()
    assert "cancelled" in final and "preempting" in seen_in_status
    assert dashboard.row(task.task_id).status is TaskStatus.CANCELLED
    assert not dashboard.row(task.task_id).cancellable


def test_a100_sold_out_everywhere_gives_one_line_listing_other_types_regions_and_prices(
    sandbox_with, providers, shell_magics
):
    sandbox = sandbox_with("--no-instances")
    for region in A100_REGIONS:
        sandbox.set_capacity(A100, region, 0)
    before = sandbox.stats()["total"]
    provider = providers.provider(sandbox)
    shell = shell_magics(provider)

    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("flow", "run --gpu a100 -- echo hi")

    message = str(caught.value)
    assert "\n" not in message
    assert "capacity exists for:" in message
    assert "2xa100" in message  # other counts of the same GPU first ...
    assert all(region in message for region in A100_REGIONS)  # ... in every region ...
    assert "/h" in message and "$" in message  # ... with their prices
    assert isinstance(caught.value.__cause__, InsufficientCapacityError)
    assert _bid_posts(sandbox) == 0 and sandbox.stats()["total"] > before


def test_no_capacity_of_any_type_anywhere_says_so_in_one_line(
    sandbox_with, providers, shell_magics
):
    sandbox = sandbox_with("--no-instances")
    for instance_type, regions in OFFERS.items():
        for region in regions:
            sandbox.set_capacity(instance_type, region, 0)
    shell = shell_magics(providers.provider(sandbox))

    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("flow", "run --gpu h100 -- echo hi")

    assert "no spot capacity is available anywhere right now" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert _bid_posts(sandbox) == 0


def _bid_posts(sandbox) -> int:
    rows = sandbox.stats()["requests"]
    return sum(r["count"] for r in rows if (r["method"], r["route"]) == ("POST", "/v2/spot/bids"))
