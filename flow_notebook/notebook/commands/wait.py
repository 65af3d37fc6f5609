"""``%flow wait [TASK]``: block until a task ends; its own cell's view shows the end."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, add_wait_options, make_parser
from flow_notebook.notebook.commands.status import add_task_argument, task_id_or_last
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.pinned import block_until_done, raise_on_failure, wait_quietly
from flow_notebook.notebook.render import RunSummary, status_line
from flow_notebook.notebook.session import FlowSession

NAME = "wait"
SUMMARY = "wait until a task ends (its cell's live view gets the summary)"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow wait``."""
    parser = make_parser(
        NAME,
        "Block until the task ends. A task followed in another cell of this kernel "
        "finishes its view there; this cell prints one line. A failure is an error.",
    )
    add_task_argument(parser, required=False)
    add_wait_options(
        parser,
        timeout_help="stop waiting after this long",
        interrupt_help="what interrupting the wait does (default: detach)",
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Waits and prints the task's status line.

    Raises:
        TaskFailedError: The task failed, or its ``--pull`` did not bring every value back.
    """
    args = build_parser().parse_line_args(argv)
    task_id = task_id_or_last(session, args.task)
    if args.provider:
        session.provider_of(task_id, args.provider).get_task(task_id)
    follower = session.followers.get(task_id)
    if follower is None or (follower.done and _left_running(follower.summary)):
        wait_quietly(session, task_id, timeout=args.timeout, on_interrupt=args.on_interrupt)
        return
    summary = block_until_done(follower, timeout=args.timeout, on_interrupt=args.on_interrupt)
    if summary is not None:
        emit(status_line(summary.task) + (f"; {summary.note}" if summary.note else ""))
    raise_on_failure(summary, getattr(follower.finisher, "pull_problem", None), lost=follower.error)


def _left_running(summary: RunSummary | None) -> bool:
    return summary is None or not summary.task.is_terminal
