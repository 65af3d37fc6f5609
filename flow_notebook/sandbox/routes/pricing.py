"""Routes of ``/v2/pricing``: current prices in cents and price history as dollar strings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from flow_notebook.sandbox.catalog import find_instance_type, format_price, reserved_price_cents
from flow_notebook.sandbox.errors import InvalidField, NotFound
from flow_notebook.sandbox.market import Auction
from flow_notebook.sandbox.routes.deps import sandbox_of
from flow_notebook.sandbox.sandbox import Sandbox

router = APIRouter(prefix="/v2/pricing")
SandboxDep = Annotated[Sandbox, Depends(sandbox_of)]


@router.get("/current")
def current_prices(
    sandbox: SandboxDep,
    instance_type: str,
    region: str | None = None,
    instance_quantity: int = 1,
) -> dict[str, Any]:
    """Returns the prices of an instance type: in one region, or the cheapest region."""
    auctions = _auctions(sandbox, instance_type, region)
    with sandbox.store.lock:
        cheapest = min(auctions, key=lambda a: a.price_cents)
        lowest = [x for x in (sandbox.market.lowest_allocated(a) for a in auctions) if x]
        reserved = sandbox.market.reserved()
        free = sum(
            max(sandbox.market.spot_capacity(a, reserved) - sandbox.market.used(a), 0)
            for a in auctions
        )
        return {
            "spot_price_cents": cheapest.price_cents,
            "reserved_price_cents": reserved_price_cents(cheapest.price_cents),
            "minimum_price_cents": max(cheapest.price_cents // 4, 1),
            "lowest_allocated_bid_cents": min(lowest) if lowest else None,
            "dynamic_win_price_cents": cheapest.price_cents,
            "available_capacity": free,
            "total_capacity": sum(a.capacity for a in auctions),
        }


@router.get("/history")
def price_history(
    sandbox: SandboxDep,
    instance_types: str | None = None,
    region: str | None = None,
    num_samples: int = 100,
    start_time: str | None = None,
    end_time: str | None = None,
) -> dict[str, Any]:
    """Returns each matching auction's price changes between the given times."""
    start = _time(start_time, "start_time")
    end = _time(end_time, "end_time")
    wanted = [t.strip() for t in (instance_types or "").split(",") if t.strip()]
    series = []
    with sandbox.store.lock:
        for auction in sandbox.market.auctions.values():
            itype = find_instance_type(auction.instance_type)
            if wanted and (itype is None or not {itype.fid, itype.name} & set(wanted)):
                continue
            if region not in (None, auction.region):
                continue
            points = [
                (t, c)
                for t, c in auction.history
                if (start is None or t >= start) and (end is None or t <= end)
            ]
            if num_samples >= 0:
                points = points[-num_samples:] if num_samples else []
            series.append(
                {
                    "instance_type": auction.instance_type,
                    "region": auction.region,
                    "timestamps": [t for t, _ in points],
                    "spot_prices": [format_price(c) for _, c in points],
                    "reserved_prices": [format_price(reserved_price_cents(c)) for _, c in points],
                    "region_disabled": False,
                }
            )
    return {"series": series, "complete": True}


def _auctions(sandbox: Sandbox, instance_type: str, region: str | None) -> list[Auction]:
    itype = find_instance_type(instance_type)
    if itype is None:
        raise NotFound(f"Instance type {instance_type} not found")
    found = [
        a
        for a in sandbox.market.auctions.values()
        if a.instance_type == itype.fid and region in (None, a.region)
    ]
    if not found:
        raise NotFound(f"Region {region} not found")
    return found


def _time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidField(("query", name), "Not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise InvalidField(("query", name), "Time needs a time zone")
    return value
