"""The reservation part of the Mithril facade (``IReservations``), one delegation each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from flow_notebook.core.reservations import (
    ExtensionQuote,
    Reservation,
    ReservationEvent,
    ReservationQuote,
    ReservationRequest,
)
from flow_notebook.providers.mithril.domain.reservations import ReservationService

if TYPE_CHECKING:
    from flow_notebook.providers.mithril.wiring import Wiring


class ReservationsFacade:
    """``IReservations`` over the wiring's ``ReservationService`` (``MithrilProvider`` sets it)."""

    _w: Wiring

    @property
    def _reservations(self) -> ReservationService:
        return self._w.reservations

    def quote_reservation(self, request: ReservationRequest) -> ReservationQuote:
        """Returns the standard offer's price for the window and whether it is free."""
        return self._reservations.quote(request)

    def create_reservation(self, request: ReservationRequest) -> Reservation:
        """Places the reservation (one POST at most; a lost answer is looked up by name)."""
        return self._reservations.create(request)

    def list_reservations(self, limit: int = 100) -> list[Reservation]:
        """Returns up to ``limit`` reservations with their usage, newest first."""
        return self._reservations.list_reservations(limit)

    def get_reservation(self, reservation_id: str) -> Reservation:
        """Returns one reservation with its usage."""
        return self._reservations.get(reservation_id)

    def quote_extension(self, reservation_id: str, new_end: datetime) -> ExtensionQuote:
        """Returns whether the end can move to ``new_end``, its cost and the new total."""
        return self._reservations.quote_extension(reservation_id, new_end)

    def extend_reservation(self, reservation_id: str, new_end: datetime) -> Reservation:
        """Moves the reservation's end to ``new_end``."""
        return self._reservations.extend(reservation_id, new_end)

    def terminate_reservation_instances(
        self, reservation_id: str, instance_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Gives instances back early (all when ``None``); tasks on them end."""
        return self._reservations.terminate_instances(reservation_id, instance_ids)

    def reservation_history(self, reservation_id: str) -> list[ReservationEvent]:
        """Returns the reservation's events, oldest first."""
        return self._reservations.history(reservation_id)
