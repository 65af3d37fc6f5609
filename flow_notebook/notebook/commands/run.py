"""``%flow run [options] -- COMMAND...``: submit a command as a task."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from IPython.core.error import UsageError

from flow_notebook.core.models import Task, TaskConfig
from flow_notebook.notebook.arguments import (
    FlowArgumentParser,
    add_output_options,
    add_resource_options,
    command_value,
    make_parser,
    split_command,
    task_config_from_args,
)
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import follow_hint
from flow_notebook.notebook.notebook_tasks import TaskRecord, notebook_key
from flow_notebook.notebook.pinned import block_until_done, follow_in_cell, wait_quietly
from flow_notebook.notebook.reserving import reservable, reservation_hint
from flow_notebook.notebook.session import FlowSession

NAME = "run"
SUMMARY = "submit a command as a task: %flow run [options] -- COMMAND..."
_DESCRIPTION = (
    "Submit COMMAND (everything after --) as a task and return the Task, e.g. "
    "task = %flow run --gpu a100 --follow -- python train.py. One quoted word with spaces "
    "runs as a shell line (bash -c). Like other IPython magics, {expr} and $name in the "
    "line expand from the notebook's variables; write {{ }} or $$ for literal ones."
)


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow run``'s options (the part before ``--``)."""
    parser = make_parser(NAME, _DESCRIPTION)
    add_resource_options(parser)
    add_output_options(parser)
    return parser


def execute(session: FlowSession, argv: list[str]) -> Task:
    """Submits the task, prints one line about it, and follows or waits if asked.

    Returns:
        The task: as submitted, or as last seen after ``--follow``/``--wait``.

    Raises:
        UsageError: Malformed options or no command.
        FlowError: The provider refused or failed.
    """
    options, command = split_command(argv)
    if "--" not in argv and not {"-h", "--help"} & set(argv):
        raise UsageError("%flow run: put the command after --, e.g. %flow run -- python train.py")
    args = build_parser().parse_line_args(options)
    if not command:
        raise UsageError("%flow run: nothing to run after --, e.g. %flow run -- python train.py")
    config = task_config_from_args(
        args,
        command=command_value(command),
        prompt=session.secret_prompt,
        is_volume_id=volume_id_check(session, args.provider),
    )
    task = submit(session, config, gpu=args.gpu, provider=args.provider)
    if config.secrets:
        remember_secrets(session, task, config)
    if args.max_cost is not None:
        from flow_notebook.notebook.widgets.cost import watch_cost

        watch_cost(session, task, args.max_cost)
    if args.follow:
        follow = follow_in_cell(session, task, plain=True, keep_kb=args.keep_kb, start={})
        block_until_done(follow, timeout=args.timeout, on_interrupt=args.on_interrupt)
        return follow.task
    if args.wait:
        return wait_quietly(
            session, task.task_id, timeout=args.timeout, on_interrupt=args.on_interrupt
        )
    return task


def remember_secrets(session: FlowSession, task: Task, config: TaskConfig) -> None:
    """Keeps the secret values for this kernel and their names for any later one.

    A later kernel (``%flow logs`` after a restart) masks the named variables'
    values from its environment; the values themselves are never stored.
    """
    session.known_secrets[task.task_id] = list(config.secret_values().values())
    session.tasks.update(task.task_id, secret_names=sorted(config.secrets))


def volume_id_check(
    session: FlowSession, provider: str | None = None
) -> Callable[[str], bool] | None:
    """Returns the provider's volume-id test, when it has one (for ``--volume``)."""
    return getattr(session.provider_named(provider), "is_volume_id", None)


def submit(
    session: FlowSession,
    config: TaskConfig,
    *,
    gpu: str | None = None,
    announce: bool = True,
    provider: str | None = None,
) -> Task:
    """Submits ``config`` and prints the one-line receipt.

    The task is recorded as this notebook's, with the provider it belongs to, so
    later subcommands (also in a new kernel) reach that provider without
    ``--provider``.

    Args:
        session: Supplies the provider; remembers the task as the last one.
        config: What to run.
        gpu: The user's GPU/instance spec (``a100``, ``8xh100``), resolved by the provider.
        announce: Print the receipt line (a cell's live view shows it instead).
        provider: The provider's name (``--provider``); ``None``: the default one.

    Returns:
        The submitted task.
    """
    target = session.provider_named(provider)
    if config.reservation_id:
        reservable(session, provider)  # refused in one line where reservations do not exist
    if gpu:
        config.instance_type = target.resolve_instance_type(gpu)
    config = target.prepare_task_config(config)
    if gpu:  # only a run that names a GPU type may mean a reserved one
        reservation_hint(session, target, config)
    task = target.submit_task(config.instance_type or "", config)
    owner = session.claim(task.task_id, provider)
    session.last_task_id = task.task_id
    record = TaskRecord(
        task_id=task.task_id,
        name=task.name,
        provider=owner,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    session.tasks.add(notebook_key(session.user_ns or {}), record)
    if announce:
        receipt = f"task {task.task_id} ({task.name}) {task.status.value}"
        emit(f"{receipt}: {follow_hint(task.task_id)}")
    return task
