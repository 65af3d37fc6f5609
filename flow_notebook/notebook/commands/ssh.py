"""``%flow ssh [TASK]``: print the ssh command that reaches a task's first instance."""

from __future__ import annotations

from flow_notebook.core.errors import TaskStateError
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.status import add_task_argument, task_id_or_last
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "ssh"
SUMMARY = "print the ssh command that reaches a task's instance"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow ssh``."""
    parser = make_parser(NAME, "Print the ssh command that reaches the task's first instance.")
    add_task_argument(parser, required=False)
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the ssh command.

    Raises:
        TaskNotFoundError: No task has that id.
        TaskStateError: The task has no SSH access (yet, or ever).
    """
    task_id = task_id_or_last(session, build_parser().parse_line_args(argv).task)
    task = session.provider.get_task(task_id)
    command = task.ssh_command()
    if command:
        emit(command)
        return
    if task.provider == "local":
        raise TaskStateError(
            f"task {task_id} runs on this machine and has no SSH access",
            suggestion=f"use %flow logs {task_id}",
        )
    if task.is_terminal:
        raise TaskStateError(f"task {task_id} has ended ({task.status.value}); no SSH access")
    raise TaskStateError(
        f"task {task_id} has no SSH address yet ({task.status.value})",
        suggestion="try again once it is running",
    )
