"""``%flow resume TASK``: resume a paused task (``IPausable``)."""

from __future__ import annotations

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.pause import pausable
from flow_notebook.notebook.commands.status import add_task_argument
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "resume"
SUMMARY = "resume a paused task"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow resume``."""
    parser = make_parser(NAME, "Resume a task paused with %flow pause.")
    add_task_argument(parser, required=True)
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Resumes the task and prints one line.

    Raises:
        TaskNotFoundError: No task has that id.
        TaskStateError: The provider cannot resume tasks.
    """
    args = build_parser().parse_line_args(argv)
    task_id = args.task
    changed = pausable(session, "resume", task_id, args.provider).resume_task(task_id)
    emit(f"task {task_id} resumed" if changed else f"task {task_id} was not paused")
