"""``%flow cancel TASK``: stop a task. Cancelling a task that already ended is not an error."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.status import add_task_argument
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.pinned import wait_for_status
from flow_notebook.notebook.session import FlowSession

NAME = "cancel"
SUMMARY = "stop a task (a task that already ended is left as it is)"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow cancel``."""
    parser = make_parser(NAME, "Stop a task and wait briefly for it to end.")
    add_task_argument(parser, required=True)
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Cancels the task and prints one line with the outcome.

    Raises:
        TaskNotFoundError: No task has that id.
    """
    args = build_parser().parse_line_args(argv)
    task_id = args.task
    provider = session.provider_of(task_id, args.provider)
    task = provider.get_task(task_id)
    if task.is_terminal or not provider.cancel_task(task_id):
        task = provider.get_task(task_id)
        emit(f"task {task_id} already ended ({task.status.value})")
        return
    task = wait_for_status(session, task_id, session.timing.settle_timeout)
    if task.is_terminal:
        emit(f"task {task_id} {task.status.value}")
    else:
        emit(f"asked task {task_id} to stop; it is still {task.status.value}")
