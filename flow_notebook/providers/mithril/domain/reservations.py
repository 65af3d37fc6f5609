"""Mithril reservations: quote, place (once), list with usage, extend, give back, history.

Money is real: ``create`` sends one POST at most. When its answer is lost after the
request may have reached the API, the reservation is looked up by its unique name
instead of being sent again (as bids are, see ``bids.py``). Extending and giving
instances back set a state (an end time, a set of instances), so repeating them is
harmless and the client retries them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

from pydantic import TypeAdapter

from flow_notebook.core.errors import (
    FlowError,
    NotFoundError,
    ProviderUnavailableError,
    ValidationError,
)
from flow_notebook.core.models import utcnow
from flow_notebook.core.reservations import (
    ExtensionQuote,
    Reservation,
    ReservationEvent,
    ReservationQuote,
    ReservationRequest,
)
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.domain.bids import (
    LostAnswer,
    find_placed,
    may_have_reached_the_server,
    random_suffix,
)
from flow_notebook.providers.mithril.domain.pricing import parse_price

PAGE = 100
START_GRACE = timedelta(minutes=1)
"""A start this far in the past is taken as "now" (the user typed ``now`` a moment ago)."""
_DURATION = TypeAdapter(timedelta)
_STATES = {
    "Pending": "pending",
    "Active": "active",
    "Paused": "paused",
    "Canceled": "canceled",
    "Ended": "ended",
}


class _Window(TypedDict):
    """The window a quote and an availability check ask about."""

    instance_type: str
    region: str
    start_time: datetime
    end_time: datetime


class ReservationsApi(Protocol):
    """The part of ``ApiClient`` that handles reservations."""

    def get_reservation_quote(
        self,
        project: str,
        *,
        instance_type: str,
        region: str,
        start_time: datetime,
        end_time: datetime,
        quantity: int,
    ) -> dto.ReservationQuoteResponse:
        """Returns the offers of a window."""
        ...

    def check_reservation_availability(
        self,
        project: str,
        *,
        instance_type: str,
        region: str,
        start_time: datetime,
        end_time: datetime,
        quantity: int,
    ) -> list[dto.AvailabilitySlotModel]:
        """Returns the window as one slot when free, else nothing."""
        ...

    def create_reservation(self, request: dto.CreateReservationRequest) -> dto.ReservationModel:
        """Places a reservation (never retried)."""
        ...

    def list_reservations(
        self,
        project: str,
        *,
        status: dto.ReservationStatus | None = None,
        limit: int | None = None,
        next_cursor: str | None = None,
    ) -> dto.GetReservationsResponse:
        """Returns one page of reservations, newest first."""
        ...

    def get_extension_availability(self, reservation_fid: str) -> dto.ExtensionAvailabilityResponse:
        """Returns how far a reservation can be extended."""
        ...

    def extend_reservation(
        self, reservation_fid: str, request: dto.ExtendReservationRequest
    ) -> dto.ReservationModel:
        """Moves a reservation's end."""
        ...

    def terminate_reservation_instances(
        self, reservation_fid: str, request: dto.TerminateInstanceRequest
    ) -> list[str]:
        """Gives instances back; returns those terminated."""
        ...

    def get_reservation_history(self, reservation_fid: str) -> dto.ReservationHistoryResponse:
        """Returns a reservation's events."""
        ...

    def get_reservation_usage(self, reservation_fid: str) -> dto.ReservationUsageResponse:
        """Returns a reservation's cost and hours so far."""
        ...


class ReservationService:
    """Quotes, places, lists, extends and ends a project's reservations.

    Args:
        api: The reservation endpoints.
        project: Project id.
        resolve_type: Turns ``8xh100`` (or an id) into an instance type id.
        display_name: Turns an instance type id into its display name.
        default_region: Returns the region used when a request names none.
        ssh_key_ids: Returns the platform SSH key ids the instances accept (so tasks
            can later log in to them).
        clock: Current time (UTC).
        suffix: Makes the random part of reservation names.
        reconcile_timeout: Seconds a reservation whose answer was lost is looked up by
            name before the outcome is reported as unknown.
        reconcile_delay: Seconds between those lookups.
    """

    def __init__(
        self,
        api: ReservationsApi,
        project: str,
        *,
        resolve_type: Callable[[str], str],
        display_name: Callable[[str], str],
        default_region: Callable[[], str],
        ssh_key_ids: Callable[[], list[str]],
        clock: Callable[[], datetime] = utcnow,
        suffix: Callable[[], str] = random_suffix,
        reconcile_timeout: float = 90.0,
        reconcile_delay: float = 2.0,
    ) -> None:
        self._api = api
        self._project = project
        self._resolve = resolve_type
        self._display = display_name
        self._default_region = default_region
        self._ssh_key_ids = ssh_key_ids
        self._clock = clock
        self._suffix = suffix
        self._reconcile_timeout = reconcile_timeout
        self._reconcile_delay = reconcile_delay

    def quote(self, request: ReservationRequest) -> ReservationQuote:
        """Returns the standard offer's price and whether the window is free.

        Raises:
            ValidationError: A window in the past or empty, or an unknown type.
        """
        fid, region, start, end = self._shape(request)
        window = _Window(instance_type=fid, region=region, start_time=start, end_time=end)
        quantity = request.num_instances
        answer = self._api.get_reservation_quote(self._project, quantity=quantity, **window)
        offer = _standard(answer.offers)
        slots = self._api.check_reservation_availability(self._project, quantity=quantity, **window)
        return ReservationQuote(
            instance_type=self._display(fid),
            region=region,
            num_instances=request.num_instances,
            start=start,
            end=end,
            price_per_instance_hour=parse_price(offer.unit_price),
            total_price=parse_price(offer.total_price),
            available=any(slot.quantity >= request.num_instances for slot in slots),
        )

    def create(self, request: ReservationRequest) -> Reservation:
        """Places the reservation with one POST at most.

        Raises:
            ValidationError: A bad window or not enough capacity (the API's words).
            ProviderUnavailableError: The POST never arrived, or its outcome stayed unknown.
        """
        fid, region, start, end = self._shape(request)
        name = f"{request.name or 'flow-reservation'}-{self._suffix()}"
        body = dto.CreateReservationRequest(
            project=self._project,
            instance_type=fid,
            region=region,
            start_time=start,
            end_time=end,
            instance_quantity=request.num_instances,
            name=name,
            launch_specification=dto.LaunchSpecificationModel(
                volumes=[], ssh_keys=self._ssh_key_ids()
            ),
        )
        try:
            placed = self._api.create_reservation(body)
        except ProviderUnavailableError as exc:
            placed = self._reconcile(name, exc)
        return self._view(placed, None)

    def list_reservations(self, limit: int = 100) -> list[Reservation]:
        """Returns up to ``limit`` reservations, newest first, each with its usage."""
        return [self._with_usage(model) for model in self._models(limit)]

    def get(self, reservation_id: str) -> Reservation:
        """Returns one reservation with its usage.

        Raises:
            NotFoundError: No reservation of this project has this id.
        """
        return self._with_usage(self._model(reservation_id))

    def model(self, reservation_id: str) -> dto.ReservationModel:
        """Returns the reservation as the API describes it.

        Raises:
            NotFoundError: No reservation of this project has this id.
        """
        return self._model(reservation_id)

    def display_name(self, instance_type: str) -> str:
        """Returns the display name of an instance type id."""
        return self._display(instance_type)

    def quote_extension(self, reservation_id: str, new_end: datetime) -> ExtensionQuote:
        """Returns whether the end can move to ``new_end``, what that costs and the new total.

        Raises:
            NotFoundError: Unknown reservation.
            ValidationError: ``new_end`` is not after the current end.
        """
        model = self._model(reservation_id)
        if new_end <= model.end_time:
            raise ValidationError(
                f"the new end {_when(new_end)} is not after the reservation's end"
                f" {_when(model.end_time)}",
                field="duration",
            )
        reach = self._api.get_extension_availability(model.fid)
        added = self._api.get_reservation_quote(
            self._project,
            instance_type=model.instance_type,
            region=model.region or "",
            start_time=model.end_time,
            end_time=new_end,
            quantity=model.instance_quantity,
        )
        added_cost = parse_price(_standard(added.offers).total_price)
        return ExtensionQuote(
            reservation_id=model.fid,
            current_end=model.end_time,
            new_end=new_end,
            latest_end=reach.latest_extension_time,
            available=reach.available and new_end <= reach.latest_extension_time,
            added_cost=added_cost,
            new_total=round(parse_price(model.total_price) + added_cost, 2),
        )

    def extend(self, reservation_id: str, new_end: datetime) -> Reservation:
        """Moves the end to ``new_end``.

        Raises:
            NotFoundError: Unknown reservation.
            ValidationError: ``new_end`` is not after the end or beyond what is offered.
        """
        quote = self.quote_extension(reservation_id, new_end)
        if not quote.available:
            raise ValidationError(
                f"reservation {reservation_id} can be extended to {_when(quote.latest_end)}"
                " at most",
                field="duration",
            )
        request = dto.ExtendReservationRequest(end_time=new_end)
        return self._with_usage(self._api.extend_reservation(reservation_id, request))

    def terminate_instances(
        self, reservation_id: str, instance_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Gives instances back early (every live one when ``instance_ids`` is ``None``).

        Raises:
            NotFoundError: Unknown reservation.
            ValidationError: It has no instance to give back.
        """
        model = self._model(reservation_id)
        wanted = list(instance_ids) if instance_ids else list(model.instances)
        if not wanted:
            raise ValidationError(
                f"reservation {reservation_id} has no instances"
                f" ({_STATES[model.status]}, starts {_when(model.start_time)})",
                field="reservation",
            )
        request = dto.TerminateInstanceRequest(instances=wanted, reduce_capacity=True)
        return self._api.terminate_reservation_instances(model.fid, request)

    def history(self, reservation_id: str) -> list[ReservationEvent]:
        """Returns the reservation's events, oldest first.

        Raises:
            NotFoundError: Unknown reservation.
        """
        model = self._model(reservation_id)
        answer = self._api.get_reservation_history(model.fid)
        return [
            ReservationEvent(
                at=event.timestamp,
                kind=event.event_type,
                price_per_instance_hour=(
                    event.unit_price_cents / 100 if event.unit_price_cents is not None else None
                ),
            )
            for event in sorted(answer.events, key=lambda e: e.timestamp)
        ]

    # --- helpers -----------------------------------------------------------------------

    def _shape(self, request: ReservationRequest) -> tuple[str, str, datetime, datetime]:
        now = self._clock()
        if request.end <= request.start:
            raise ValidationError("the reservation's duration must be more than 0", field="end")
        if request.start < now - START_GRACE:
            raise ValidationError(
                f"the window starts in the past ({_when(request.start)}; now is {_when(now)})",
                field="start",
                suggestion="use --start now or a later time",
            )
        start = max(request.start, now)
        fid = self._resolve(request.instance_type)
        return fid, request.region or self._default_region(), start, request.end

    def _models(self, limit: int) -> list[dto.ReservationModel]:
        found: list[dto.ReservationModel] = []
        cursor: str | None = None
        while len(found) < limit:
            page = self._api.list_reservations(
                self._project, limit=min(PAGE, limit - len(found)), next_cursor=cursor
            )
            found.extend(page.data)
            cursor = page.next_cursor
            if not cursor or not page.data:
                break
        return found[:limit]

    def _model(self, reservation_id: str) -> dto.ReservationModel:
        # The API has no GET of one reservation: it is found in the list.
        for model in self._models(10_000):
            if model.fid == reservation_id:
                return model
        raise NotFoundError(
            f"no reservation {reservation_id} in this project",
            suggestion="run %flow reservations to see them",
        )

    def _with_usage(self, model: dto.ReservationModel) -> Reservation:
        usage = None
        if model.status != "Pending":
            try:
                usage = self._api.get_reservation_usage(model.fid)
            except FlowError:
                usage = None  # the listing still shows the reservation, without usage
        return self._view(model, usage)

    def _view(
        self, model: dto.ReservationModel, usage: dto.ReservationUsageResponse | None
    ) -> Reservation:
        view = Reservation(
            reservation_id=model.fid,
            name=model.name,
            status=_STATES[model.status],
            instance_type=self._display(model.instance_type),
            region=model.region,
            num_instances=model.instance_quantity,
            start=model.start_time,
            end=model.end_time,
            price_per_instance_hour=parse_price(model.unit_price),
            total_price=parse_price(model.total_price),
            instances=list(model.instances),
        )
        if usage is not None:
            summary = usage.summary
            view.reserved_hours = _hours(summary.reserved_instance_hours)
            view.used_hours = _hours(summary.active_instance_hours)
            view.cost_so_far = _cost_until(usage.grants, summary.as_of)
        return view

    def _reconcile(self, name: str, cause: ProviderUnavailableError) -> dto.ReservationModel:
        if not may_have_reached_the_server(cause):
            raise ProviderUnavailableError(
                f"reservation {name} was not placed: {cause.message}",
                suggestion="try again shortly",
            ) from cause
        return find_placed(
            lambda: next((m for m in self._models(PAGE) if m.name == name), None),
            LostAnswer(
                "reservation",
                name,
                cause,
                f"run %flow reservations: one named {name} is this one; reserve again only"
                " if none appears",
            ),
            timeout=self._reconcile_timeout,
            delay=self._reconcile_delay,
        )


def _standard(offers: Sequence[dto.ReservationOffer]) -> dto.ReservationOffer:
    if not offers:
        raise ValidationError("Mithril offered no price for this window", field="window")
    return next((offer for offer in offers if offer.key == "standard"), offers[0])


def _hours(duration: str) -> float | None:
    try:
        return round(_DURATION.validate_python(duration).total_seconds() / 3600, 4)
    except ValueError:
        return None


def _cost_until(grants: Sequence[dto.GrantUsageModel], as_of: datetime) -> float:
    """Returns price x instances x hours passed of each grant (prices in cents)."""
    cents = 0.0
    for grant in grants:
        passed = (min(as_of, grant.ends_at) - grant.starts_at).total_seconds()
        cents += grant.unit_price * grant.quantity * max(passed, 0.0) / 3600
    return round(cents / 100, 2)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
