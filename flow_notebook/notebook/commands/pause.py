"""``%flow pause TASK``: pause a task, where the provider supports it (``IPausable``)."""

from __future__ import annotations

from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.provider_interfaces import IPausable
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.status import add_task_argument
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession

NAME = "pause"
SUMMARY = "pause a task (providers that support it); %flow resume TASK continues it"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow pause``."""
    parser = make_parser(NAME, "Pause a running task; %flow resume TASK continues it.")
    add_task_argument(parser, required=True)
    return parser


def pausable(session: FlowSession, verb: str, task_id: str, name: str | None) -> IPausable:
    """Returns the provider of ``task_id`` (or ``name``, ``--provider``) as ``IPausable``.

    Raises:
        TaskStateError: The provider cannot pause or resume tasks.
    """
    provider = session.provider_of(task_id, name)
    if not isinstance(provider, IPausable):
        name = getattr(provider, "name", None) or type(provider).__name__
        raise TaskStateError(f"provider {name} cannot {verb} tasks")
    return provider


def execute(session: FlowSession, argv: list[str]) -> None:
    """Pauses the task and prints one line.

    Raises:
        TaskNotFoundError: No task has that id.
        TaskStateError: The provider cannot pause, or the task has ended.
    """
    args = build_parser().parse_line_args(argv)
    task_id = args.task
    changed = pausable(session, "pause", task_id, args.provider).pause_task(task_id)
    emit(f"task {task_id} paused" if changed else f"task {task_id} was already paused")
