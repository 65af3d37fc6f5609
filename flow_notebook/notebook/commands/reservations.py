"""``%flow reservations``: the reservations with state, window, usage and cost so far."""

from __future__ import annotations

from flow_notebook.core.reservations import Reservation
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.reserving import reservable, reservation_table
from flow_notebook.notebook.session import FlowSession

NAME = "reservations"
SUMMARY = "list reservations: state, window, instances, usage, cost so far, total"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow reservations``."""
    parser = make_parser(
        NAME,
        "List reservations, newest first: state, window (UTC), instances, instance-hours "
        "used of those held so far, cost so far and total. --all includes ended ones.",
    )
    parser.add_argument("--all", action="store_true", help="include ended and canceled ones")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N")
    return parser


def execute(session: FlowSession, argv: list[str]) -> list[Reservation]:
    """Prints the table (or one line when there is none) and returns the reservations."""
    args = build_parser().parse_line_args(argv)
    found = reservable(session, args.provider).list_reservations(limit=max(args.limit, 1))
    shown = found if args.all else [r for r in found if r.is_live]
    if shown:
        emit(reservation_table(shown))
    else:
        emit("no live reservations (--all shows ended ones)" if found else "no reservations")
    return shown
