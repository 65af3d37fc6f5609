"""``%flow ssh [TASK] [--config]``: the ssh command that logs in to a task's first instance.

The printed command works as pasted (key, port, trusted host-key file). ``--config``
writes a ``Host flow-TASK`` entry into ``<FLOW_HOME>/ssh/config`` instead (see
``notebook.ssh_login``).
"""

from __future__ import annotations

from flow_notebook.core.config import flow_home
from flow_notebook.core.errors import TaskStateError
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.status import add_task_argument, task_id_or_last
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.ssh_login import (
    CONFIG_FILE,
    config_entry,
    host_alias,
    login_command,
    write_config_entry,
)

NAME = "ssh"
SUMMARY = "print the ssh command that reaches a task's instance"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow ssh``."""
    parser = make_parser(
        NAME,
        "Print the ssh command that logs in to the task's first instance, ready to paste "
        "into a terminal.",
    )
    add_task_argument(parser, required=False)
    parser.add_argument(
        "--config",
        action="store_true",
        help="write a 'Host flow-TASK' entry into FLOW_HOME/ssh/config instead",
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the ssh command, or writes its ``Host`` entry with ``--config``.

    Raises:
        TaskNotFoundError: No task has that id.
        TaskStateError: The task has no SSH access (yet, or ever).
    """
    args = build_parser().parse_line_args(argv)
    task_id = task_id_or_last(session, args.task)
    provider = session.provider_of(task_id, args.provider)
    command = login_command(provider, task_id)
    if command and args.config:
        alias = host_alias(task_id)
        path = flow_home() / CONFIG_FILE
        write_config_entry(path, alias, config_entry(alias, command))
        emit(
            f"wrote Host {alias} to {path}; connect with: ssh -F {path} {alias} "
            f"(or add 'Include {path}' at the top of ~/.ssh/config once, then: ssh {alias})"
        )
        return
    if command:
        emit(command)
        return
    task = provider.get_task(task_id)
    if provider.get_capabilities().runs_on_this_machine:
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
