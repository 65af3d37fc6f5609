"""Escaped HTML and plain-text building blocks shared by the panels' fallbacks.

Every value that comes from a provider or a user passes through ``html.escape``;
markup is built from fixed templates only.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from flow_notebook.core.models import Task, TaskStatus

STATUS_COLOURS: dict[TaskStatus, str] = {
    TaskStatus.PENDING: "#8a6d00",
    TaskStatus.PROVISIONING: "#8a6d00",
    TaskStatus.RUNNING: "#1a7f37",
    TaskStatus.PAUSED: "#6e7781",
    TaskStatus.PREEMPTING: "#bc4c00",
    TaskStatus.COMPLETED: "#0969da",
    TaskStatus.FAILED: "#cf222e",
    TaskStatus.CANCELLED: "#6e7781",
}

_TABLE_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL_STYLE = "padding:2px 8px;text-align:left"


def escape(value: object) -> str:
    """Returns ``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def status_html(status: TaskStatus) -> str:
    """Returns the status word in its colour, bold."""
    colour = STATUS_COLOURS.get(status, "#000000")
    return f'<b style="color:{colour}">{escape(status.value)}</b>'


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    raw_columns: frozenset[int] = frozenset(),
    css_class: str = "flow-table",
) -> str:
    """Returns an HTML table; every cell is escaped except those in ``raw_columns``.

    Args:
        headers: Column titles.
        rows: Cell texts, one sequence per row.
        raw_columns: Indexes of columns whose cells are already safe HTML (built by
            functions of this module, such as ``status_html``).
        css_class: Class of the table element, for tests and styling.

    Returns:
        The markup.
    """
    head = "".join(f'<th style="{_CELL_STYLE}">{escape(h)}</th>' for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td style="{_CELL_STYLE}">{cell if index in raw_columns else escape(cell)}</td>'
            for index, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="{escape(css_class)}" style="{_TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def money(value: float | None, *, per_hour: bool = False) -> str:
    """Returns dollars as ``$1.23`` (``$1.23/h`` per hour); ``-`` when unknown."""
    if value is None:
        return "-"
    return f"${value:,.2f}" + ("/h" if per_hour else "")


def paid_price(task: Task) -> str:
    """Returns what the task pays per hour: ``$2.00/h`` (spot while allocated).

    When only the bid's limit is known (before allocation, after the end), the price is
    at most the limit: ``≤$2.20/h``. ``-`` when unknown.
    """
    text = money(task.cost_per_hour, per_hour=True)
    at_most = task.cost_per_hour is not None and task.metadata.get("price_basis") == "limit"
    return f"≤{text}" if at_most else text


def bid_limit(task: Task) -> str:
    """Returns the bid's limit for all instances, ``$2.20/h``, or ``-`` (no bid)."""
    limit = task.metadata.get("limit_per_hour")
    return money(limit if isinstance(limit, int | float) else None, per_hour=True)


def widgets_available() -> bool:
    """Whether this kernel can show ipywidgets: it is importable and a kernel is running.

    Terminal IPython and plain Python have no widget frontend, so they get text.
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return False
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def use_widgets(text: bool = False) -> bool:
    """Whether to draw with widgets: not asked for text, and the frontend has them."""
    return not text and widgets_available()


def display(panel: object) -> None:
    """Shows ``panel`` in the current cell."""
    from IPython.display import display as ipython_display

    ipython_display(panel)
