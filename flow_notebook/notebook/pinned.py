"""Starting a cell's live view and its follower; turning a failed end into one line."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.background import Finisher, TaskFollower
from flow_notebook.notebook.live import DEFAULT_KEEP_KB, LiveView
from flow_notebook.notebook.render import RunSummary, log_hint
from flow_notebook.notebook.session import FlowSession


def follow_in_cell(
    session: FlowSession,
    task: Task,
    finisher: Finisher,
    *,
    facts: list[str],
    metadata: dict[str, Any],
    redact: Any = str,
    keep_kb: int | None = None,
    start_line: int = 0,
) -> TaskFollower:
    """Shows the task's live view in the current cell and follows it in the background.

    An earlier follower of the same task in this kernel is detached first, so its
    shown lines are recorded before this one reads the resume point.

    Args:
        session: Supplies the provider, positions, surfaces and the follower registry.
        task: The task as last seen.
        finisher: Builds the summary that replaces the view.
        facts: Lines shown after the title and in the summary (provenance).
        metadata: Output metadata of the view (provenance, task id).
        redact: Masks secrets in each line.
        keep_kb: Output kept in the notebook (default ``DEFAULT_KEEP_KB``).
        start_line: Log lines already shown elsewhere.

    Returns:
        The started follower.
    """
    title = " · ".join([_head(task, start_line), *facts])
    view = LiveView(
        session.make_surface({"task_id": task.task_id, "provider": task.provider, **metadata}),
        task_id=task.task_id,
        title=title,
        keep_kb=keep_kb or DEFAULT_KEEP_KB,
        start_line=start_line,
        on_shown=lambda shown: session.positions.set(task.task_id, shown),
    )
    view.open()
    follower = TaskFollower(
        session.provider,
        task,
        view,
        finisher,
        timing=session.timing,
        redact=redact,
        start_line=start_line,
    )
    session.followers.add(follower)
    return follower.start()


def detach_previous(session: FlowSession, task_id: str) -> None:
    """Detaches this kernel's follower of ``task_id`` (its lines are then recorded)."""
    old = session.followers.get(task_id)
    if old is not None and not old.done:
        old.detach("following moved to a newer cell")


def raise_on_failure(summary: RunSummary | None, pull_problem: str | None = None) -> None:
    """Raises one line when a waited-for task failed or its ``--pull`` did not work.

    With ``--pull`` it is an error whenever the values did not come back, also when
    the follow stopped (detached, timed out, the API unavailable) before the end.

    Raises:
        UsageError: ``task ID failed (exit N): last | lines; full log: ...``.
    """
    if summary is not None and summary.note and pull_problem:
        raise UsageError(f"{pull_problem}; {summary.note}")
    if summary is None or summary.note:
        return  # Detached, timed out or cancelled on request: the view says so.
    task = summary.task
    if task.status is TaskStatus.FAILED:
        code = f" (exit {task.exit_code})" if task.exit_code is not None else ""
        last = " | ".join(line.strip() for line in summary.lines[-3:] if line.strip())
        tail = f": {last[-300:]}" if last else ""
        raise UsageError(f"task {task.task_id} failed{code}{tail}; {log_hint(task.task_id)}")
    if pull_problem:
        raise UsageError(f"task {task.task_id} {task.status.value}; {pull_problem}")


def _head(task: Task, start_line: int) -> str:
    where = f" on {task.instance_type}" if task.instance_type else ""
    head = f"task {task.task_id} ({task.name}) {task.status.value}{where}"
    if start_line:
        head += f" · resuming after {start_line} lines"
    return head
