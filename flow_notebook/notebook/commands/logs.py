"""``%flow logs [TASK] [--follow] [--tail N] [--stderr]``: a task's output."""

from __future__ import annotations

from flow_notebook.notebook.arguments import (
    POSITIVE_INT,
    FlowArgumentParser,
    add_keep_option,
    make_parser,
    positive_number,
)
from flow_notebook.notebook.commands.status import add_task_argument, task_id_or_last
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.pinned import block_until_done, follow_in_cell
from flow_notebook.notebook.session import FlowSession

NAME = "logs"
SUMMARY = "show a task's output; --follow streams it until the task ends"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow logs``."""
    parser = make_parser(
        NAME,
        "Show the last lines of a task's output. With --follow, stream new lines until the "
        "task ends, resuming after the lines a previous follow already showed.",
    )
    add_task_argument(parser, required=False)
    parser.add_argument("--follow", action="store_true", help="stream until the task ends")
    parser.add_argument(
        "--tail", type=POSITIVE_INT, default=100, metavar="N", help="last N lines (default 100)"
    )
    parser.add_argument("--stderr", action="store_true", help="standard error instead of output")
    parser.add_argument(
        "--timeout", type=positive_number, metavar="SECONDS", help="stop following after this long"
    )
    add_keep_option(parser)
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the log tail, or streams it with ``--follow``.

    Raises:
        TaskNotFoundError: No task has that id.
    """
    args = build_parser().parse_line_args(argv)
    task_id = task_id_or_last(session, args.task)
    log_type = "stderr" if args.stderr else "stdout"
    if args.follow:
        task = session.provider_of(task_id, args.provider).get_task(task_id)
        start = {log_type: session.positions.get(task_id, log_type)}
        if start[log_type]:
            emit(f"(resuming {task_id} after {start[log_type]} lines already shown)")
        follow = follow_in_cell(
            session, task, plain=True, keep_kb=args.keep_kb, start=start, log_types=(log_type,)
        )
        block_until_done(follow, timeout=args.timeout)
        return
    provider = session.provider_of(task_id, args.provider)
    text = provider.get_task_logs(task_id, tail=args.tail, log_type=log_type)
    shown = session.redactor(task_id)(text.rstrip("\n"))
    emit(shown if text.strip() else f"(no {log_type} output)")
