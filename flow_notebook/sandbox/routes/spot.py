"""Routes of the market: instance types, availability, bids, instances and pricing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from flow_notebook.sandbox import views
from flow_notebook.sandbox.catalog import INSTANCE_TYPES
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, split_list, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import User

router = APIRouter(prefix="/v2")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]


@router.get("/instance-types")
def instance_types() -> list[dict[str, Any]]:
    """Lists the instance types."""
    return [itype.to_api() for itype in INSTANCE_TYPES]


@router.get("/spot/availability")
def availability(sandbox: SandboxDep) -> list[dict[str, Any]]:
    """Lists every auction with its free capacity and price."""
    with sandbox.store.lock:
        return [views.auction_body(sandbox.market, a) for a in sandbox.market.auctions.values()]


@router.get("/spot/bids")
def list_bids(
    sandbox: SandboxDep,
    user: UserDep,
    next_cursor: str | None = None,
    sort_by: str | None = None,
    sort_dir: str | None = None,
    project: str | None = None,
    instance_type: str | None = None,
    region: str | None = None,
    status: str | None = None,
    name: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Lists bids, newest first unless ``sort_dir=asc``, a page at a time."""
    query = dict(locals())
    del query["sandbox"], query["user"]
    bids, cursor = sandbox.bids.list_page(user, query)
    with sandbox.store.lock:
        return {"data": [views.bid_body(b) for b in bids], "next_cursor": cursor}


@router.post("/spot/bids", status_code=201)
def create_bid(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Places a bid."""
    bid = sandbox.bids.create(user, body)
    with sandbox.store.lock:
        return views.bid_body(bid)


@router.get("/spot/bids/{bid_fid}")
def get_bid(sandbox: SandboxDep, user: UserDep, bid_fid: str) -> dict[str, Any]:
    """Returns one bid."""
    with sandbox.store.lock:
        return views.bid_body(sandbox.bids.get(user, bid_fid))


@router.patch("/spot/bids/{bid_fid}")
def update_bid(sandbox: SandboxDep, user: UserDep, bid_fid: str, body: JsonBody) -> dict[str, Any]:
    """Re-prices, pauses or resumes a bid, or changes its volumes."""
    bid = sandbox.bids.update(user, bid_fid, body)
    with sandbox.store.lock:
        return views.bid_body(bid)


@router.delete("/spot/bids/{bid_fid}", status_code=204)
def cancel_bid(sandbox: SandboxDep, user: UserDep, bid_fid: str) -> Response:
    """Cancels a bid and terminates its instances."""
    sandbox.bids.cancel(user, bid_fid)
    return Response(status_code=204)


@router.get("/spot/bids/{bid_fid}/status")
def bid_status(sandbox: SandboxDep, user: UserDep, bid_fid: str) -> dict[str, Any]:
    """Returns a bid's status."""
    bid = sandbox.bids.get(user, bid_fid)
    return {"bid_fid": bid.fid, "status": bid.status}


@router.get("/spot/bids/{bid_fid}/history")
def bid_history(sandbox: SandboxDep, user: UserDep, bid_fid: str) -> dict[str, Any]:
    """Returns a bid's events (placed, allocated, paused, ...), oldest first."""
    with sandbox.store.lock:
        return views.bid_history_body(sandbox.bids.get(user, bid_fid))


@router.get("/instances/{instance_fid}/status")
def instance_status(sandbox: SandboxDep, user: UserDep, instance_fid: str) -> dict[str, Any]:
    """Returns an instance's status, its bid and, once it ended, its end time."""
    with sandbox.store.lock:
        return views.instance_status_body(sandbox.bids.instance(user, instance_fid))


@router.get("/instances")
def list_instances(
    sandbox: SandboxDep,
    user: UserDep,
    project: str,
    next_cursor: str | None = None,
    sort_by: str | None = None,
    sort_dir: str | None = None,
    instance_type: str | None = None,
    region: str | None = None,
    status_in: Annotated[list[str] | None, Query()] = None,
    order_type_in: Annotated[list[str] | None, Query()] = None,
    bid_fid_in: Annotated[list[str] | None, Query()] = None,
    reservation_fid_in: Annotated[list[str] | None, Query()] = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Lists a project's instances, newest first unless ``sort_dir=asc``."""
    query = {
        "project": project,
        "next_cursor": next_cursor,
        "sort_by": sort_by,
        "sort_dir": sort_dir,
        "instance_type": instance_type,
        "region": region,
        "status_in": split_list(status_in, "status_in"),
        "order_type_in": split_list(order_type_in, "order_type_in"),
        "bid_fid_in": split_list(bid_fid_in, "bid_fid_in"),
        "reservation_fid_in": split_list(reservation_fid_in, "reservation_fid_in"),
        "limit": limit,
    }
    instances, cursor = sandbox.bids.instances(user, query)
    with sandbox.store.lock:
        return {"data": [views.instance_body(i) for i in instances], "next_cursor": cursor}
