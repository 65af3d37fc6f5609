"""``%flow tasks --notebook``: the tasks this notebook started, with the code they got."""

from __future__ import annotations

from flow_notebook.core.errors import FlowError
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import table, task_table
from flow_notebook.notebook.notebook_tasks import notebook_key
from flow_notebook.notebook.session import FlowSession

NAME = "tasks"
SUMMARY = "tasks of this notebook (--notebook), with their code digest and git commit"
_COLUMNS = ("ID", "NAME", "STATUS", "STARTED", "CODE", "GIT")


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow tasks``."""
    parser = make_parser(
        NAME,
        "With --notebook, list the tasks this notebook started (kept across kernel "
        "restarts), oldest first; without it, list the provider's recent tasks.",
    )
    parser.add_argument(
        "--notebook", action="store_true", help="only the tasks this notebook started"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the table, or ``no tasks``."""
    args = build_parser().parse_line_args(argv)
    if not args.notebook:
        found = session.provider.list_tasks(limit=20)
        emit(task_table(found) if found else "no tasks")
        return
    records = session.tasks.for_notebook(notebook_key(session.user_ns))
    if not records:
        emit("no tasks started from this notebook")
        return
    rows = [
        (
            record.task_id,
            record.name,
            _status(session, record.task_id),
            record.started_at.replace("T", " ").split("+")[0] or "-",
            (record.code_digest or "-")[:12],
            _git(record.git_commit, record.git_dirty),
        )
        for record in records
    ]
    emit(table(rows, _COLUMNS))


def _status(session: FlowSession, task_id: str) -> str:
    try:
        return session.provider.get_task(task_id).status.value
    except FlowError:
        return "unknown"  # Another provider's task, or one the provider forgot.


def _git(commit: str | None, dirty: bool) -> str:
    if not commit:
        return "-"
    return commit[:7] + ("+" if dirty else "")
