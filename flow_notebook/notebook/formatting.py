"""Plain-text rendering of tasks: one-line outcomes, aligned tables, detail blocks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.listing import ListedTask

_LIST_COLUMNS = ("ID", "PROVIDER", "NAME", "STATUS", "INSTANCE", "CREATED", "RUNTIME")


def format_duration(seconds: float | None) -> str:
    """Returns ``seconds`` as ``45s``, ``3m 05s`` or ``2h 03m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def format_time(moment: datetime | None) -> str:
    """Returns a timestamp in local time to the second; ``-`` when unknown."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def outcome_line(task: Task) -> str:
    """Returns one line saying how the task ended (or where it stands)."""
    if task.status is TaskStatus.FAILED:
        detail = f"exit {task.exit_code}" if task.exit_code is not None else task.message
        return f"task {task.task_id} failed" + (f" ({detail})" if detail else "")
    if task.status is TaskStatus.COMPLETED:
        return f"task {task.task_id} completed in {format_duration(task.runtime_seconds())}"
    return f"task {task.task_id} {task.status.value}"


def follow_hint(task_id: str) -> str:
    """Returns the commands that reattach to a task or stop it."""
    return f"%flow logs {task_id} --follow to watch it, %flow cancel {task_id} to stop it"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Returns rows as a left-aligned table with a header line, columns two spaces apart."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def task_table(tasks: Sequence[ListedTask]) -> str:
    """Returns the ``%flow list`` table of ``tasks``, with the provider of each."""
    rows = [
        (
            task.task_id,
            provider,
            task.name,
            task.status.value,
            task.instance_type or "-",
            format_time(task.created_at),
            format_duration(task.runtime_seconds()),
        )
        for provider, task in ((listed.provider, listed.task) for listed in tasks)
    ]
    return table(rows, _LIST_COLUMNS)


def task_details(task: Task) -> str:
    """Returns the ``%flow status TASK`` block: one ``label: value`` line per known fact."""
    cost = task.cost_so_far()
    facts = [
        ("task", task.task_id),
        ("name", task.name),
        ("status", task.status.value),
        ("provider", task.provider),
        ("instance", _instance_text(task)),
        ("region", task.region),
        ("command", task.command),
        ("image", task.metadata.get("image")),
        ("created", format_time(task.created_at)),
        ("started", format_time(task.started_at) if task.started_at else None),
        ("ended", format_time(task.completed_at) if task.completed_at else None),
        ("runtime", format_duration(task.runtime_seconds())),
        ("exit code", None if task.exit_code is None else str(task.exit_code)),
        ("cost", None if cost is None else f"${cost:.2f}"),
        ("message", task.message),
        ("ssh", task.ssh_command()),
    ]
    shown = [(label, value) for label, value in facts if value]
    width = max(len(label) for label, _ in shown)
    return "\n".join(f"{label + ':':<{width + 1}} {value}" for label, value in shown)


def _instance_text(task: Task) -> str | None:
    if not task.instance_type:
        return None
    if task.num_instances > 1:
        return f"{task.num_instances} x {task.instance_type}"
    return task.instance_type


def count_noun(count: int, noun: str, plural: str | None = None) -> str:
    """Returns ``"1 task"`` / ``"2 tasks"``: the count with the noun agreeing with it."""
    word = noun if count == 1 else (plural or f"{noun}s")
    return f"{count:,} {word}"
