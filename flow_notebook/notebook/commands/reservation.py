"""``%flow reservation extend|terminate-instances|history ID``: act on one reservation."""

from __future__ import annotations

from collections.abc import Callable

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.provider_interfaces import IReservations
from flow_notebook.core.reservations import ExtensionQuote
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import table
from flow_notebook.notebook.reserving import (
    confirm_then,
    find_reservation,
    parse_length,
    reservable,
    when,
)
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.html import money

NAME = "reservation"
SUMMARY = "extend ID --duration 1d [--yes] | terminate-instances ID [--yes] | history ID"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow reservation``."""
    parser = make_parser(
        NAME,
        "extend ID --duration 1d: show whether the end can move and the new total, then "
        "extend after asking. terminate-instances ID: give the instances back early (tasks "
        "on them end; no refund). history ID: the reservation's events. --yes skips asking.",
    )
    parser.add_argument("action", choices=("extend", "terminate-instances", "history"))
    parser.add_argument("reservation", metavar="ID", help="the reservation")
    parser.add_argument("--duration", metavar="LENGTH", help="for extend: hours to add, e.g. 1d")
    parser.add_argument("--yes", action="store_true", help="act without asking")
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Runs the action (after asking, unless ``--yes``) and prints its outcome.

    Raises:
        ValidationError: No ``--duration`` for extend, a duration of 0, or a provider
            without reservations.
        NotFoundError: Unknown reservation id.
    """
    args = build_parser().parse_line_args(argv)
    provider = reservable(session, args.provider)
    reservation = find_reservation(provider, args.reservation)
    rid = reservation.reservation_id
    if args.action == "history":
        events = provider.reservation_history(rid)
        rows = [(when(e.at), e.kind, money(e.price_per_instance_hour)) for e in events]
        emit(table(rows, ("AT (UTC)", "EVENT", "PRICE/INSTANCE-HOUR")) if rows else "no events")
        return
    if args.action == "extend":
        if not args.duration:
            raise ValidationError("extend needs --duration, e.g. --duration 1d", field="duration")
        quote = provider.quote_extension(rid, reservation.end + parse_length(args.duration))
        emit(_extension_line(quote))
        if quote.available:
            confirm_then(
                args.yes,
                f"Extend for {money(quote.added_cost)}?",
                "Extend",
                _extend(provider, quote),
            )
        return
    confirm_then(
        args.yes,
        f"Give back the {len(reservation.instances)} instance(s) of {rid}? Tasks on them end.",
        "Terminate",
        lambda: _terminated(provider, rid),
    )


def _extension_line(quote: ExtensionQuote) -> str:
    if not quote.available:
        return (
            f"cannot extend {quote.reservation_id} to {when(quote.new_end)} UTC: the latest end"
            f" on offer is {when(quote.latest_end)} UTC"
        )
    return (
        f"extend {quote.reservation_id} from {when(quote.current_end)} to"
        f" {when(quote.new_end)} UTC: available, adds {money(quote.added_cost)},"
        f" new total {money(quote.new_total)}"
    )


def _extend(provider: IReservations, quote: ExtensionQuote) -> Callable[[], str]:
    def action() -> str:
        done = provider.extend_reservation(quote.reservation_id, quote.new_end)
        return (
            f"extended {done.reservation_id}: ends {when(done.end)} UTC,"
            f" total {money(done.total_price)}"
        )

    return action


def _terminated(provider: IReservations, reservation_id: str) -> str:
    ended = provider.terminate_reservation_instances(reservation_id)
    return f"terminated {len(ended)} instance(s) of {reservation_id}: {', '.join(ended)}"
