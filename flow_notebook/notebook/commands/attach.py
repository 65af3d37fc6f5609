"""``%flow attach TASK``: show a task's output in this cell again, from where it stopped.

After a kernel restart (or a detach) the view resumes after the lines already shown,
as recorded in the log positions: no line is repeated or lost when the provider
supports ``IResumableLogs``. A task started by ``%%flow run --pull`` still brings
its variables back when it ends.
"""

from __future__ import annotations

from pathlib import Path

from IPython.core.error import UsageError

from flow_notebook.core.errors import FlowError
from flow_notebook.notebook.arguments import (
    FlowArgumentParser,
    add_keep_option,
    add_wait_options,
    make_parser,
)
from flow_notebook.notebook.cellfinish import CellFinisher
from flow_notebook.notebook.commands.status import add_task_argument
from flow_notebook.notebook.notebook_tasks import TaskRecord, notebook_key
from flow_notebook.notebook.pinned import block_until_done, follow_in_cell, raise_on_failure
from flow_notebook.notebook.provenance import Provenance
from flow_notebook.notebook.session import FlowSession

NAME = "attach"
SUMMARY = "show a task's output in this cell again, resuming where it stopped"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow attach``."""
    parser = make_parser(
        NAME,
        "Follow a task's output in this cell, after the lines already shown (e.g. after a "
        "kernel restart). The cell returns at once unless --wait is given.",
    )
    add_task_argument(parser, required=False)
    parser.add_argument("--wait", action="store_true", help="block until the task ends")
    add_wait_options(
        parser,
        timeout_help="stop waiting after this long",
        interrupt_help="what interrupting --wait does (default: detach)",
    )
    add_keep_option(parser)
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Opens the live view and follows the task; with ``--wait`` blocks until it ends.

    Without a TASK id: the task this kernel started last, or after a kernel restart
    the last task of this notebook that still runs.

    Raises:
        TaskNotFoundError: No task has that id.
        TaskFailedError: With ``--wait``, the task failed.
    """
    args = build_parser().parse_line_args(argv)
    task_id = args.task or _last_task(session, args.provider)
    task = session.provider_of(task_id, args.provider).get_task(task_id)
    record = session.tasks.find(task_id)
    provenance = _provenance(record)
    facts = [provenance.one_line()] if provenance else []
    finisher = CellFinisher(
        session,
        facts,
        pull_names=record.pull_names if record else None,
        pull_file=record.pull_file if record else None,
        provenance=provenance,
        working_dir=record.working_dir if record else None,
    )
    redact = session.redactor(task_id)
    follower = follow_in_cell(
        session,
        task,
        finisher,
        metadata=provenance.metadata() if provenance else {},
        redact=redact,
        keep_kb=args.keep_kb,
    )
    session.last_task_id = task_id
    if not args.wait:
        return
    summary = block_until_done(follower, timeout=args.timeout, on_interrupt=args.on_interrupt)
    raise_on_failure(summary, finisher.pull_problem, lost=follower.error)


def _last_task(session: FlowSession, provider: str | None) -> str:
    """Returns the task this kernel started last, else this notebook's last running one.

    With ``provider`` (``--provider``), only that provider's tasks count.

    Raises:
        UsageError: Neither exists (the notebook started no task that still runs).
    """
    last = session.last_task_id
    if last is not None and (provider is None or session.owner_name(last) == provider):
        return last
    for record in reversed(session.tasks.for_notebook(notebook_key(session.user_ns))):
        if provider is not None and session.owner_name(record.task_id) != provider:
            continue
        try:
            if not session.provider_of(record.task_id).get_task(record.task_id).is_terminal:
                return record.task_id
        except FlowError:
            continue  # A provider that cannot be reached now, or a task it forgot.
    raise UsageError(
        "no task of this notebook is running: give a TASK id (see %flow tasks --notebook)"
    )


def _provenance(record: TaskRecord | None) -> Provenance | None:
    if record is None or not record.code_digest or not record.code_root:
        return None
    return Provenance(
        Path(record.code_root),
        record.code_digest,
        record.git_commit,
        record.git_dirty,
        record.synced_at or 0.0,
    )
