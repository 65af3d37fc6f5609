"""``%flow reservations``: the reservations with state, window, usage and cost so far."""

from __future__ import annotations

from flow_notebook.core.reservations import Reservation
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.reserving import reservable, reservation_table
from flow_notebook.notebook.session import FlowSession

NAME = "reservations"
SUMMARY = "reservations panel (or --text table): window bar, usage, cost so far; extend, run"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow reservations``."""
    parser = make_parser(
        NAME,
        "List reservations, newest first: state, window (UTC), instances, instance-hours "
        "used of those held so far, cost so far and total. With widgets, a panel with a "
        "timeline bar per window and buttons to extend it by a day or run a command on it. "
        "--all includes ended ones.",
    )
    parser.add_argument("--all", action="store_true", help="include ended and canceled ones")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="at most N")
    parser.add_argument("--text", action="store_true", help="print a table instead of the panel")
    return parser


def execute(session: FlowSession, argv: list[str]) -> list[Reservation]:
    """Shows the panel (or, without widgets or with ``--text``, the table); returns the list."""
    from flow_notebook.notebook.widgets.html import display, use_widgets

    args = build_parser().parse_line_args(argv)
    provider = reservable(session, args.provider)
    if use_widgets(args.text):
        from flow_notebook.notebook.widgets.reservations_panel import ReservationsPanel

        panel = ReservationsPanel(
            session, provider, provider_name=args.provider, show_all=args.all
        ).refresh()
        display(panel)
        return panel.reservations
    found = provider.list_reservations(limit=max(args.limit, 1))
    shown = found if args.all else [r for r in found if r.is_live]
    if shown:
        emit(reservation_table(shown))
    else:
        emit("no live reservations (--all shows ended ones)" if found else "no reservations")
    return shown
