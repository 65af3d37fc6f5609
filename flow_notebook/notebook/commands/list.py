"""``%flow list [--status S] [--limit N]``: recent tasks as an aligned table."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import task_table
from flow_notebook.notebook.session import FlowSession

NAME = "list"
SUMMARY = "list recent tasks: id, name, status, instance type, created, runtime"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"  # argparse names the type in its error


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow list``."""
    parser = make_parser(NAME, "List recent tasks, newest first.")
    parser.add_argument(
        "--status", choices=[status.value for status in TaskStatus], help="only tasks in this state"
    )
    parser.add_argument(
        "--limit", type=_positive_int, default=20, metavar="N", help="at most N tasks (default 20)"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the table of tasks, or ``no tasks``."""
    args = build_parser().parse_line_args(argv)
    status = TaskStatus(args.status) if args.status else None
    tasks = session.provider.list_tasks(status=status, limit=args.limit)
    emit(task_table(tasks) if tasks else "no tasks")
