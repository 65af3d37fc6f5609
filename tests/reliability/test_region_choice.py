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
