"""``%flow tasks --notebook``: the tasks this notebook started, with the code they got."""

from __future__ import annotations

from flow_notebook.core.errors import FlowError
from flow_notebook.notebook.arguments import FlowArgumentParser, make_parser
from flow_notebook.notebook.commands.list import show_listing
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.formatting import table
from flow_notebook.notebook.notebook_tasks import notebook_key
from flow_notebook.notebook.session import FlowSession

NAME = "tasks"
SUMMARY = "tasks of this notebook (--notebook), with their code digest and git commit"
_COLUMNS = ("ID", "PROVIDER", "NAME", "STATUS", "STARTED", "CODE", "GIT")


def build_parser() -> FlowArgumentParser:
    """Returns the parser of ``%flow tasks``."""
    parser = make_parser(
        NAME,
        "With --notebook, list the tasks this notebook started (kept across kernel "
        "restarts), oldest first; without it, list the recent tasks of every configured "
        "provider (as %flow list does).",
    )
    parser.add_argument(
        "--notebook", action="store_true", help="only the tasks this notebook started"
    )
    return parser


def execute(session: FlowSession, argv: list[str]) -> None:
    """Prints the table, or ``no tasks``."""
    args = build_parser().parse_line_args(argv)
    if not args.notebook:
        show_listing(session, args.provider, status=None, limit=20)
        return
    records = session.tasks.for_notebook(notebook_key(session.user_ns))
    if args.provider:
        session.provider_named(args.provider)  # An unknown name is an error, not "no tasks".
        wanted = args.provider.strip().lower()
        records = [r for r in records if session.owner_name(r.task_id) == wanted]
    if not records:
        emit("no tasks started from this notebook")
        return
    rows = [
        (
            record.task_id,
            session.owner_name(record.task_id) or session.default_name,
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
        return session.provider_of(task_id).get_task(task_id).status.value
    except FlowError:
        return "unknown"  # A provider that cannot be reached now, or a task it forgot.


def _git(commit: str | None, dirty: bool) -> str:
    if not commit:
        return "-"
    return commit[:7] + ("+" if dirty else "")
