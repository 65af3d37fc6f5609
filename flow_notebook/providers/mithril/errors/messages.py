"""Builders of one-line Mithril errors that name prices, regions and capacity.

Helpers here only format; they return ``flow_notebook.core.errors`` instances for
the caller to raise (``raise enhance_price_error(...) from exc``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flow_notebook.core.errors import (
    FlowError,
    InsufficientCapacityError,
    PriceValidationError,
)

MAX_LISTED_OFFERS = 6
"""How many places with capacity a capacity error names before saying "and N more"."""


@dataclass(frozen=True)
class CapacityHint:
    """Where capacity exists, for an error message.

    Attributes:
        instance_type: Display name, e.g. ``8xh100``.
        region: Region name.
        capacity: Instances available now.
        price: Current price per instance-hour in dollars, when known.
    """

    instance_type: str
    region: str
    capacity: int
    price: float | None = None

    def describe(self) -> str:
        """Returns e.g. ``8xh100 in us-central1-a (4 free at $2.40/h)``."""
        price = f" at {_dollars(self.price)}/h" if self.price is not None else ""
        return f"{self.instance_type} in {self.region} ({self.capacity} free{price})"


def price_below_market_error(
    limit: float, current: float, instance_type: str = "", region: str | None = None
) -> PriceValidationError:
    """Returns the error for a limit price under the current spot price.

    Args:
        limit: The limit price asked for, dollars per instance-hour.
        current: The current spot price, dollars per instance-hour.
        instance_type: Display name of the instance type.
        region: Region of the price, when known.

    Returns:
        A ``PriceValidationError`` whose message names both prices.
    """
    where = _where(instance_type, region)
    return PriceValidationError(
        f"limit price {_dollars(limit)}/h is below the current spot price"
        f" {_dollars(current)}/h{where}",
        field="max_price_per_hour",
        suggestion=f"set max_price_per_hour to at least {current:.2f}",
    )


def enhance_price_error(
    error: FlowError,
    current: float | None,
    instance_type: str = "",
    region: str | None = None,
) -> FlowError:
    """Adds the current spot price to an API rejection of a bid's limit price.

    Args:
        error: The error the API client raised for the bid.
        current: The current spot price in dollars, when it could be fetched.
        instance_type: Display name of the instance type.
        region: Region of the bid.

    Returns:
        A ``PriceValidationError`` naming the current price when the error is about
        the price and a price is known; otherwise ``error`` unchanged.
    """
    if current is None or "price" not in error.message.lower():
        return error
    where = _where(instance_type, region)
    return PriceValidationError(
        f"{error.message}; the current spot price is {_dollars(current)}/h{where}",
        field="max_price_per_hour",
        suggestion=f"set max_price_per_hour to at least {current:.2f}",
    )


def capacity_error(
    request: str, hints: Iterable[CapacityHint], reason: str = "no region has capacity"
) -> InsufficientCapacityError:
    """Returns a one-line capacity error listing where capacity does exist.

    Args:
        request: What was asked, e.g. ``2 x 8xh100 in us-east1``.
        hints: Places with capacity, best first.
        reason: Why the request cannot be met.

    Returns:
        An ``InsufficientCapacityError``.
    """
    listed = list(hints)
    if not listed:
        return InsufficientCapacityError(
            f"{reason} for {request}; no spot capacity is available anywhere right now",
            suggestion="try again later",
        )
    shown = "; ".join(hint.describe() for hint in listed[:MAX_LISTED_OFFERS])
    more = len(listed) - MAX_LISTED_OFFERS
    if more > 0:
        shown += f"; and {more} more"
    return InsufficientCapacityError(
        f"{reason} for {request}; capacity exists for: {shown}",
        suggestion="choose one of these instance types or regions",
    )


def _dollars(value: float) -> str:
    return f"${value:,.2f}"


def _where(instance_type: str, region: str | None) -> str:
    text = f" for {instance_type}" if instance_type else ""
    return f"{text} in {region}" if region else text
