"""Without --region the bid goes to the cheapest region with room (capacity still decides)."""

from __future__ import annotations

import pytest

from flow_notebook.core.models import TaskConfig
from flow_notebook.sandbox.testing import A100

pytestmark = pytest.mark.sandbox

PRICES = {"us-central1-a": "$2.68", "us-central1-b": "$2.00", "eu-central1-a": "$3.10"}


def test_default_region_is_the_cheapest_with_capacity_then_the_next_when_full(
    sandbox_with, providers
):
    sandbox = sandbox_with("--no-instances")
    for region, price in PRICES.items():
        sandbox.set_price(A100, region, price)
        sandbox.set_capacity(A100, region, 8)
    sandbox.set_capacity(A100, "us-central1-b", 3)  # fewer free, still the cheapest
    provider = providers.provider(sandbox)
    first = provider.submit_task("a100", TaskConfig(name="cheap", command="sleep 60"))
    assert first.region == "us-central1-b"

    four = TaskConfig(name="four", command="sleep 60", num_instances=4)
    second = provider.submit_task("a100", four)
    assert second.region == "us-central1-a"  # no room for 4 in the cheapest
    for task in (first, second):
        provider.cancel_task(task.task_id)


def test_an_allocated_task_shows_the_spot_price_paid_and_its_limit_apart(sandbox_with, providers):
    from flow_notebook.notebook.listing import single
    from flow_notebook.notebook.widgets.dashboard import DashboardModel
    from flow_notebook.sandbox.testing import wait_for

    sandbox = sandbox_with("--no-instances")
    for region in PRICES:
        sandbox.set_price(A100, region, "$2.00")
    provider = providers.provider(sandbox)
    task = provider.submit_task("a100", TaskConfig(name="paid", command="sleep 60"))
    limit = task.metadata["limit_per_hour"]
    assert limit > 2.0  # the bid's limit sits above the spot price

    def allocated():
        seen = provider.get_task(task.task_id)
        return seen if seen.metadata["price_basis"] == "spot" else None

    seen = wait_for(allocated, timeout=20, interval=0.2)
    assert seen.cost_per_hour == 2.0
    row = DashboardModel(single(provider, "mithril")).refresh()[0]
    assert (row.cost_per_hour, row.limit) == ("$2.00/h", f"${limit:,.2f}/h")
    provider.cancel_task(task.task_id)
