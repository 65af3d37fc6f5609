"""The cost of a Mithril task is what its instances were charged, price period by period."""

from __future__ import annotations

from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.domain.pricing import parse_price


def test_cost_follows_the_spot_price_paid_not_the_limit_or_todays_price(
    provider, mithril_sandbox, waits
):
    task = provider.submit_task("", TaskConfig(command="sleep 6"))
    running = waits.status(provider, task.task_id, {"running"})
    fid, region = running.metadata["instance_type_fid"], running.region
    auctions = mithril_sandbox.api("GET", "/v2/spot/availability").json()
    [auction] = [a for a in auctions if (a["instance_type"], a["region"]) == (fid, region)]
    before = auction["last_instance_price"]
    high = parse_price(before)
    mithril_sandbox.set_price(fid, region, f"${high / 2:.2f}")
    try:
        ended = waits.ended(provider, task.task_id)
    finally:
        mithril_sandbox.set_price(fid, region, before)
    hours = ended.runtime_seconds() / 3600
    assert ended.cost_paid is not None and ended.cost_so_far() == ended.cost_paid
    # Paid at the old price, then at half of it: between the two flat figures.
    assert high / 2 * hours < ended.cost_paid < high * hours
    # The final figure is kept: a listing shows it without asking the API again.
    [listed] = [t for t in provider.list_tasks() if t.task_id == task.task_id]
    assert listed.cost_so_far() == ended.cost_paid
