"""What a cell that runs a task shows: the live view and the static summary.

Every view is a MIME bundle with ``text/plain`` (terminal IPython, nbconvert, nbval
and GitHub read it) and ``text/html`` (JupyterLab and other rich frontends). Both are
plain data: a saved notebook shows them without a kernel or a widget manager.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.formatting import format_duration

_COLOURS = {
    TaskStatus.COMPLETED: "#1a7f37",
    TaskStatus.FAILED: "#cf222e",
    TaskStatus.CANCELLED: "#6e7781",
}
_RUNNING_COLOUR = "#0969da"
_BOX = "border-left:3px solid {colour};padding:2px 8px;margin:2px 0"
_PRE = "margin:4px 0;max-height:24em;overflow:auto;white-space:pre-wrap"


@dataclass
class LiveState:
    """A task's view while it runs.

    Attributes:
        task_id: The task.
        title: First line, e.g. ``task local-1 (train) running on cpu-2``.
        lines: The output lines kept (the newest ``keep_kb``).
        dropped: Earlier lines shown but no longer kept.
    """

    task_id: str
    title: str
    lines: Sequence[str] = ()
    dropped: int = 0


@dataclass
class RunSummary:
    """A task's view once following ended (the task ended, or we stopped watching).

    Attributes:
        task: The task as last seen.
        lines: The last output lines kept.
        dropped: Earlier lines not kept in the notebook.
        facts: Extra lines: code provenance, pulled variables, warnings.
        note: How it ended for this cell (e.g. detached, and how to attach again).
    """

    task: Task
    lines: Sequence[str] = ()
    dropped: int = 0
    facts: list[str] = field(default_factory=list)
    note: str | None = None


def status_line(task: Task) -> str:
    """Returns ``task ID (NAME) STATUS · exit N · 3s · $0.01``."""
    parts = [f"task {task.task_id} ({task.name}) {task.status.value}"]
    if task.exit_code is not None:
        parts.append(f"exit {task.exit_code}")
    runtime = task.runtime_seconds()
    if runtime is not None:
        parts.append(format_duration(runtime))
    cost = task.cost_so_far()
    if cost is not None:
        parts.append(f"${cost:.2f}")
    return " · ".join(parts)


def log_hint(task_id: str) -> str:
    """Returns where the full log is."""
    return f"full log: %flow logs {task_id} --tail 10000"


def live_bundle(state: LiveState) -> dict[str, str]:
    """Returns the live view as a MIME bundle."""
    notice = _dropped_notice(state.dropped, state.task_id)
    plain = "\n".join([state.title, *([notice] if notice else []), *state.lines])
    body = _pre(state.lines, notice)
    title = f"<div><b>{html.escape(state.title)}</b></div>"
    return {
        "text/plain": plain,
        "text/html": f'<div style="{_BOX.format(colour=_RUNNING_COLOUR)}">{title}{body}</div>',
    }


def summary_bundle(summary: RunSummary) -> dict[str, str]:
    """Returns the static summary as a MIME bundle."""
    notice = _dropped_notice(summary.dropped, summary.task.task_id)
    head = status_line(summary.task)
    tail = summary_footer(summary)[1:]
    plain = "\n".join([head, *([notice] if notice else []), *summary.lines, *tail])
    colour = _COLOURS.get(summary.task.status, _RUNNING_COLOUR)
    facts = "".join(f"<div>{html.escape(line)}</div>" for line in tail)
    return {
        "text/plain": plain,
        "text/html": (
            f'<div style="{_BOX.format(colour=colour)}"><div><b>{html.escape(head)}</b></div>'
            f"{_pre(summary.lines, notice)}{facts}</div>"
        ),
    }


def summary_footer(summary: RunSummary) -> list[str]:
    """Returns the summary without the output lines: status, facts, note, log hint."""
    lines = [status_line(summary.task), *summary.facts]
    if summary.note:
        lines.append(summary.note)
    lines.append(log_hint(summary.task.task_id))
    return lines


def _dropped_notice(dropped: int, task_id: str) -> str | None:
    if not dropped:
        return None
    return f"... {dropped} earlier lines not kept here (%flow logs {task_id} --tail 10000)"


def _pre(lines: Sequence[str], notice: str | None) -> str:
    if not lines and not notice:
        return ""
    text = "\n".join([*([notice] if notice else []), *lines])
    return f'<pre style="{_PRE}">{html.escape(text)}</pre>'
