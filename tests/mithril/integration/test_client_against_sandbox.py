"""ApiClient over real HTTP against the sandbox: account, catalogue, prices, bids, instances.

Every answer is checked against the sandbox's own state (its raw JSON, or what the
test just set through ``/_sandbox/``), not against the client's models alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.core.errors import NotFoundError
from flow_notebook.providers.mithril.api import dto
from flow_notebook.sandbox.testing import A100, REGION, wait_for

pytestmark = pytest.mark.sandbox

SETTLED = ("STATUS_RUNNING", "STATUS_ERROR")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def raw(handle, path, **params):
    response = handle.api("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def bid_request(project: str, name: str, *, price: str = "$10.00", quantity: int = 1):
    return dto.CreateBidRequest(
        project=project,
        region=REGION,
        instance_type=A100,
        limit_price=price,
        instance_quantity=quantity,
        name=name,
        launch_specification=dto.LaunchSpecificationModel(volumes=[], ssh_keys=[]),
    )


@pytest.fixture
def bids(client):
    """Cancels every bid fid appended to the list at teardown."""
    placed: list[str] = []
    yield placed
    for fid in placed:
        client.cancel_bid(fid)


def wait_bid_status(client, fid, *wanted):
    return wait_for(lambda: client.get_bid(fid).status in wanted, timeout=15)


def settled_instances(client, project, bid_fids):
    def check():
        found = list(client.iter_instances(project, bid_fid_in=bid_fids))
        return found if found and all(i.status in SETTLED for i in found) else []

    return wait_for(check, timeout=20)


# --- account -----------------------------------------------------------------------


def test_me_is_the_sandbox_user(client, mithril_sandbox):
    me = client.get_me()

    info = mithril_sandbox.control("GET", "/info")
    assert me.fid == info["user"]
    assert me == dto.MeResponse.model_validate(raw(mithril_sandbox, "/v2/me"))


def test_projects_are_the_default_and_the_small_one(client, mithril_sandbox):
    projects = {p.name: p for p in client.list_projects()}

    assert set(projects) == {"sandbox", "sandbox-small"}
    assert projects["sandbox"].fid == mithril_sandbox.project
    assert projects["sandbox-small"].fid != mithril_sandbox.project


def test_quotas_count_instances_per_type_and_storage_gb(client, mithril_sandbox):
    quotas = client.get_quotas(mithril_sandbox.project)

    spot = [q for q in quotas if q.product_type == "Spot"]
    storage = [q for q in quotas if q.product_type == "Storage"]
    types = {t["fid"] for t in raw(mithril_sandbox, "/v2/instance-types")}
    assert {q.instance_type for q in spot} == types
    assert all(q.total_quantity == 16 and q.units == "instances" for q in spot)
    assert [(q.total_quantity, q.units) for q in storage] == [(10_000, "GB")]
    assert {q.project for q in quotas} == {mithril_sandbox.project}


# --- catalogue and prices -----------------------------------------------------------


def test_instance_types_are_mithrils_real_ids_and_names(client):
    types = {t.fid: t for t in client.list_instance_types()}

    assert len(types) == 15
    assert {t.name for t in types.values()} >= {
        "a100-80gb.sxm.1x",
        "a100-80gb.sxm.8x",
        "h100-80gb.sxm.8x",
        "h200.8x",
        "b200-192gb.8x",
        "v6e-8",
    }
    assert types[A100].name == "a100-80gb.sxm.1x"
    assert types[A100].num_gpus == 1
    twins = [fid for fid, t in types.items() if t.name == "h100-80gb.sxm.8x"]
    assert sorted(twins) == ["it_5ECSoHQjLBzrp5YM", "it_XqgKWbhZ5gznAYsG"]


def test_availability_has_one_auction_per_type_and_region_as_the_sandbox_reports(
    client, mithril_sandbox
):
    auctions = client.list_spot_availability()

    expected = raw(mithril_sandbox, "/v2/spot/availability")
    assert len(auctions) == len(expected) >= 30
    assert {(a.instance_type, a.region) for a in auctions} == {
        (a["instance_type"], a["region"]) for a in expected
    }
    by_fid = {a["fid"]: a for a in expected}
    for auction in auctions:
        assert auction.last_instance_price == by_fid[auction.fid]["last_instance_price"]
        assert auction.last_instance_price.startswith("$")


def test_current_prices_follow_a_price_the_market_was_set_to_in_cents(fresh_client, fresh_sandbox):
    fresh_sandbox.set_price(A100, REGION, "$2.50")

    prices = fresh_client.get_current_prices(A100, region=REGION)

    assert prices.spot_price_cents == 250
    assert prices.reserved_price_cents == 375
    assert prices.minimum_price_cents == 62
    assert prices.dynamic_win_price_cents == 250
    cheapest = fresh_client.get_current_prices(A100, instance_quantity=1)
    assert cheapest.spot_price_cents == 115  # us-central1-b ($1.15) is now the cheapest region


def test_price_history_records_each_change_and_filters_by_time(fresh_client, fresh_sandbox):
    before = datetime.now(timezone.utc)
    fresh_sandbox.set_price(A100, REGION, "$2.20")
    fresh_sandbox.set_price(A100, REGION, "$2.40")

    history = fresh_client.get_price_history(instance_types=[A100], region=REGION)
    recent = fresh_client.get_price_history(
        instance_types=A100, region=REGION, start_time=before - timedelta(milliseconds=1)
    )

    [series] = history.series
    assert (series.instance_type, series.region) == (A100, REGION)
    assert series.spot_prices == ["$1.20", "$2.20", "$2.40"]
    assert series.reserved_prices[-1] == "$3.60"
    assert len(series.timestamps) == 3
    assert recent.series[0].spot_prices == ["$2.20", "$2.40"]
    one = fresh_client.get_price_history(instance_types=A100, region=REGION, num_samples=1)
    assert one.series[0].spot_prices == ["$2.40"]


# --- bids ----------------------------------------------------------------------------


def test_created_bid_is_the_one_get_list_and_status_return(client, mithril_sandbox, bids):
    name = unique("conf-bid")

    created = client.create_bid(bid_request(mithril_sandbox.project, name))
    bids.append(created.fid)

    assert (created.name, created.project, created.limit_price) == (
        name,
        mithril_sandbox.project,
        "$10.00",
    )
    assert created.instance_type == A100 and created.region == REGION
    assert len(created.instances) == 1
    assert client.get_bid(created.fid).fid == created.fid
    assert [b.fid for b in client.list_bids(mithril_sandbox.project, name=name).data] == [
        created.fid
    ]
    assert [b.fid for b in client.iter_bids(mithril_sandbox.project, name=name)] == [created.fid]
    wait_bid_status(client, created.fid, "Allocated")
    status = client.get_bid_status(created.fid)
    assert (status.bid_fid, status.status) == (created.fid, "Allocated")
    assert raw(mithril_sandbox, f"/v2/spot/bids/{created.fid}")["status"] == "Allocated"


def test_bid_pauses_resumes_with_the_same_instances_and_takes_a_new_price(
    client, mithril_sandbox, bids
):
    bid = client.create_bid(bid_request(mithril_sandbox.project, unique("conf-pause")))
    bids.append(bid.fid)
    wait_bid_status(client, bid.fid, "Allocated")

    paused = client.update_bid(bid.fid, dto.UpdateBidRequest(paused=True))
    assert paused.status == "Paused"
    [instance] = client.list_instances(mithril_sandbox.project, bid_fid_in=[bid.fid]).data
    assert instance.status == "STATUS_PAUSED"

    resumed = client.update_bid(bid.fid, dto.UpdateBidRequest(paused=False))
    assert resumed.status in ("Open", "Allocated")
    assert resumed.instances == bid.instances
    wait_bid_status(client, bid.fid, "Allocated")

    repriced = client.update_bid(bid.fid, dto.UpdateBidRequest(limit_price="$11.50"))
    assert repriced.limit_price == "$11.50"
    assert raw(mithril_sandbox, f"/v2/spot/bids/{bid.fid}")["limit_price"] == "$11.50"


def test_cancelled_bid_is_terminated_with_its_instances(client, mithril_sandbox):
    bid = client.create_bid(bid_request(mithril_sandbox.project, unique("conf-cancel")))

    client.cancel_bid(bid.fid)

    done = client.get_bid(bid.fid)
    assert done.status == "Terminated"
    assert done.deactivated_at is not None
    terminated = client.list_instances(
        mithril_sandbox.project, bid_fid_in=[bid.fid], status_in=["STATUS_TERMINATED"]
    )
    assert [i.fid for i in terminated.data] == bid.instances


def test_unknown_bid_is_not_found(client):
    with pytest.raises(NotFoundError, match="not found"):
        client.get_bid("bid_doesnotexist")


# --- instances -------------------------------------------------------------------


def test_instances_filter_by_bid_and_status(client, mithril_sandbox, bids):
    project = mithril_sandbox.project
    two = client.create_bid(bid_request(project, unique("conf-two"), quantity=2))
    one = client.create_bid(bid_request(project, unique("conf-one")))
    bids.extend([two.fid, one.fid])

    both = settled_instances(client, project, [two.fid, one.fid])
    status = both[0].status

    assert {i.fid for i in both} == set(two.instances + one.instances)
    only_two = client.list_instances(project, bid_fid_in=[two.fid]).data
    assert {i.fid for i in only_two} == set(two.instances)
    assert {i.bid for i in only_two} == {two.fid}
    same_status = client.list_instances(project, bid_fid_in=[two.fid, one.fid], status_in=[status])
    assert len(same_status.data) == 3
    none_yet = client.list_instances(
        project, bid_fid_in=[two.fid, one.fid], status_in=["STATUS_TERMINATED", "STATUS_PAUSED"]
    )
    assert none_yet.data == []
    paged = list(client.iter_instances(project, bid_fid_in=[two.fid, one.fid], page_size=1))
    assert sorted(i.fid for i in paged) == sorted(i.fid for i in both)
    assert all(i.project == project and i.instance_type == A100 for i in paged)
