"""``%%flow run [options]``: the cell body runs as a task, its output pinned to the cell.

The cell becomes a script (Python, or bash with ``--bash``) that runs in the task's
working directory, where the notebook's directory (or ``--code PATH``) was synced.
The cell returns at once with a live view that a background thread keeps updating,
also while other cells run; ``--wait`` blocks until the task ends and turns a failure
into one line. Everything that can be checked (options, ``--push`` values, the code
directory) is checked before anything is submitted.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pydantic import SecretStr

from flow_notebook.core.config import flow_home
from flow_notebook.core.models import Task, TaskConfig
from flow_notebook.notebook.arguments import (
    FlowArgumentParser,
    add_cell_options,
    add_output_options,
    add_provider_option,
    add_resource_options,
    task_config_from_args,
)
from flow_notebook.notebook.cellfinish import CellFinisher
from flow_notebook.notebook.cellscript import (
    PULL_KEY_ENV,
    CellScript,
    build_cell_script,
    pack_variables,
    parse_names,
)
from flow_notebook.notebook.commands.run import submit, volume_id_check
from flow_notebook.notebook.follow import Follow
from flow_notebook.notebook.notebook_tasks import TaskRecord, notebook_key
from flow_notebook.notebook.pinned import block_until_done, follow_in_cell, raise_on_failure
from flow_notebook.notebook.provenance import Provenance, capture, default_code_root
from flow_notebook.notebook.pull_keys import pull_key
from flow_notebook.notebook.redact import redactor_for
from flow_notebook.notebook.session import FlowSession

DEFAULT_CELL_TASK_NAME = "flow-cell"
_DESCRIPTION = (
    "Run the cell as a task: Python by default, bash with --bash, in the task's working "
    "directory where the notebook's directory (or --code PATH) was synced. The output "
    "stays in this cell while the task runs; --wait blocks until it ends."
)


def build_cell_parser() -> FlowArgumentParser:
    """Returns the parser of ``%%flow run``'s options."""
    parser = FlowArgumentParser(prog="%%flow run", description=_DESCRIPTION)
    add_provider_option(parser)
    add_resource_options(parser)
    add_output_options(parser)
    add_cell_options(parser)
    return parser


@dataclass(frozen=True)
class CellPlan:
    """A cell checked and ready to submit.

    Attributes:
        config: The task configuration.
        cell: The script and where pulled values will be.
        pull: Names to bring back.
        provenance: The code sent, when code is sent.
        prompted: Secret values typed at a prompt (to mask; never stored).
    """

    config: TaskConfig
    cell: CellScript
    pull: list[str]
    provenance: Provenance | None
    prompted: list[str]


def execute_cell(session: FlowSession, argv: list[str], body: str) -> None:
    """Submits the cell and shows its live view; with ``--wait``, blocks until it ends.

    Raises:
        UsageError: Bad options.
        TaskFailedError: With ``--wait``, the task failed (one line).
        FlowError: Bad input or a provider error (the dispatcher makes it one line).
    """
    args = build_cell_parser().parse_line_args(argv)
    plan = plan_cell(session, args, body)
    task = submit(session, plan.config, gpu=args.gpu, announce=False, provider=args.provider)
    _remember(session, task, plan)
    if getattr(args, "max_cost", None) is not None:
        from flow_notebook.notebook.widgets.cost import watch_cost

        watch_cost(session, task, args.max_cost)
    follower = start_follower(session, task, plan, keep_kb=args.keep_kb)
    if not (args.wait or args.follow):
        return
    summary = block_until_done(follower, timeout=args.timeout, on_interrupt=args.on_interrupt)
    raise_on_failure(summary, getattr(follower.finisher, "pull_problem", None), lost=follower.error)


def plan_cell(session: FlowSession, args: argparse.Namespace, body: str) -> CellPlan:
    """Checks everything about the cell and builds its task configuration.

    Raises:
        ValidationError: A bad option value, a missing or unpicklable ``--push``
            variable, an empty cell, or a code directory that cannot be sent.
    """
    push = parse_names(args.push, "--push")
    pull = parse_names(args.pull, "--pull")
    pushed = pack_variables(session.user_ns, push) if push else None
    cell = build_cell_script(body, bash=args.bash, pushed=pushed, pull=pull)
    upload = args.upload is not False
    root = Path(args.code).expanduser() if args.code else default_code_root(session.user_ns)
    provenance = capture(root.resolve(), exclude=[flow_home()]) if upload else None
    prompted: list[str] = []
    ask = session.secret_prompt

    def prompt(name: str) -> str:
        value = ask(name) if ask is not None else ""
        prompted.append(value)
        return value

    config = task_config_from_args(
        args,
        script=cell.script,
        prompt=prompt if ask is not None else None,
        is_volume_id=volume_id_check(session, args.provider),
    )
    if cell.pull_file:
        # Signs the values the task sends back; it travels as a secret, never printed.
        config.secrets[PULL_KEY_ENV] = SecretStr(pull_key(cell.pull_file).hex())
    config.interpreter = cell.interpreter
    config.upload_code = upload
    config.code_root = root.resolve() if upload else None
    if args.name is None:
        config.name = DEFAULT_CELL_TASK_NAME
    return CellPlan(config, cell, pull, provenance, prompted)


def start_follower(
    session: FlowSession, task: Task, plan: CellPlan, *, keep_kb: int | None
) -> Follow:
    """Opens the cell's live view and follows the task into it on a background thread."""
    metadata: dict[str, object] = {"name": task.name}
    facts: list[str] = []
    if plan.provenance is not None:
        metadata.update(plan.provenance.metadata())
        facts.append(plan.provenance.one_line())
    finisher = CellFinisher(
        session,
        facts,
        pull_names=plan.pull,
        pull_file=plan.cell.pull_file,
        provenance=plan.provenance,
        working_dir=plan.config.working_dir,
    )
    redact = redactor_for(plan.config.secrets, known=plan.config.secret_values().values())
    return follow_in_cell(
        session, task, finisher, metadata=metadata, redact=redact, keep_kb=keep_kb, start={}
    )


def _remember(session: FlowSession, task: Task, plan: CellPlan) -> None:
    if plan.config.secrets:
        session.known_secrets[task.task_id] = list(plan.config.secret_values().values())
    prov = plan.provenance
    record = TaskRecord(
        task_id=task.task_id,
        name=task.name,
        provider=session.owner_name(task.task_id) or session.default_name,
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        code_root=str(prov.code_root) if prov else None,
        code_digest=prov.digest if prov else None,
        git_commit=prov.git_commit if prov else None,
        git_dirty=prov.git_dirty if prov else False,
        synced_at=prov.synced_at if prov else None,
        secret_names=sorted(plan.config.secrets),
        pull_names=plan.pull,
        pull_file=plan.cell.pull_file,
        working_dir=plan.config.working_dir,
    )
    session.tasks.add(notebook_key(session.user_ns), record)
