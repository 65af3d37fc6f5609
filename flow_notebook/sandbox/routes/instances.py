"""Routes of the instances beyond listing: start/pause, boot-disk refresh, status and price history.

Start, pause and refresh work on reserved instances only, as on Mithril: a spot
instance keeps its status in the answer of ``PATCH /v2/instances`` and is refused
(501) by refresh-boot-disk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from flow_notebook.sandbox import views
from flow_notebook.sandbox.catalog import REGIONS
from flow_notebook.sandbox.errors import InvalidField
from flow_notebook.sandbox.images import IMAGE_VERSIONS
from flow_notebook.sandbox.paging import BadCursor, page
from flow_notebook.sandbox.reservations import parse_time
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import Instance, User

router = APIRouter(prefix="/v2/instances")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]
Limit = Annotated[int | None, Query(ge=1, le=100)]
TARGETS = {"STATUS_RUNNING": True, "STATUS_PAUSED": False}


@router.patch("")
def set_status(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Starts or pauses reserved instances; answers each one's status afterwards."""
    with sandbox.store.lock:
        instances = [sandbox.bids.instance(user, fid) for fid in body["instances"]]
        running = TARGETS[body["status"]]
        return {
            "instances": {
                i.fid: sandbox.reservations.set_instance_running(i, running) for i in instances
            }
        }


@router.post("/{instance_fid}/refresh-boot-disk")
def refresh_boot_disk(
    sandbox: SandboxDep,
    user: UserDep,
    instance_fid: str,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    """Recreates a paused reserved instance's boot disk, from ``image_version`` if named."""
    image = (body or {}).get("image_version")
    instance = sandbox.reservations.refresh_boot_disk(user, instance_fid, image)
    return {"fid": instance.fid, "image_version": instance.image_version, "status": "REFRESHED"}


def history_query(
    project: str,
    instance_fid: str | None = None,
    bid_fid: str | None = None,
    reservation_fid: str | None = None,
    limit: Limit = None,
    start_time: str | None = None,
    end_time: str | None = None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """Returns the query parameters the two history operations share."""
    return dict(locals())


HistoryQuery = Annotated[dict[str, Any], Depends(history_query)]


@router.get("/status/history")
def status_history(sandbox: SandboxDep, user: UserDep, query: HistoryQuery) -> dict[str, Any]:
    """Returns each matching instance's status changes (oldest first) in the time range."""
    start, end = _range(query["start_time"], query["end_time"])
    with sandbox.store.lock:
        instances, cursor = _instances(sandbox, user, query)
        bodies = [views.instance_status_history_body(i, start, end) for i in instances]
    return {"instances": bodies, "next_cursor": cursor}


@router.get("/pricing/history")
def pricing_history(sandbox: SandboxDep, user: UserDep, query: HistoryQuery) -> dict[str, Any]:
    """Returns each matching instance's price periods (cents per hour) in the time range.

    A spot instance pays its auction's price, period by period; a reserved one the
    unit price of each stretch of its reservation.
    """
    start, end = _range(query["start_time"], query["end_time"])
    with sandbox.store.lock:
        instances, cursor = _instances(sandbox, user, query)
        bodies = []
        for instance in instances:
            periods = sandbox.price_periods(instance)
            bodies.append(views.instance_pricing_history_body(instance, periods, start, end))
    return {"instances": bodies, "next_cursor": cursor}


def _range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    return (
        parse_time(start, ("query", "start_time")) if start else None,
        parse_time(end, ("query", "end_time")) if end else None,
    )


def _instances(
    sandbox: Sandbox, user: User, query: dict[str, Any]
) -> tuple[list[Instance], str | None]:
    project = sandbox.bids.project(user, query["project"])
    found = [
        i
        for i in sandbox.store.instances.values()
        if i.project == project.fid
        and query["instance_fid"] in (None, i.fid)
        and query["bid_fid"] in (None, i.bid)
        and query["reservation_fid"] in (None, i.reservation)
    ]
    try:
        return page(
            found,
            seq_of=lambda i: i.seq,
            sort_key=lambda i: i.seq,
            descending=True,
            limit=query["limit"],
            cursor=query["next_cursor"],
        )
    except BadCursor as exc:
        raise InvalidField(("query", "next_cursor"), "Unknown cursor") from exc


image_router = APIRouter(prefix="/v2")


@image_router.get("/image-versions")
def image_versions() -> list[dict[str, Any]]:
    """Lists the boot images instances can be given."""
    return [dict(i) for i in IMAGE_VERSIONS]


@image_router.get("/mcc-image-versions")
def mcc_image_versions(region: str) -> list[dict[str, Any]]:
    """Lists the boot images of managed Kubernetes nodes in ``region``."""
    if region not in REGIONS:
        raise InvalidField(("query", "region"), f"Unknown region {region}")
    return [dict(i) for i in IMAGE_VERSIONS if region in i["supported_regions"]]
