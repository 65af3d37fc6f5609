"""``%flow list [--status S] [--limit N]``: recent tasks as an aligned table."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.arguments import POSITIVE_INT, FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import task_table
from flow_notebook.notebook.listing import list_everywhere
from flow_notebook.notebook.session import FlowSession

NAME = "list"
SUMMARY = "list recent tasks of every configured provider: id, provider, name, status, ..."


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow list``."""
    parser = make_parser(
        NAME,
        "List recent tasks, newest first, of every configured provider (the default one, "
        "those in the config's providers setting and those this kernel used), or only "
        "of --provider NAME. A provider that cannot list its tasks is one line.",
    )
    parser.add_argument(
        "--status", choices=[status.value for status in TaskStatus], help="only tasks in this state"
    )
    parser.add_argument(
        "--limit", type=POSITIVE_INT, default=20, metavar="N", help="at most N tasks (default 20)"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the table of tasks, or ``no tasks``."""
    args = build_parser().parse_line_args(argv)
    status = TaskStatus(args.status) if args.status else None
    show_listing(session, args.provider, status=status, limit=args.limit)


def show_listing(
    session: FlowSession, provider: str | None, *, status: TaskStatus | None, limit: int
) -> None:
    """Prints the merged table of every configured provider's tasks (or ``provider``'s).

    Each listed task is routed to its provider from then on (``%flow logs ID``).

    Raises:
        FlowError: No provider could list its tasks.
    """
    listing = list_everywhere(session.each_provider(provider), status=status, limit=limit)
    listing.raise_if_none_answered()
    for listed in listing.tasks:
        session.claim(listed.task.task_id, listed.provider)
    lines = [task_table(listing.tasks) if listing.tasks else "no tasks", *listing.problems]
    emit("\n".join(lines))
