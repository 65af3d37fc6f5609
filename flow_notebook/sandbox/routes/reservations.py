"""Routes of ``/v2/reservation``: quotes, capacity, reservations, their usage and history."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from flow_notebook.sandbox import views
from flow_notebook.sandbox.catalog import INSTANCE_TYPES, format_price
from flow_notebook.sandbox.errors import InvalidField
from flow_notebook.sandbox.reservations import HORIZON, cost_cents, parse_time
from flow_notebook.sandbox.routes.deps import JsonBody, sandbox_of, user_of
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.state import Reservation, User, utcnow

router = APIRouter(prefix="/v2/reservation")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]
UserDep = Annotated[User, Depends(user_of)]
Limit = Annotated[int | None, Query(ge=1, le=100)]
Status = Literal["Pending", "Active", "Paused", "Canceled", "Ended"]


@router.get("/instance-types")
def instance_types() -> list[dict[str, Any]]:
    """Lists the instance types that can be reserved (all of them)."""
    return [itype.to_api() for itype in INSTANCE_TYPES]


@router.get("/quote")
def quote(
    sandbox: SandboxDep,
    user: UserDep,
    project: str,
    instance_type: str,
    region: str,
    start_time: str,
    end_time: str,
    quantity: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """Quotes a reservation: one ``standard`` offer at today's reserved price."""
    sandbox.bids.project(user, project)
    start = parse_time(start_time, ("query", "start_time"))
    end = parse_time(end_time, ("query", "end_time"))
    if end <= start:
        raise InvalidField(("query", "end_time"), "End time must be after the start time")
    unit = sandbox.reservations.unit_cents(instance_type, region)
    zero = format_price(0)
    offer = {
        "key": "standard",
        "display_name": "Standard",
        "unit_price": format_price(unit),
        "return_buyback_price": zero,
        "pause_buyback_price": zero,
        "total_price": format_price(cost_cents(unit, quantity, start, end)),
        "total_etbp_value": zero,
        "total_fubp_value": zero,
        "option_premium": zero,
    }
    return {"offers": [offer]}


@router.get("/availability")
def availability(
    sandbox: SandboxDep,
    user: UserDep,
    project: str,
    instance_type: str,
    region: str,
    mode: Literal["slots", "latest_end_time", "check"] = "latest_end_time",
    earliest_start_time: str | None = None,
    latest_end_time: str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    quantity: Annotated[int | None, Query(gt=0)] = None,
) -> list[dict[str, Any]]:
    """Answers when capacity is free.

    ``slots``: the pieces of [earliest_start_time, latest_end_time) with their free
    count. ``latest_end_time``: from the start, how long ``quantity`` instances stay
    free (one slot, or none). ``check``: the asked window if it has the capacity, else
    nothing.
    """
    sandbox.bids.project(user, project)
    now = utcnow()
    if mode == "check":
        if start_time is None or end_time is None or quantity is None:
            raise InvalidField(
                ("query", "start_time"), "check needs start_time, end_time, quantity"
            )
        start = parse_time(start_time, ("query", "start_time"))
        end = parse_time(end_time, ("query", "end_time"))
        slots = sandbox.reservations.slots(instance_type, region, start, end)
        free = min((n for _, _, n in slots), default=0)
        return [_slot(start, end, quantity)] if free >= quantity else []
    first = earliest_start_time or start_time
    last = latest_end_time or end_time
    start = parse_time(first, ("query", "earliest_start_time")) if first else now
    end = parse_time(last, ("query", "latest_end_time")) if last else now + HORIZON
    if end <= start:
        raise InvalidField(("query", "latest_end_time"), "End time must be after the start time")
    slots = sandbox.reservations.slots(instance_type, region, start, end)
    if mode == "slots":
        return [_slot(a, b, n) for a, b, n in slots]
    wanted = quantity or 1
    reach = start
    for _, b, n in slots:
        if n < wanted:
            break
        reach = b
    return [_slot(start, reach, wanted)] if reach > start else []


def _slot(start: datetime, end: datetime, quantity: int) -> dict[str, Any]:
    return {"start_time": start, "end_time": end, "quantity": quantity}


@router.post("", status_code=201)
def create(sandbox: SandboxDep, user: UserDep, body: JsonBody) -> dict[str, Any]:
    """Places a reservation."""
    return _body(sandbox, sandbox.reservations.create(user, body))


@router.get("")
def list_reservations(
    sandbox: SandboxDep,
    user: UserDep,
    project: str,
    next_cursor: str | None = None,
    sort_by: Literal["created_at", "status"] | None = None,
    sort_dir: Literal["asc", "desc"] | None = None,
    instance_type: str | None = None,
    region: str | None = None,
    status: Status | None = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """Lists a project's reservations, newest first unless ``sort_dir=asc``."""
    query = dict(locals())
    del query["sandbox"], query["user"]
    found, cursor = sandbox.reservations.list_page(user, query)
    with sandbox.store.lock:
        return {"data": [views.reservation_body(r) for r in found], "next_cursor": cursor}


@router.get("/{reservation_fid}/extension-availability")
def extension_availability(
    sandbox: SandboxDep, user: UserDep, reservation_fid: str
) -> dict[str, Any]:
    """Says how far the reservation's window can be extended."""
    latest, available = sandbox.reservations.extension_end(user, reservation_fid)
    return {"latest_extension_time": latest, "available": available}


@router.post("/{reservation_fid}/extend")
def extend(
    sandbox: SandboxDep, user: UserDep, reservation_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Moves the end of the window later."""
    return _body(sandbox, sandbox.reservations.extend(user, reservation_fid, body))


@router.patch("/{reservation_fid}")
def update(
    sandbox: SandboxDep, user: UserDep, reservation_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Pauses or resumes a reservation, or changes its volumes."""
    return _body(sandbox, sandbox.reservations.update(user, reservation_fid, body))


@router.post("/{reservation_fid}/terminate-instances")
def terminate_instances(
    sandbox: SandboxDep, user: UserDep, reservation_fid: str, body: JsonBody
) -> dict[str, Any]:
    """Ends the named instances of the reservation and gives their capacity back."""
    ended = sandbox.reservations.terminate_instances(user, reservation_fid, body["instances"])
    return {"terminated_instances": ended}


@router.get("/{reservation_fid}/history")
def history(sandbox: SandboxDep, user: UserDep, reservation_fid: str) -> dict[str, Any]:
    """Returns the reservation's events, oldest first."""
    with sandbox.store.lock:
        return views.reservation_history_body(sandbox.reservations.get(user, reservation_fid))


@router.get("/{reservation_fid}/usage")
def usage(sandbox: SandboxDep, user: UserDep, reservation_fid: str) -> dict[str, Any]:
    """Returns what the reservation cost, and how much of it its instances used."""
    with sandbox.store.lock:
        reservation = sandbox.reservations.get(user, reservation_fid)
        instances = [sandbox.store.instances[f] for f in reservation.instances]
        return views.reservation_usage_body(reservation, instances, utcnow())


def _body(sandbox: Sandbox, reservation: Reservation) -> dict[str, Any]:
    with sandbox.store.lock:
        return views.reservation_body(reservation)
