"""Reserved capacity as every provider describes it: quotes, reservations, events.

A reservation holds ``num_instances`` instances of one type from ``start`` to ``end``
at a price fixed when it is placed, whether or not tasks use them. Providers that
sell reservations implement ``provider_interfaces.IReservations`` with these models.
Money is in dollars; times are aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

RESERVATION_STATES = ("pending", "active", "paused", "canceled", "ended")
"""Reservation states: waiting for its window, running, paused, given back early, over."""


class ReservationRequest(BaseModel):
    """A window of capacity to quote or reserve.

    Attributes:
        instance_type: A display name (``8xh100``) or the provider's type id.
        num_instances: Instances to hold (at least 1).
        region: Region; ``None`` lets the provider choose.
        start: Start of the window.
        end: End of the window (after ``start``).
        name: Name of the reservation; ``None`` lets the provider choose.
    """

    model_config = ConfigDict(extra="forbid")

    instance_type: str
    num_instances: int = Field(default=1, ge=1)
    region: str | None = None
    start: datetime
    end: datetime
    name: str | None = None


class ReservationQuote(BaseModel):
    """What a window would cost, and whether it can be had.

    Attributes:
        instance_type: Display name of the instance type.
        region: Region of the quote.
        num_instances: Instances quoted.
        start: Start of the window (as the provider will take it).
        end: End of the window.
        price_per_instance_hour: Price of one instance-hour.
        total_price: What the whole window costs.
        available: Whether the capacity is free for the whole window.
    """

    model_config = ConfigDict(extra="forbid")

    instance_type: str
    region: str
    num_instances: int
    start: datetime
    end: datetime
    price_per_instance_hour: float
    total_price: float
    available: bool

    @property
    def hours(self) -> float:
        """Length of the window in hours."""
        return (self.end - self.start).total_seconds() / 3600


class Reservation(BaseModel):
    """A reservation with its usage so far.

    Attributes:
        reservation_id: The provider's id.
        name: Its name.
        status: One of ``RESERVATION_STATES``.
        instance_type: Display name of the instance type.
        region: Region, when known.
        num_instances: Instances held.
        start: Start of the window.
        end: End of the window.
        price_per_instance_hour: Price of one instance-hour (the latest one bought).
        total_price: What the whole window costs (extensions included).
        instances: Ids of its instances (empty before the window starts).
        cost_so_far: The part of ``total_price`` for the time already passed.
        reserved_hours: Instance-hours held so far.
        used_hours: Instance-hours its instances ran so far.
    """

    model_config = ConfigDict(extra="forbid")

    reservation_id: str
    name: str
    status: str
    instance_type: str
    region: str | None = None
    num_instances: int
    start: datetime
    end: datetime
    price_per_instance_hour: float
    total_price: float
    instances: list[str] = Field(default_factory=list)
    cost_so_far: float | None = None
    reserved_hours: float | None = None
    used_hours: float | None = None

    @property
    def is_live(self) -> bool:
        """Whether it still holds capacity (pending, active or paused)."""
        return self.status in ("pending", "active", "paused")


class ExtensionQuote(BaseModel):
    """What moving a reservation's end would cost, and whether it can be had.

    Attributes:
        reservation_id: The reservation.
        current_end: Its end now.
        new_end: The end asked for.
        latest_end: The latest end the provider offers.
        available: Whether ``new_end`` can be had.
        added_cost: What the added hours cost.
        new_total: The reservation's total once extended.
    """

    model_config = ConfigDict(extra="forbid")

    reservation_id: str
    current_end: datetime
    new_end: datetime
    latest_end: datetime
    available: bool
    added_cost: float
    new_total: float


class ReservationEvent(BaseModel):
    """One event in a reservation's history.

    Attributes:
        at: When it happened.
        kind: What happened (``Placed``, ``Active``, ``Terms Changed`` ...).
        price_per_instance_hour: The price it set, for price events.
    """

    model_config = ConfigDict(extra="forbid")

    at: datetime
    kind: str
    price_per_instance_hour: float | None = None
