"""``%flow dashboard [--status S] [--text] [--logs TASK]``: the live task panel."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser, ranged
from flow_notebook.notebook.session import FlowSession

NAME = "dashboard"
SUMMARY = "live task panel: statuses, costs, logs, cancel, ssh (--logs TASK: log viewer)"


_interval = ranged(float, "interval between 0.2 and 3600 seconds", 0.2, 3600.0)


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow dashboard``."""
    parser = make_parser(
        NAME,
        "Show the tasks of every configured provider side by side (or of --provider NAME) "
        "with their provider, status, instance, region, runtime and cost, refreshed "
        "in the background; a provider that cannot list its tasks is one line. "
        "Each task has buttons to follow its logs, cancel it (after "
        "asking) and show its ssh command. Without a widget frontend, prints a table once.",
    )
    parser.add_argument(
        "--status", choices=[status.value for status in TaskStatus], help="only tasks in this state"
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        metavar="SECONDS",
        help="refresh interval (default 2; %%config FlowMagics.dashboard_interval)",
    )
    parser.add_argument("--text", action="store_true", help="print a text table instead")
    parser.add_argument(
        "--logs", metavar="TASK", help="show the log viewer of TASK instead of the dashboard"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Shows the dashboard (or a task's log viewer).

    Raises:
        TaskNotFoundError: ``--logs`` names no task.
    """
    from flow_notebook.notebook.widgets import front, html

    args = build_parser().parse_line_args(argv)
    if args.logs:
        session.provider_of(args.logs, args.provider).get_task(args.logs)
        if not html.use_widgets(args.text):
            from flow_notebook.notebook.commands import logs

            logs.execute(session, [args.logs])
            return
        front.show_log_viewer(session, args.logs)
        return
    status = TaskStatus(args.status) if args.status else None
    interval = args.interval or session.dashboard_interval
    front.show_dashboard(
        session, status=status, interval=interval, text=args.text, provider=args.provider
    )
