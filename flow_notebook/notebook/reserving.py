"""What the reservation magics share: the provider's ``IReservations``, times and lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from flow_notebook.core.durations import parse_duration
from flow_notebook.core.errors import FlowError, NotFoundError, ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.provider_interfaces import IProvider, IReservations
from flow_notebook.core.reservations import Reservation, ReservationQuote
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import table
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import money

_HEADERS = ("ID", "NAME", "STATE", "WINDOW (UTC)", "INSTANCES", "USED", "COST SO FAR", "TOTAL")


def reservable(session: FlowSession, name: str | None = None) -> IReservations:
    """Returns provider ``name`` (``--provider``; default: the session's) as ``IReservations``.

    Raises:
        ValidationError: The provider does not sell reserved capacity (one line).
    """
    provider = session.provider_named(name)
    if not isinstance(provider, IReservations):
        raise ValidationError(
            f"provider {provider.get_capabilities().name} has no reservations",
            suggestion="use a provider that sells reserved capacity, e.g. %flow use mithril",
        )
    return provider


def find_reservation(provider: IReservations, reservation_id: str) -> Reservation:
    """Returns the reservation, or one line naming the unknown id.

    Raises:
        NotFoundError: No reservation has this id.
    """
    try:
        return provider.get_reservation(reservation_id)
    except NotFoundError as exc:
        raise NotFoundError(
            f"no reservation {reservation_id}", suggestion="see %flow reservations"
        ) from exc


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """Turns ``now``, ``+2h`` / ``in 2h`` or an ISO time (UTC when it names no zone) into UTC.

    Raises:
        ValidationError: Anything else (one line).
    """
    now = now or datetime.now(timezone.utc)
    word = text.strip()
    if word.lower() == "now":
        return now
    ahead = word.removeprefix("+").removeprefix("in ").strip()
    if ahead != word:
        return now + timedelta(seconds=_seconds(ahead, "--start"))
    try:
        moment = datetime.fromisoformat(word.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"--start: expected now, +2h or a time like 2026-12-02T09:00, got {text!r}",
            field="start",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_length(text: str, option: str = "--duration") -> timedelta:
    """Returns a duration like ``3d`` or ``12h`` (above zero).

    Raises:
        ValidationError: Malformed or not above zero (one line).
    """
    return timedelta(seconds=_seconds(text, option))


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValidationError(f"{option}: {exc}", field=option.lstrip("-")) from None


def when(moment: datetime) -> str:
    """Returns ``2026-12-02 09:00`` (UTC)."""
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M}"


def quote_line(quote: ReservationQuote) -> str:
    """Returns the one-line quote: shape, window, price, availability and total."""
    free = "available" if quote.available else "NOT available (capacity is taken)"
    return (
        f"{quote.num_instances} x {quote.instance_type} in {quote.region},"
        f" {when(quote.start)} to {when(quote.end)} UTC ({quote.hours:g} h):"
        f" {money(quote.price_per_instance_hour)}/instance-hour, {free},"
        f" total {money(quote.total_price)}"
    )


def reservation_table(reservations: list[Reservation]) -> str:
    """Returns the ``%flow reservations`` table."""
    rows = [
        (
            r.reservation_id,
            r.name,
            r.status,
            f"{when(r.start)} -> {when(r.end)}",
            f"{len(r.instances) or r.num_instances} x {r.instance_type}",
            _usage(r),
            money(r.cost_so_far),
            money(r.total_price),
        )
        for r in reservations
    ]
    return table(rows, _HEADERS)


def _usage(reservation: Reservation) -> str:
    if reservation.used_hours is None or reservation.reserved_hours is None:
        return "-"
    return f"{reservation.used_hours:.2f} of {reservation.reserved_hours:.2f} h"


def confirm_then(yes: bool, question: str, label: str, action: Callable[[], str]) -> None:
    """Runs ``action`` now (``--yes``), after a Yes under the cell, or not at all.

    Without widgets (a script, a text frontend) nothing happens without ``--yes``;
    the line says so.
    """
    from flow_notebook.notebook.widgets.html import use_widgets

    if yes:
        emit(action())
    elif use_widgets():
        from flow_notebook.notebook.widgets.confirm import ask

        ask(question, action, action_label=label)
    else:
        emit(f"nothing done yet: add --yes to {label.lower()}")


def reservation_hint(session: FlowSession, provider: IProvider, config: TaskConfig) -> None:
    """Says once, when a run names the type of an active reservation, how to run on it.

    Args:
        session: Remembers which reservations were already mentioned.
        provider: The provider the run goes to.
        config: The run, its instance type resolved.

    A failure to list reservations never stops the run.
    """
    if config.reservation_id or not config.instance_type:
        return
    if not isinstance(provider, IReservations):
        return
    try:
        active = [r for r in provider.list_reservations(limit=20) if r.status == "active"]
        matching = [
            r
            for r in active
            if r.reservation_id not in session.hinted
            and provider.resolve_instance_type(r.instance_type) == config.instance_type
        ]
    except FlowError:
        return
    for reservation in matching[:1]:
        session.hinted.add(reservation.reservation_id)
        emit(
            f"note: reservation {reservation.reservation_id} holds"
            f" {reservation.num_instances} x {reservation.instance_type} until"
            f" {when(reservation.end)} UTC, already paid for; add --reservation"
            f" {reservation.reservation_id} to run there instead of bidding"
        )
