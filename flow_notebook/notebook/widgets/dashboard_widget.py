"""The dashboard drawn with ipywidgets, refreshed on a background thread.

The refresh thread only sets widget values (``HTML.value``, ``Box.children``), which
reach the browser over the widget comm; it never prints, so nothing lands in other
cells. Buttons per task: follow logs, cancel (asks first), show the SSH command.

Layout: one CSS grid holds the header and every row, so a header sits on its column
at every width. Each row is a ``display: contents`` box (its cells are the grid's
items, the box keeps the row's class for styling and tests). Rows are shown a page
at a time and their widgets are reused across refreshes and pages; layouts and
styles are shared by all cells, so a first draw builds one page of widgets only.
A refresh lists only the tasks up to the page shown (plus one, to know whether an
older page exists), so its cost does not grow with the account's history.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.formatting import count_noun
from flow_notebook.notebook.widgets.dashboard import (
    HEADERS,
    STATUS_COLUMN,
    DashboardModel,
    DashboardView,
    TaskRow,
    problems_html,
)
from flow_notebook.notebook.widgets.html import status_html
from flow_notebook.notebook.widgets.poller import Poller
from flow_notebook.notebook.widgets.saved_output import SavedOutput

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
ALL_STATUSES = "all"
_ACTIONS = ("Logs", "Cancel", "SSH")
_GRID_COLUMNS = f"repeat({len(HEADERS) + len(_ACTIONS)}, max-content)"
LogOpener = Callable[[str], Any]
SSHCommand = Callable[[str], str | None]


class _Shared:
    """Layouts and styles shared by every cell and button (one comm each, not one per row)."""

    def __init__(self) -> None:
        import ipywidgets as w
        from ipywidgets.widgets.widget_string import HTMLStyle

        self.row = w.Layout(display="contents")
        self.cell = w.Layout(width="auto", margin="1px 8px 1px 0")
        self.cell_style = HTMLStyle()
        self.button = w.Layout(width="60px", margin="1px 4px 1px 0", padding="0 4px")
        self.button_style = w.ButtonStyle()


class _RowView:
    """The widgets of one grid row; rebound to another task when the page changes."""

    def __init__(self, dashboard: WidgetDashboard, shared: _Shared, row: TaskRow) -> None:
        import ipywidgets as w

        self.task_id = row.task_id
        self.cells = [
            w.HTML(layout=shared.cell, style=shared.cell_style) for _ in range(len(HEADERS))
        ]
        self.logs, self.cancel, self.ssh = (
            w.Button(description=name, layout=shared.button, style=shared.button_style)
            for name in _ACTIONS
        )
        self.logs.on_click(lambda _: dashboard.open_logs(self.task_id))
        self.cancel.on_click(lambda _: dashboard.ask_cancel(self.task_id))
        self.ssh.on_click(lambda _: dashboard.show_ssh(self.task_id))
        self.box = w.Box([*self.cells, self.logs, self.cancel, self.ssh], layout=shared.row)
        self.box.add_class("flow-task-row")
        self.update(row)

    def update(self, row: TaskRow) -> None:
        """Shows ``row`` (another task's row too); only changed values are sent."""
        self.task_id = row.task_id
        for index, (cell, text) in enumerate(zip(self.cells, row.cells(), strict=True)):
            value = status_html(row.status) if index == STATUS_COLUMN else html.escape(text)
            if cell.value != value:
                cell.value = value
        # A disabled danger button stays bright red; a plain one greys out.
        self.cancel.button_style = "danger" if row.cancellable else ""
        self.cancel.disabled = not row.cancellable
        self.ssh.disabled = row.ssh_command is None

    def close(self) -> None:
        """Closes the row's widgets (not the shared layouts)."""
        for widget in (*self.cells, self.logs, self.cancel, self.ssh, self.box):
            widget.close()


class WidgetDashboard(DashboardView):
    """Tasks with coloured statuses, costs and actions; refreshes until closed.

    Args:
        model: Computes the rows.
        interval: Seconds between refreshes.
        open_log_viewer: Builds the log viewer of a task (an object with ``root`` and
            ``close()``); the Logs button shows it below the table.
        ssh_command: Returns the ssh command that logs in to a task (with key and
            host-key file); defaults to the row's address only.
        clock: Returns "now", for the refresh time shown.
        page_size: Rows drawn at once; the pager moves through the rest.
    """

    def __init__(
        self,
        model: DashboardModel,
        *,
        interval: float = 2.0,
        open_log_viewer: LogOpener | None = None,
        ssh_command: SSHCommand | None = None,
        clock: Callable[[], datetime] = datetime.now,
        page_size: int = PAGE_SIZE,
    ) -> None:
        import ipywidgets as w

        super().__init__(model)
        self._open_log_viewer = open_log_viewer
        self._ssh_command = ssh_command
        self._clock = clock
        self._page_size = page_size
        self._shared = _Shared()
        self._views: dict[str, _RowView] = {}
        self._spare: list[_RowView] = []
        self._viewer: Any = None
        self._saved = SavedOutput(self)
        self._seen_at = ""
        self._draw_lock = threading.RLock()
        self.page = 0
        self.refreshes = 0
        self.closed = False
        self.filter = w.Dropdown(
            options=[ALL_STATUSES, *(s.value for s in TaskStatus)],
            value=_filter_value(model.status_filter),
            description="status",
            layout=w.Layout(width="220px"),
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.close_button = w.Button(description="Close", icon="times")
        self.status = w.HTML()
        # One line per provider that could not list its tasks; the others' rows still show.
        self.problems = w.HTML()
        self.header = w.Box(
            [
                w.HTML(f"<b>{html.escape(title)}</b>", layout=self._shared.cell)
                for title in (*HEADERS, *(" " for _ in _ACTIONS))
            ],
            layout=self._shared.row,
        )
        self.header.add_class("flow-tasks-header")
        self.grid = w.GridBox(
            [self.header],
            layout=w.Layout(
                grid_template_columns=_GRID_COLUMNS, align_items="center", overflow="auto"
            ),
        )
        self.grid.add_class("flow-tasks-grid")
        self.newer = w.Button(description="◀ newer", layout=w.Layout(width="90px"))
        self.older = w.Button(description="older ▶", layout=w.Layout(width="90px"))
        self.page_label = w.HTML()
        self.pager = w.HBox([self.newer, self.page_label, self.older])
        self.prompt = w.VBox()
        self.prompt.add_class("flow-dashboard-prompt")
        self.logs = w.VBox()
        self.logs.add_class("flow-dashboard-logs")
        self.filter.observe(self._on_filter, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.close_button.on_click(lambda _: self.close())
        self.newer.on_click(lambda _: self.show_page(self.page - 1))
        self.older.on_click(lambda _: self.show_page(self.page + 1))
        toolbar = w.HBox([self.filter, self.refresh_button, self.close_button, self.status])
        self.root = w.VBox([toolbar, self.problems, self.grid, self.pager, self.prompt, self.logs])
        self.root.add_class("flow-dashboard")
        self._poller = Poller(
            self.refresh, interval, on_error=self._report_error, name="flow-dashboard"
        )

    @property
    def refreshing(self) -> bool:
        """Whether the background refresh runs."""
        return self._poller.running

    @property
    def row_views(self) -> list[_RowView]:
        """The rows drawn now, top to bottom."""
        return list(self._views.values())

    def start(self) -> WidgetDashboard:
        """Starts refreshing in the background; returns ``self`` at once."""
        self._poller.start()
        return self

    def display(self) -> None:
        """Shows the dashboard in the current cell; its saved form follows status changes."""
        self._saved.display(self._statuses())

    def close(self, reason: str = "closed") -> None:
        """Stops refreshing, closes an open log viewer and leaves a one-line note. Safe twice.

        Args:
            reason: Says why in the note, e.g. ``stopped: the kernel shut down``.
        """
        import ipywidgets as w

        self._poller.stop()
        with self._draw_lock:
            if self.closed:
                return
            self.closed = True
            if self._viewer is not None:
                self._viewer.close()
                self._viewer = None
            stamp = self._clock().strftime("%H:%M:%S")
            closed = (
                f"dashboard {html.escape(reason)} at {stamp} · run <code>%flow dashboard</code>"
                " to open it again"
            )
            note = w.HTML(f"<i>{closed}</i>")
            note.add_class("flow-dashboard-closed")
            # The page and the saved notebook keep the last table under the note.
            self._saved.publish_final(
                {
                    "text/plain": f"{_plain(closed)}\n{self.model.text()}",
                    "text/html": f"<p><i>{closed}</i></p>{self._html()}",
                }
            )
            parts = (*self.root.children, *self.grid.children)
            self.root.children = (note,)
            for view in (*self._views.values(), *self._spare):
                view.close()
            for widget in parts:
                widget.close()
            self._views, self._spare = {}, []

    def refresh(self) -> None:
        """Fetches and draws the rows now (also called by the background thread)."""
        if self.closed:
            return
        # Up to the page shown, and one more to know whether an older page exists.
        self.model.limit = (self.page + 1) * self._page_size + 1
        super().refresh()
        self.refreshes += 1

    def show_page(self, page: int) -> None:
        """Fetches and draws page ``page`` (0 holds the newest tasks)."""
        self.page = max(page, 0)
        self.refresh()

    # --- actions ------------------------------------------------------------------

    def open_logs(self, task_id: str) -> None:
        """Shows the task's log viewer below the table (replacing an open one)."""
        import ipywidgets as w

        if self._open_log_viewer is None:
            self._set(self.logs, [w.HTML("<i>no log viewer available here</i>")])
            return
        with self._draw_lock:
            if self._viewer is not None:
                self._viewer.close()
            self._viewer = self._open_log_viewer(task_id)
        title = w.HTML(f"<b>logs of {html.escape(task_id)}</b>")
        self._set(self.logs, [title, self._viewer.root])

    def ask_cancel(self, task_id: str) -> None:
        """Asks for confirmation below the table before cancelling the task."""
        import ipywidgets as w

        confirm = w.Button(description="Yes, cancel it", button_style="danger")
        keep = w.Button(description="Keep running")
        confirm.add_class("flow-confirm-cancel")
        confirm.on_click(lambda _: self.confirm_cancel(task_id))
        keep.on_click(lambda _: self._set(self.prompt, []))
        prompt = w.HTML(f"Cancel task <b>{html.escape(task_id)}</b>?")
        self._set(self.prompt, [w.HBox([prompt, confirm, keep])])

    def confirm_cancel(self, task_id: str) -> None:
        """Cancels the task (the confirmation's Yes button) and refreshes; logs stay open."""
        import ipywidgets as w

        message = self.model.cancel(task_id)
        self._set(self.prompt, [w.HTML(html.escape(message))])
        self.refresh()

    def show_ssh(self, task_id: str) -> None:
        """Shows the task's ssh command in a text box, selected for copying."""
        import ipywidgets as w

        command = self._ssh_for(task_id)
        if not command:
            self._set(self.prompt, [w.HTML(f"task {html.escape(task_id)} has no SSH access")])
            return
        box = w.Textarea(value=command, layout=w.Layout(width="95%", height="4em"))
        box.add_class("flow-ssh-command")
        self._set(self.prompt, [box, w.HTML("<i>copy the command into a terminal</i>")])

    def _ssh_for(self, task_id: str) -> str | None:
        row = self.model.row(task_id)
        if row is None or row.ssh_command is None:
            return None
        if self._ssh_command is None:
            return row.ssh_command
        try:
            return self._ssh_command(task_id)
        except Exception as exc:  # noqa: BLE001 - a button handler has nowhere to raise to
            return f"# cannot build the ssh command: {exc}"

    # --- drawing hooks ------------------------------------------------------------

    def _draw(self, rows: list[TaskRow]) -> None:
        with self._draw_lock:
            if self.closed:
                return
            more = len(rows) >= self.model.limit  # an older page exists
            pages = max(1, -(-len(rows) // self._page_size))
            self.page = min(max(self.page, 0), pages - 1)
            start = self.page * self._page_size
            shown = rows[start : start + self._page_size]
            self._place(shown)
            self._draw_pager(start, len(shown), more)
            stamp = self._clock().strftime("%H:%M:%S")
            count = f"{len(rows) - 1:,}+ tasks" if more else count_noun(len(rows), "task")
            self.status.value = f"<span>{count} · refreshed {stamp}</span>"
            problems = problems_html(self.model.problems)
            if self.problems.value != problems:
                self.problems.value = problems
            self._seen_at = stamp
            self._saved.publish(self._statuses())

    def _place(self, shown: Sequence[TaskRow]) -> None:
        old = self._views
        kept = {row.task_id for row in shown} & set(old)
        self._spare.extend(view for task_id, view in old.items() if task_id not in kept)
        views: dict[str, _RowView] = {}
        for row in shown:
            view = old.get(row.task_id) if row.task_id in kept else None
            if view is not None:
                view.update(row)
            elif self._spare:
                view = self._spare.pop()
                view.update(row)
            else:
                view = _RowView(self, self._shared, row)
            views[row.task_id] = view
        self._views = views
        children = (self.header, *(view.box for view in views.values()))
        if self.grid.children != children:
            self.grid.children = children

    def _draw_pager(self, start: int, shown: int, more: bool) -> None:
        self.pager.layout.display = "flex" if more or self.page > 0 else "none"
        self.newer.disabled = self.page == 0
        self.older.disabled = not more
        if shown:
            self.page_label.value = f"tasks {start + 1:,}–{start + shown:,}"

    def _draw_error(self, message: str) -> None:
        self.status.value = f"<span style='color:#cf222e'>{html.escape(message)}</span>"

    def _report_error(self, exc: Exception) -> None:
        """Shows what broke a background refresh (provider errors are drawn by ``refresh``)."""
        logger.debug("dashboard refresh failed", exc_info=exc)
        self.last_error = f"refresh failed: {type(exc).__name__}: {exc}"
        self._draw_error(self.last_error)

    def _on_filter(self, change: dict[str, Any]) -> None:
        value = change["new"]
        self.model.status_filter = None if value == ALL_STATUSES else TaskStatus(value)
        self.page = 0
        self.refresh()

    def _set(self, box: Any, children: list[Any]) -> None:
        with self._draw_lock:
            if not self.closed:
                box.children = tuple(children)

    def _statuses(self) -> tuple[tuple[str, str], ...]:
        """What the saved form shows that matters: each task's status."""
        problems = (("-", problem) for problem in self.model.problems)
        return (*((row.task_id, row.status.value) for row in self.model.rows), *problems)

    def _html(self) -> str:
        seen = f"<p><i>tasks as seen at {self._seen_at}</i></p>" if self._seen_at else ""
        return seen + self.model.html()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        seen = f"tasks as seen at {self._seen_at}\n" if self._seen_at else ""
        bundle["text/plain"] = seen + self.model.text()
        bundle["text/html"] = self._html()
        return bundle


def _plain(markup: str) -> str:
    return markup.replace("<code>", "").replace("</code>", "")


def _filter_value(status: TaskStatus | None) -> str:
    return ALL_STATUSES if status is None else status.value
