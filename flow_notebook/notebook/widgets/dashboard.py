"""The dashboard's logic: task rows, the status filter, cancel; and its text renderer.

``DashboardModel`` computes rows from the tasks of every provider it is given, side
by side with a provider column (a provider that fails is one line in ``problems``
and hides no other); ``DashboardView`` turns a refresh into ``_draw(rows)``, the only
hook a renderer overrides (``TextDashboard`` here, ``WidgetDashboard`` in
``dashboard_widget``).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task, TaskStatus, utcnow
from flow_notebook.core.provider_interfaces import IProvider
from flow_notebook.notebook.formatting import format_duration, table
from flow_notebook.notebook.listing import ProviderSources, list_everywhere
from flow_notebook.notebook.widgets.html import (
    bid_limit,
    html_table,
    money,
    paid_price,
    status_html,
)

HEADERS = (
    "ID",
    "PROVIDER",
    "NAME",
    "STATUS",
    "INSTANCE",
    "REGION",
    "RUNTIME",
    "$/HOUR",
    "LIMIT",
    "COST",
)
STATUS_COLUMN = HEADERS.index("STATUS")


@dataclass(frozen=True)
class TaskRow:
    """One task as the dashboard shows it.

    Attributes:
        task_id: The task's id.
        provider: The name of the provider it runs on.
        name: The task's name.
        status: Its status.
        instance_type: Instance type, ``N x type`` for several instances.
        region: Region or ``-``.
        runtime: How long it has run, e.g. ``3m 05s``.
        cost_per_hour: Price paid for all instances, e.g. ``$1.20/h`` (the spot
            price while allocated), ``≤$1.32/h`` when only the bid's limit is known, or ``-``.
        limit: The bid's limit price for all instances, or ``-``.
        cost_so_far: Dollars accrued so far, or ``-``.
        ssh_command: The ssh command that reaches it, or ``None``.
    """

    task_id: str
    provider: str
    name: str
    status: TaskStatus
    instance_type: str
    region: str
    runtime: str
    cost_per_hour: str
    limit: str
    cost_so_far: str
    ssh_command: str | None

    @classmethod
    def from_task(cls, task: Task, now: datetime, provider: str) -> TaskRow:
        """Builds the row of ``task``, listed from provider ``provider``, as of ``now``."""
        instance = task.instance_type or "-"
        if task.num_instances > 1:
            instance = f"{task.num_instances} x {instance}"
        return cls(
            task_id=task.task_id,
            provider=provider,
            name=task.name,
            status=task.status,
            instance_type=instance,
            region=task.region or "-",
            runtime=format_duration(task.runtime_seconds(now)),
            cost_per_hour=paid_price(task),
            limit=bid_limit(task),
            cost_so_far=_cost(task, now),
            ssh_command=task.ssh_command(),
        )

    @property
    def cancellable(self) -> bool:
        """Whether the task can still be cancelled."""
        return not self.status.is_terminal

    def cells(self) -> tuple[str, ...]:
        """Returns the row's texts in ``HEADERS`` order."""
        return (
            self.task_id,
            self.provider,
            self.name,
            self.status.value,
            self.instance_type,
            self.region,
            self.runtime,
            self.cost_per_hour,
            self.limit,
            self.cost_so_far,
        )


def _cost(task: Task, now: datetime) -> str:
    text = money(task.cost_so_far(now))
    at_most = text != "-" and task.metadata.get("price_basis") == "limit"
    return f"≤{text}" if at_most else text


class DashboardModel:
    """Computes the dashboard's rows and carries out its actions.

    Args:
        sources: Returns the providers to list, by name (called on every refresh, so
            a provider used in between is listed too), e.g. ``FlowSession.each_provider``
            or ``listing.single(provider)``.
        limit: Most tasks shown.
        clock: Returns "now", for runtimes and costs.
        on_listed: Called with each listed task's id and provider name (the session
            routes the task's later commands to that provider).
    """

    def __init__(
        self,
        sources: ProviderSources,
        *,
        limit: int = 50,
        clock: Callable[[], datetime] = utcnow,
        on_listed: Callable[[str, str], object] | None = None,
    ) -> None:
        self._sources = sources
        self.limit = limit
        self._clock = clock
        self._on_listed = on_listed
        self._providers: dict[str, IProvider] = {}
        self.status_filter: TaskStatus | None = None
        self.rows: list[TaskRow] = []
        self.problems: list[str] = []

    def refresh(self) -> list[TaskRow]:
        """Fetches the tasks (of the filtered status) and returns their rows, newest first.

        A provider that fails leaves one line in ``problems``; the others' rows show.

        Raises:
            FlowError: Every provider failed; the previous rows stay.
        """
        listing = list_everywhere(
            self._sources(), status=self.status_filter, limit=self.limit, force_refresh=True
        )
        listing.raise_if_none_answered()
        now = self._clock()
        self._providers = listing.providers
        self.problems = listing.problems
        self.rows = [TaskRow.from_task(item.task, now, item.provider) for item in listing.tasks]
        if self._on_listed is not None:
            for row in self.rows:
                self._on_listed(row.task_id, row.provider)
        return self.rows

    def row(self, task_id: str) -> TaskRow | None:
        """Returns the last row seen for ``task_id``."""
        return next((row for row in self.rows if row.task_id == task_id), None)

    def cancel(self, task_id: str) -> str:
        """Cancels the task and returns one line saying what happened."""
        row = self.row(task_id)
        provider = self._providers.get(row.provider) if row else None
        if provider is None:
            return f"cannot cancel {task_id}: it is not in the dashboard's last listing"
        try:
            stopped = provider.cancel_task(task_id)
        except FlowError as exc:
            return f"cannot cancel {task_id}: {exc}"
        return f"cancelled task {task_id}" if stopped else f"task {task_id} had already ended"

    def text(self) -> str:
        """Returns the rows as an aligned plain-text table, then the problem lines."""
        return "\n".join([render_text(self.rows), *self.problems])

    def html(self) -> str:
        """Returns the rows as an escaped HTML table with coloured statuses, then problems."""
        return render_html(self.rows) + problems_html(self.problems)


def render_text(rows: Sequence[TaskRow]) -> str:
    """Returns ``rows`` as the dashboard's plain-text table, or ``no tasks``."""
    return table([row.cells() for row in rows], HEADERS) if rows else "no tasks"


def render_html(rows: Sequence[TaskRow]) -> str:
    """Returns ``rows`` as an HTML table; every value escaped, statuses coloured."""
    if not rows:
        return "<p><i>no tasks</i></p>"
    cells = [
        tuple(status_html(row.status) if i == STATUS_COLUMN else c for i, c in enumerate(cells))
        for cells, row in ((row.cells(), row) for row in rows)
    ]
    return html_table(
        HEADERS, cells, raw_columns=frozenset({STATUS_COLUMN}), css_class="flow-tasks"
    )


def problems_html(problems: Sequence[str]) -> str:
    """Returns the providers that could not list their tasks, one escaped line each."""
    if not problems:
        return ""
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in problems)
    return f"<div class='flow-dashboard-problems' style='color:#cf222e'>{lines}</div>"


class DashboardView:
    """Refreshes the model and hands the rows to ``_draw``; renderers override the hooks.

    Args:
        model: Computes the rows.
    """

    def __init__(self, model: DashboardModel) -> None:
        self.model = model
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Fetches rows and draws them; a provider error is drawn, never raised."""
        with self._lock:
            try:
                rows = self.model.refresh()
            except FlowError as exc:
                self.last_error = str(exc)
                self._draw_error(self.last_error)
                return
            self.last_error = None
            self._draw(rows)

    def _draw(self, rows: list[TaskRow]) -> None:
        raise NotImplementedError

    def _draw_error(self, message: str) -> None:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.model.html()


class TextDashboard(DashboardView):
    """The dashboard as text, for frontends without widgets: drawn once, not refreshed."""

    def __init__(self, model: DashboardModel) -> None:
        super().__init__(model)
        self.text = ""

    def _draw(self, rows: list[TaskRow]) -> None:
        self.text = self.model.text()

    def _draw_error(self, message: str) -> None:
        self.text = f"cannot list tasks: {message}"

    def __repr__(self) -> str:
        return self.text
