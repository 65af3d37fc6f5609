"""``%flow reserve``: quote a window of reserved capacity, then place it after asking."""

from __future__ import annotations

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.provider_interfaces import IReservations
from flow_notebook.core.reservations import ReservationQuote, ReservationRequest
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.reserving import (
    confirm_then,
    parse_length,
    parse_when,
    quote_line,
    reservable,
    when,
)
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import money

NAME = "reserve"
SUMMARY = "reserve capacity: --gpu 8xh100 --instances N --start WHEN --duration 3d [--yes]"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow reserve``."""
    parser = make_parser(
        NAME,
        "Quote reserved capacity (price per instance-hour, availability, total) and place "
        "the reservation after asking; --yes places it without asking (for scripts). "
        "Tasks run on it with %flow run --reservation ID.",
    )
    parser.add_argument("-g", "--gpu", required=True, metavar="TYPE", help="e.g. 8xh100")
    parser.add_argument("-n", "--instances", type=int, default=1, metavar="N", help="instances")
    parser.add_argument("--region", metavar="REGION", help="region (default: the provider's)")
    parser.add_argument(
        "--start", default="now", metavar="WHEN", help="now, +2h, or a UTC time 2026-12-02T09:00"
    )
    parser.add_argument("--duration", required=True, metavar="LENGTH", help="e.g. 12h, 3d")
    parser.add_argument("--name", metavar="NAME", help="name of the reservation")
    parser.add_argument("--yes", action="store_true", help="place it without asking")
    return parser


def execute(session: FlowSession, argv: list[str]) -> ReservationQuote:
    """Shows the quote and places the reservation once confirmed.

    Returns:
        The quote.

    Raises:
        ValidationError: Bad options, a window in the past, a duration of 0, or a
            provider without reservations (each one line).
    """
    args = build_parser().parse_line_args(argv)
    provider = reservable(session, args.provider)
    start = parse_when(args.start)
    request = ReservationRequest(
        instance_type=args.gpu,
        num_instances=_instances(args.instances),
        region=args.region,
        start=start,
        end=start + parse_length(args.duration),
        name=args.name,
    )
    quote = provider.quote_reservation(request)
    emit(quote_line(quote))
    if not quote.available:
        emit("not reserved: the window does not have the capacity; try another start or region")
    else:
        confirm_then(
            args.yes,
            f"Reserve for {money(quote.total_price)}? It is billed for the whole window.",
            "Reserve",
            lambda: _create(provider, request),
        )
    return quote


def _instances(count: int) -> int:
    if count < 1:
        raise ValidationError(f"--instances must be 1 or more, got {count}", field="instances")
    return count


def _create(provider: IReservations, request: ReservationRequest) -> str:
    reservation = provider.create_reservation(request)
    return (
        f"reserved {reservation.reservation_id} ({reservation.name}): {reservation.status},"
        f" {when(reservation.start)} to {when(reservation.end)} UTC,"
        f" total {money(reservation.total_price)};"
        f" run on it with %flow run --reservation {reservation.reservation_id} -- COMMAND"
    )
