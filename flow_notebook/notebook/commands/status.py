"""``%flow status [TASK]``: one task in detail (default: the last task this kernel started)."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError

from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import task_details
from flow_notebook.notebook.session import FlowSession

NAME = "status"
SUMMARY = "show one task in detail (default: the last task started here)"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow status``."""
    parser = make_parser(NAME, "Show one task in detail: status, times, exit code, cost.")
    add_task_argument(parser, required=False)
    return parser


def add_task_argument(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Adds the TASK positional, optional when it defaults to the last task started."""
    if required:
        parser.add_argument("task", metavar="TASK", help="task id (see %%flow list)")
    else:
        parser.add_argument(
            "task", metavar="TASK", nargs="?", help="task id (default: the last task started here)"
        )


def task_id_or_last(session: FlowSession, task_id: str | None) -> str:
    """Returns ``task_id``, or the last task this kernel started.

    Raises:
        UsageError: No id was given and no task was started in this kernel.
    """
    if task_id:
        return task_id
    if session.last_task_id is None:
        raise UsageError("no task started in this kernel yet: give a TASK id (see %flow list)")
    return session.last_task_id


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the task's details.

    Raises:
        TaskNotFoundError: No task has that id.
    """
    args = build_parser().parse_line_args(argv)
    task_id = task_id_or_last(session, args.task)
    task = session.provider_of(task_id, args.provider).get_task(task_id)
    emit(task_details(task))
