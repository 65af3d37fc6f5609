"""Front doors: build a panel with widgets when the frontend can show them, else text."""

from __future__ import annotations

from functools import partial
from typing import Any

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.session import FlowSession
from flow_notebook.notebook.widgets.dashboard import DashboardModel, TextDashboard
from flow_notebook.notebook.widgets.html import display, use_widgets


def log_viewer_factory(session: FlowSession) -> Any:
    """Returns a function that opens a started log viewer for a task id."""

    def open_viewer(task_id: str) -> Any:
        from flow_notebook.notebook.widgets.log_viewer import LogViewer

        viewer = LogViewer(session.provider_of(task_id), task_id, redact=session.redactor(task_id))
        return viewer.start()

    return open_viewer


def close_panel(panel: Any, session: FlowSession) -> None:
    """Closes ``panel`` saying why the session closed (a ``FlowSession.on_close`` closer)."""
    panel.close(reason=f"stopped: {session.close_reason}")


def show_dashboard(
    session: FlowSession,
    *,
    status: TaskStatus | None = None,
    interval: float = 2.0,
    text: bool = False,
    provider: str | None = None,
) -> Any:
    """Shows the task dashboard: a refreshing widget, or a text table once.

    Args:
        session: Supplies the providers; closing it stops the refresh.
        status: Show only tasks in this state.
        interval: Seconds between refreshes of the widget.
        text: Print a text table even when widgets are available.
        provider: Only this provider's tasks (``--provider``); ``None``: every
            configured provider's, side by side.

    Returns:
        The widget dashboard, or ``None`` when text was printed.

    Raises:
        FlowError: ``provider`` names no provider, or it cannot be built.
    """
    if provider:
        session.provider_named(provider)  # An unknown name is one line, not a panel.
    model = DashboardModel(lambda: session.each_provider(provider), on_listed=session.claim)
    model.status_filter = status
    if not use_widgets(text):
        view = TextDashboard(model)
        view.refresh()
        emit(repr(view))
        return None
    from flow_notebook.notebook.ssh_login import login_command
    from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard

    dashboard = WidgetDashboard(
        model,
        interval=interval,
        open_log_viewer=log_viewer_factory(session),
        ssh_command=lambda task_id: login_command(session.provider_of(task_id), task_id),
    )
    dashboard.refresh()  # Drawn before display, so a saved notebook shows the tasks.
    session.on_close(partial(close_panel, dashboard, session))
    dashboard.display()
    return dashboard.start()


def show_log_viewer(session: FlowSession, task_id: str, *, log_type: str = "stdout") -> Any:
    """Shows the log viewer of a task: its whole log from line 1, whatever cells showed.

    Returns:
        The viewer.
    """
    from flow_notebook.notebook.widgets.log_viewer import LogViewer

    viewer = LogViewer(
        session.provider_of(task_id), task_id, log_type=log_type, redact=session.redactor(task_id)
    )
    session.on_close(partial(close_panel, viewer, session))
    viewer.display()
    return viewer.start()


def show_instances(
    session: FlowSession, *, gpu: str | None = None, text: bool = False, provider: str | None = None
) -> Any:
    """Shows the offers: a picker with price chart and submit form, or a text table.

    Args:
        session: Supplies the provider.
        gpu: Only offers of this GPU type.
        text: Print a text table even when widgets are available.
        provider: Whose offers (``--provider``); ``None``: the default provider.

    Returns:
        The picker, or ``None`` when text was printed.

    Raises:
        FlowError: The provider could not list offers (text mode).
    """
    from flow_notebook.notebook.widgets.instances import InstanceCatalog

    catalog = InstanceCatalog(
        lambda: session.provider_named(provider), gpu=gpu, provider_name=provider
    )
    if not use_widgets(text):
        catalog.refresh()
        emit(catalog.text())
        return None
    from flow_notebook.notebook.widgets.picker_widget import InstancePicker

    picker = InstancePicker(catalog, session).refresh()
    display(picker)
    return picker
