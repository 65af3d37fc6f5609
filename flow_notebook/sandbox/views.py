"""Records rendered as the spec's response bodies (plain dicts, validated by FastAPI)."""

from __future__ import annotations

import uuid
from datetime import datetime
from itertools import pairwise
from typing import Any

from flow_notebook.sandbox.catalog import format_price
from flow_notebook.sandbox.market import Auction, Market
from flow_notebook.sandbox.reservations import cost_cents
from flow_notebook.sandbox.state import (
    Bid,
    Instance,
    Project,
    Reservation,
    SshKey,
    User,
    Volume,
)


def fields(record: object, names: str) -> dict[str, Any]:
    """Returns the named attributes of ``record``, lists and dicts copied (none shared)."""
    return {name: _copied(getattr(record, name)) for name in names.split()}


def _copied(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


_ORDER_FIELDS = (
    "fid name project created_by created_at deactivated_at instance_quantity instance_type"
    " region instances launch_specification status"
)


def bid_body(bid: Bid) -> dict[str, Any]:
    """Returns the ``BidModel`` body of ``bid``."""
    return fields(bid, _ORDER_FIELDS) | {"limit_price": format_price(bid.limit_cents)}


def instance_body(instance: Instance) -> dict[str, Any]:
    """Returns the ``InstanceModel`` body of ``instance``."""
    return fields(
        instance,
        "fid name project created_at created_by instance_type region bid reservation"
        " ssh_destination private_ip status",
    )


def volume_body(volume: Volume) -> dict[str, Any]:
    """Returns the ``VolumeModel`` body of ``volume``."""
    return fields(
        volume,
        "fid name region created_at deleted_at capacity_gb project interface bids reservations"
        " attachments",
    )


def ssh_key_body(key: SshKey) -> dict[str, Any]:
    """Returns the ``NewSshKeyModel`` body of ``key``."""
    return fields(key, "fid name project public_key created_at required")


def project_body(project: Project) -> dict[str, Any]:
    """Returns the ``ProjectModel`` body of ``project``."""
    return fields(project, "fid name created_at")


def _user_fields(user: User) -> dict[str, Any]:
    return {
        "id": user.fid.removeprefix("user_"),
        "fid": user.fid,
        "email": user.email,
        "user_name": user.email.split("@", 1)[0],
        "organization_role": user.role,
    }


def me_body(user: User) -> dict[str, Any]:
    """Returns the ``MeResponse`` body of ``user``."""
    return _user_fields(user) | {"organization_id": "org_sandbox"}


def teammate_body(user: User, project_ids: list[str]) -> dict[str, Any]:
    """Returns the ``TeammateResponse`` body of ``user`` with the projects the caller may see."""
    return _user_fields(user) | {"project_ids": project_ids, "deactivated_at": None}


def bid_history_body(bid: Bid) -> dict[str, Any]:
    """Returns the ``BidHistoryResponse`` body of ``bid`` (events oldest first)."""
    events = []
    for event in sorted(bid.history, key=lambda e: e.timestamp):
        disk = None
        if event.attached or event.removed:
            disk = {"attached": event.attached, "removed": event.removed}
        events.append(
            {
                "timestamp": event.timestamp,
                "event_type": event.event_type,
                "limit_price": event.limit_price,
                "user_id": event.user_id,
                "memory_gb": event.memory_gb,
                "persistent_disk_change": disk,
            }
        )
    return {"bid_fid": bid.fid, "events": events}


def instance_status_body(instance: Instance) -> dict[str, Any]:
    """Returns the ``InstanceStatusResponse`` body of ``instance``."""
    return fields(instance, "fid name status bid reservation end_time")


def auction_body(market: Market, auction: Auction) -> dict[str, Any]:
    """Returns the ``AuctionModel`` body of ``auction`` (capacity = what is still free)."""
    lowest = market.lowest_allocated(auction)
    return {
        "fid": auction.fid,
        "instance_type": auction.instance_type,
        "region": auction.region,
        "capacity": max(market.spot_capacity(auction, None) - market.used(auction), 0),
        "last_instance_price": format_price(auction.price_cents),
        "lowest_allocated_price": format_price(lowest) if lowest is not None else None,
        "adjustable_memory": False,
        "default_image_version": None,
    }


def reservation_body(reservation: Reservation) -> dict[str, Any]:
    """Returns the ``ReservationModel`` body of ``reservation``."""
    return fields(reservation, f"{_ORDER_FIELDS} start_time end_time") | {
        "total_price": format_price(committed_cents(reservation)),
        "unit_price": format_price(reservation.unit_cents),
    }


def committed_cents(reservation: Reservation) -> int:
    """Returns what the reservation's windows cost: price x instances x hours, per grant."""
    return sum(
        cost_cents(g.unit_cents, g.quantity, g.starts_at, g.ends_at) for g in reservation.grants
    )


def reservation_history_body(reservation: Reservation) -> dict[str, Any]:
    """Returns the ``ReservationHistoryResponse`` body of ``reservation``, oldest first."""
    events = [
        {
            "timestamp": e.timestamp,
            "event_type": e.event_type,
            "user_id": e.user_id,
            "unit_price_cents": e.unit_price_cents,
            "pause_credit_cents": None,
            "return_credit_cents": None,
        }
        for e in sorted(reservation.history, key=lambda e: e.timestamp)
    ]
    return {"reservation_fid": reservation.fid, "events": events}


USAGE_STATUS = {
    "Pending": "Open",
    "Active": "Allocated",
    "Paused": "Paused",
    "Canceled": "Terminated",
    "Ended": "Terminated",
}
"""``ReservationInfoModel`` speaks of a reservation in bid statuses."""
USAGE_EVENTS = {"Active": "Started", "Paused": "Paused", "Terms Changed": "Extended"}


def reservation_usage_body(
    reservation: Reservation, instances: list[Instance], now: datetime
) -> dict[str, Any]:
    """Returns the ``ReservationUsageResponse`` body of ``reservation`` as of ``now``.

    Reserved hours are the instances held times the part of the window that has
    passed; active hours are the hours its instances were ``STATUS_RUNNING``.
    """
    committed = committed_cents(reservation)
    until = min(now, reservation.deactivated_at or now, reservation.end_time)
    reserved = reservation.instance_quantity * _seconds(reservation.start_time, until)
    active = sum(_running_seconds(i, reservation.start_time, until) for i in instances)
    return {
        "reservation": {
            "fid": reservation.fid,
            "order_name": reservation.name,
            "start_date": reservation.start_time,
            "end_date": reservation.end_time,
            "status": USAGE_STATUS[reservation.status],
            "committed_cost_cents": committed,
        },
        "summary": {
            "committed_cost_cents": committed,
            "flex_use_credits_cents": 0,
            "early_termination_credits_cents": 0,
            "net_cost_cents": committed,
            "reserved_instance_hours": iso_duration(reserved),
            "active_instance_hours": iso_duration(active),
            "idle_instance_hours": iso_duration(max(reserved - active, 0.0)),
            "as_of": now,
        },
        "grants": [
            {
                "fid": g.fid,
                "starts_at": g.starts_at,
                "ends_at": g.ends_at,
                "quantity": g.quantity,
                "unit_price": g.unit_cents,
                "price_credit": 0,
                "return_credit": 0,
            }
            for g in reservation.grants
        ],
        "pricing_events": [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i.fid}/{n}")),
                "occurred_at": at,
                "instance_fid": i.fid,
                "instance_name": i.name,
                "instance_status": status,
            }
            for i in instances
            for n, (at, status) in enumerate(i.status_history)
        ],
        "reservation_events": [
            {
                "occurred_at": e.timestamp,
                "event_type": USAGE_EVENTS[e.event_type],
                "reservation_name": reservation.name,
            }
            for e in reservation.history
            if e.event_type in USAGE_EVENTS
        ],
    }


def iso_duration(seconds: float) -> str:
    """Returns ``seconds`` as an ISO 8601 duration (``PT2H0M30S``)."""
    whole = round(seconds)
    return f"PT{whole // 3600}H{whole % 3600 // 60}M{whole % 60}S"


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


def _running_seconds(instance: Instance, start: datetime, end: datetime) -> float:
    """Returns how long ``instance`` was ``STATUS_RUNNING`` between ``start`` and ``end``."""
    total = 0.0
    changes = [*instance.status_history, (end, "")]
    for (at, status), (next_at, _) in pairwise(changes):
        if status == "STATUS_RUNNING":
            total += _seconds(max(at, start), min(next_at, end))
    return total


def instance_status_history_body(
    instance: Instance, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Returns the ``InstanceStatusHistory`` body: status changes between start and end."""
    events = [
        {"timestamp": at, "status": status}
        for at, status in instance.status_history
        if (start is None or at >= start) and (end is None or at <= end)
    ]
    return {
        "instance_fid": instance.fid,
        "events": events,
        "bid_fid": instance.bid,
        "reservation_fid": instance.reservation,
    }


def instance_pricing_history_body(
    instance: Instance,
    periods: list[tuple[datetime, datetime | None, int]],
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """Returns the ``InstancePricingHistory`` body: price periods overlapping start..end."""
    events = [
        {"price_cents": cents, "start_time": begin, "end_time": finish}
        for begin, finish, cents in periods
        if (end is None or begin <= end) and (start is None or finish is None or finish >= start)
    ]
    return {
        "instance_fid": instance.fid,
        "events": events,
        "bid_fid": instance.bid,
        "reservation_fid": instance.reservation,
    }
