"""``%flow sync [TASK]``: send what changed in the code directory to a running task."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.core.config import flow_home
from flow_notebook.core.errors import ValidationError
from flow_notebook.core.provider_interfaces import ICodeSync
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.status import add_task_argument, task_id_or_last
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.provenance import default_code_root
from flow_notebook.notebook.session import FlowSession

NAME = "sync"
SUMMARY = "send changed code to a running task (only what changed)"


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow sync``."""
    parser = make_parser(
        NAME,
        "Send the files of the code directory that changed since the last sync to a "
        "running task's working directory; files it no longer has are removed there.",
    )
    add_task_argument(parser, required=False)
    parser.add_argument(
        "--code", metavar="PATH", help="local directory (default: the one the task got)"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Syncs and prints one line with what was sent.

    Raises:
        ValidationError: The provider cannot sync code to a running task.
        TaskStateError: The task has ended.
    """
    args = build_parser().parse_line_args(argv)
    task_id = task_id_or_last(session, args.task)
    provider = session.provider_of(task_id, args.provider)
    if not isinstance(provider, ICodeSync):
        raise ValidationError(
            "this provider cannot send code to a running task",
            suggestion="start a new task to run new code",
        )
    record = session.tasks.find(task_id)
    root = _root(args.code, record.code_root if record else None, session)
    started = time.time()
    result = provider.sync_code(task_id, root)
    digest = str(result.get("digest") or tree_digest(root, exclude=[flow_home()]))
    session.tasks.update(task_id, code_root=str(root), code_digest=digest, synced_at=started)
    emit(_describe(task_id, result, digest))


def _root(explicit: str | None, recorded: str | None, session: FlowSession) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    if recorded:
        return Path(recorded)
    return default_code_root(session.user_ns).resolve()


def _describe(task_id: str, result: dict[str, Any], digest: str) -> str:
    files, size = result.get("files", 0), result.get("bytes", 0)
    text = f"synced {files} changed files ({size} bytes)"
    if "files_total" in result:
        text += f" of {result['files_total']}"
    text += f" to task {task_id}"
    if result.get("deleted"):
        text += f", removed {result['deleted']}"
    return f"{text}; code {digest[:12]}"
