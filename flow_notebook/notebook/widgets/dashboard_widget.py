"""The dashboard drawn with ipywidgets, refreshed on a background thread.

The refresh thread only sets widget values (``HTML.value``, ``Box.children``), which
reach the browser over the widget comm; it never prints, so nothing lands in other
cells. Buttons per task: follow logs, cancel (asks first), show the SSH command.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.widgets.dashboard import (
    HEADERS,
    DashboardModel,
    DashboardView,
    TaskRow,
)
from flow_notebook.notebook.widgets.html import status_html
from flow_notebook.notebook.widgets.poller import Poller

_WIDTHS = ("200px", "130px", "100px", "90px", "120px", "80px", "80px", "70px")
LogOpener = Callable[[str], Any]


class _RowView:
    """The widgets of one task row."""

    def __init__(self, dashboard: WidgetDashboard, row: TaskRow) -> None:
        import ipywidgets as w

        self.task_id = row.task_id
        self.cells = [w.HTML(layout=w.Layout(width=width)) for width in _WIDTHS]
        self.logs = w.Button(description="Logs", icon="align-left", layout=_button_layout())
        self.cancel = w.Button(
            description="Cancel", icon="stop", button_style="danger", layout=_button_layout()
        )
        self.ssh = w.Button(description="SSH", icon="terminal", layout=_button_layout())
        self.logs.on_click(lambda _: dashboard.open_logs(self.task_id))
        self.cancel.on_click(lambda _: dashboard.ask_cancel(self.task_id))
        self.ssh.on_click(lambda _: dashboard.show_ssh(self.task_id))
        self.box = w.HBox([*self.cells, self.logs, self.cancel, self.ssh])
        self.box.add_class("flow-task-row")
        self.update(row)

    def update(self, row: TaskRow) -> None:
        for index, (cell, text) in enumerate(zip(self.cells, row.cells(), strict=True)):
            value = status_html(row.status) if index == 2 else html.escape(text)
            if cell.value != value:
                cell.value = value
        self.cancel.disabled = not row.cancellable
        self.ssh.disabled = row.ssh_command is None


class WidgetDashboard(DashboardView):
    """Tasks with coloured statuses, costs and actions; refreshes until closed.

    Args:
        model: Computes the rows.
        interval: Seconds between refreshes.
        open_log_viewer: Builds the log viewer of a task (an object with ``root`` and
            ``close()``); the Logs button shows it below the table.
        clock: Returns "now", for the refresh time shown.
    """

    def __init__(
        self,
        model: DashboardModel,
        *,
        interval: float = 2.0,
        open_log_viewer: LogOpener | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        import ipywidgets as w

        super().__init__(model)
        self._open_log_viewer = open_log_viewer
        self._clock = clock
        self._views: dict[str, _RowView] = {}
        self._viewer: Any = None
        self._draw_lock = threading.RLock()
        self.refreshes = 0
        self.filter = w.Dropdown(
            options=[("all", None)] + [(s.value, s) for s in TaskStatus], description="status"
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.close_button = w.Button(description="Close", icon="times")
        self.status = w.HTML()
        self.header = w.HBox(
            [
                w.HTML(f"<b>{h}</b>", layout=w.Layout(width=x))
                for h, x in zip(HEADERS, _WIDTHS, strict=True)
            ]
        )
        self.rows = w.VBox()
        self.detail = w.VBox()
        self.filter.observe(self._on_filter, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.close_button.on_click(lambda _: self.close())
        toolbar = w.HBox([self.filter, self.refresh_button, self.close_button, self.status])
        self.root = w.VBox([toolbar, self.header, self.rows, self.detail])
        self.root.add_class("flow-dashboard")
        self._poller = Poller(self.refresh, interval, name="flow-dashboard")

    @property
    def refreshing(self) -> bool:
        """Whether the background refresh runs."""
        return self._poller.running

    def start(self) -> WidgetDashboard:
        """Starts refreshing in the background; returns ``self`` at once."""
        self._poller.start()
        return self

    def close(self) -> None:
        """Stops refreshing, closes an open log viewer and the widgets. Safe twice."""
        self._poller.stop()
        with self._draw_lock:
            if self._viewer is not None:
                self._viewer.close()
                self._viewer = None
        self.root.close()

    def refresh(self) -> None:
        """Fetches and draws the rows now (also called by the background thread)."""
        super().refresh()
        self.refreshes += 1

    # --- actions ------------------------------------------------------------------

    def open_logs(self, task_id: str) -> None:
        """Shows the task's log viewer below the table (replacing an open one)."""
        import ipywidgets as w

        if self._open_log_viewer is None:
            self._set_detail([w.HTML("<i>no log viewer available here</i>")])
            return
        with self._draw_lock:
            if self._viewer is not None:
                self._viewer.close()
            self._viewer = self._open_log_viewer(task_id)
        self._set_detail([w.HTML(f"<b>logs of {html.escape(task_id)}</b>"), self._viewer.root])

    def ask_cancel(self, task_id: str) -> None:
        """Asks for confirmation below the table before cancelling the task."""
        import ipywidgets as w

        confirm = w.Button(description="Yes, cancel it", button_style="danger")
        keep = w.Button(description="Keep running")
        confirm.add_class("flow-confirm-cancel")
        confirm.on_click(lambda _: self.confirm_cancel(task_id))
        keep.on_click(lambda _: self._set_detail([]))
        prompt = w.HTML(f"Cancel task <b>{html.escape(task_id)}</b>?")
        self._set_detail([w.HBox([prompt, confirm, keep])])

    def confirm_cancel(self, task_id: str) -> None:
        """Cancels the task (the confirmation's Yes button) and refreshes."""
        import ipywidgets as w

        message = self.model.cancel(task_id)
        self._set_detail([w.HTML(html.escape(message))])
        self.refresh()

    def show_ssh(self, task_id: str) -> None:
        """Shows the task's ssh command in a text box, selected for copying."""
        import ipywidgets as w

        row = self.model.row(task_id)
        command = row.ssh_command if row else None
        if not command:
            self._set_detail([w.HTML(f"task {html.escape(task_id)} has no SSH access")])
            return
        box = w.Text(value=command, description="ssh", layout=w.Layout(width="520px"))
        box.add_class("flow-ssh-command")
        self._set_detail([box, w.HTML("<i>select the command and copy it</i>")])

    # --- drawing hooks ------------------------------------------------------------

    def _draw(self, rows: list[TaskRow]) -> None:
        with self._draw_lock:
            seen = []
            for row in rows:
                view = self._views.get(row.task_id)
                if view is None:
                    view = self._views[row.task_id] = _RowView(self, row)
                else:
                    view.update(row)
                seen.append(view)
            self._views = {view.task_id: view for view in seen}
            children = tuple(view.box for view in seen)
            if self.rows.children != children:
                self.rows.children = children
            stamp = self._clock().strftime("%H:%M:%S")
            self.status.value = f"<span>{len(rows)} tasks · refreshed {stamp}</span>"

    def _draw_error(self, message: str) -> None:
        self.status.value = f"<span style='color:#cf222e'>{html.escape(message)}</span>"

    def _on_filter(self, change: dict[str, Any]) -> None:
        self.model.status_filter = change["new"]
        self.refresh()

    def _set_detail(self, children: list[Any]) -> None:
        with self._draw_lock:
            self.detail.children = tuple(children)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.model.text()
        bundle["text/html"] = self.model.html()
        return bundle


def _button_layout() -> Any:
    import ipywidgets as w

    return w.Layout(width="100px")
