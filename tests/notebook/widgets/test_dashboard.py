"""The dashboard: rows from the provider, text/HTML fallbacks, widget values and buttons."""

from __future__ import annotations

import time

from IPython.core.interactiveshell import InteractiveShell

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.listing import single
from flow_notebook.notebook.widgets.dashboard import (
    HEADERS,
    STATUS_COLUMN,
    DashboardModel,
    TextDashboard,
    render_html,
)
from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard
from flow_notebook.notebook.widgets.html import STATUS_COLOURS

from .conftest import NOW, WidgetFakeProvider, make_task


def _model(provider) -> DashboardModel:
    return DashboardModel(single(provider, "fake"), clock=lambda: NOW)


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_rows_show_runtime_price_and_cost_so_far(fake):
    rows = _model(fake).refresh()
    first = rows[0]
    assert first.cells() == (
        "task-1",
        "fake",
        "job-task-1",
        "running",
        "1xa100",
        "us-central1-a",
        "30m 00s",
        "$2.00/h",
        "-",
        "$1.00",
    )
    assert first.ssh_command == "ssh -p 2222 ubuntu@10.0.0.5"


def test_rows_show_the_spot_price_paid_and_the_limit_apart():
    spot = make_task().model_copy(
        update={"metadata": {"price_basis": "spot", "limit_per_hour": 2.2}}
    )
    ended = make_task("task-2", status=TaskStatus.COMPLETED).model_copy(
        update={"metadata": {"price_basis": "limit", "limit_per_hour": 2.2}, "cost_per_hour": 2.2}
    )
    live, done = _model(WidgetFakeProvider([spot, ended])).refresh()
    assert (live.cost_per_hour, live.limit, live.cost_so_far) == ("$2.00/h", "$2.20/h", "$1.00")
    assert (done.cost_per_hour, done.limit, done.cost_so_far) == ("≤$2.20/h", "$2.20/h", "≤$1.10")


def test_rows_without_a_price_show_dashes():
    provider = WidgetFakeProvider([make_task(cost_per_hour=None)])
    row = _model(provider).refresh()[0]
    assert (row.cost_per_hour, row.cost_so_far) == ("-", "-")


def test_status_filter_asks_the_provider_for_that_status_only(fake):
    model = _model(fake)
    model.status_filter = TaskStatus.FAILED
    assert [row.task_id for row in model.refresh()] == ["task-2"]


def test_text_fallback_is_an_aligned_table(fake):
    view = TextDashboard(_model(fake))
    view.refresh()
    lines = repr(view).splitlines()
    assert lines[0].split() == [
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
    ]
    assert lines[1].split()[:4] == ["task-1", "fake", "job-task-1", "running"]


def test_html_fallback_escapes_task_names_and_colours_statuses():
    task = make_task().model_copy(update={"name": "<script>alert(1)</script>"})
    model = _model(WidgetFakeProvider([task]))
    markup = render_html(model.refresh())
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup
    assert STATUS_COLOURS[TaskStatus.RUNNING] in markup


def test_provider_error_is_drawn_not_raised():
    class Broken(WidgetFakeProvider):
        def list_tasks(self, *args, **kwargs):
            from flow_notebook.core.errors import ProviderUnavailableError

            raise ProviderUnavailableError("api down")

    view = TextDashboard(_model(Broken()))
    view.refresh()
    assert repr(view) == "cannot list tasks: api down"


def test_widget_rows_hold_values_and_status_colours(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        assert len(dashboard.row_views) == 2
        running, failed = (dashboard._views[t] for t in ("task-1", "task-2"))
        assert STATUS_COLOURS[TaskStatus.RUNNING] in running.cells[STATUS_COLUMN].value
        assert STATUS_COLOURS[TaskStatus.FAILED] in failed.cells[STATUS_COLUMN].value
        assert running.cells[HEADERS.index("COST")].value == "$1.00"
        assert failed.cancel.disabled and not running.cancel.disabled
        assert (failed.cancel.button_style, running.cancel.button_style) == ("", "danger")
        assert "2 tasks ·" in dashboard.status.value
    finally:
        dashboard.close()


def test_cancel_asks_first_then_cancels_on_yes(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        dashboard._views["task-1"].cancel.click()
        assert fake.cancelled == []
        prompt = dashboard.prompt.children[0]
        confirm = next(c for c in prompt.children if "flow-confirm-cancel" in c._dom_classes)
        confirm.click()
        assert fake.cancelled == ["task-1"]
        assert "cancelled task task-1" in dashboard.prompt.children[0].value
        assert "cancelled" in dashboard._views["task-1"].cells[STATUS_COLUMN].value
        assert dashboard._views["task-1"].cancel.disabled
    finally:
        dashboard.close()


def test_keep_running_dismisses_the_question(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        dashboard.ask_cancel("task-1")
        keep = dashboard.prompt.children[0].children[2]
        keep.click()
        assert dashboard.prompt.children == ()
        assert fake.cancelled == []
    finally:
        dashboard.close()


def test_ssh_button_shows_the_command_to_copy(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        dashboard._views["task-1"].ssh.click()
        assert dashboard.prompt.children[0].value == "ssh -p 2222 ubuntu@10.0.0.5"
    finally:
        dashboard.close()


def test_ssh_button_is_disabled_without_ssh_access():
    dashboard = WidgetDashboard(_model(WidgetFakeProvider([make_task(ssh=False)])))
    try:
        dashboard.refresh()
        assert dashboard._views["task-1"].ssh.disabled
    finally:
        dashboard.close()


def test_logs_button_opens_the_viewer_below_the_table(fake):
    opened = []

    class Viewer:
        def __init__(self, task_id):
            import ipywidgets

            self.root = ipywidgets.HTML(task_id)
            self.closed = False
            opened.append(self)

        def close(self):
            self.closed = True

    dashboard = WidgetDashboard(_model(fake), open_log_viewer=Viewer)
    dashboard.refresh()
    dashboard._views["task-1"].logs.click()
    dashboard._views["task-2"].logs.click()
    assert dashboard.logs.children[1] is opened[1].root
    assert opened[0].closed and not opened[1].closed
    dashboard.ask_cancel("task-2")
    dashboard.confirm_cancel("task-2")
    assert dashboard.logs.children[1] is opened[1].root and not opened[1].closed
    dashboard.close()
    assert opened[1].closed


def test_filter_dropdown_refreshes_with_that_status(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        assert dashboard.filter.value == "all"
        dashboard.filter.value = "failed"
        assert list(dashboard._views) == ["task-2"]
    finally:
        dashboard.close()


def test_new_tasks_appear_and_existing_rows_keep_their_widgets(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        before = dashboard._views["task-1"]
        fake.tasks["task-3"] = make_task("task-3")
        dashboard.refresh()
        assert dashboard._views["task-1"] is before
        assert len(dashboard.grid.children) == 4  # the header and three rows
    finally:
        dashboard.close()


def test_background_refresh_keeps_the_kernel_free(fake):
    fake.list_delay = 0.05
    shell = InteractiveShell.instance()
    dashboard = WidgetDashboard(_model(fake), interval=0.01)
    started = time.monotonic()
    dashboard.start()
    assert time.monotonic() - started < 0.05
    try:
        result = shell.run_cell("answer = sum(range(10))")
        assert result.success and shell.user_ns["answer"] == 45
        _wait(lambda: dashboard.refreshes >= 3)
        assert dashboard.refreshing
    finally:
        dashboard.close()
    assert not dashboard.refreshing
    calls = fake.list_calls
    time.sleep(0.1)
    assert fake.list_calls == calls


def test_widget_bundle_carries_text_and_html_fallbacks(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        bundle = dashboard._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["text/plain"].startswith("tasks as seen at ")
        assert bundle["text/plain"].splitlines()[1].startswith("ID")
        assert "flow-tasks" in bundle["text/html"]
    finally:
        dashboard.close()


def test_widget_dashboard_escapes_task_names_ids_and_errors():
    xss = "<script>alert(1)</script>"
    task = make_task(xss).model_copy(update={"name": xss, "region": xss})
    dashboard = WidgetDashboard(_model(WidgetFakeProvider([task])))
    try:
        dashboard.refresh()
        row = dashboard._views[xss]
        dashboard.ask_cancel(xss)
        prompt = dashboard.prompt.children[0].children[0].value
        dashboard._draw_error(xss)
        shown = [cell.value for cell in row.cells] + [prompt, dashboard.status.value]
        assert all("<script>" not in value for value in shown)
        assert sum("&lt;script&gt;alert(1)&lt;/script&gt;" in value for value in shown) == 5
    finally:
        dashboard.close()


def test_one_task_is_singular_and_the_filter_starts_at_the_model_status():
    model = _model(WidgetFakeProvider([make_task()]))
    model.status_filter = TaskStatus.RUNNING
    dashboard = WidgetDashboard(model)
    try:
        dashboard.refresh()
        assert dashboard.filter.value == "running"
        assert "1 task ·" in dashboard.status.value
    finally:
        dashboard.close()


def test_header_and_rows_are_items_of_one_grid(fake):
    dashboard = WidgetDashboard(_model(fake))
    try:
        dashboard.refresh()
        header, *rows = dashboard.grid.children
        columns = dashboard.grid.layout.grid_template_columns
        assert columns.startswith("repeat(13,")
        for box in (header, *rows):
            assert box.layout.display == "contents"
            assert len(box.children) == 13
    finally:
        dashboard.close()


def test_rows_are_paged_listed_only_up_to_the_page_and_reused():
    provider = WidgetFakeProvider([make_task(f"task-{i:03d}") for i in range(120)])
    limits = []
    listing = provider.list_tasks
    provider.list_tasks = lambda **kw: limits.append(kw["limit"]) or listing(**kw)
    dashboard = WidgetDashboard(_model(provider), page_size=50)
    try:
        dashboard.refresh()
        first = {id(view) for view in dashboard.row_views}
        assert len(first) == 50 and dashboard.page_label.value == "tasks 1–50"
        assert "50+ tasks" in dashboard.status.value
        assert dashboard.newer.disabled and not dashboard.older.disabled
        dashboard.older.click()
        dashboard.older.click()
        assert dashboard.page_label.value == "tasks 101–120"
        assert "120 tasks" in dashboard.status.value and dashboard.older.disabled
        assert limits == [51, 101, 151]
        assert {id(view) for view in dashboard.row_views} <= first
    finally:
        dashboard.close()


def test_close_leaves_a_one_line_note_and_stops(fake):
    dashboard = WidgetDashboard(_model(fake), interval=0.01).start()
    dashboard.close()
    dashboard.close()
    (note,) = dashboard.root.children
    assert "dashboard closed at" in note.value and "%flow dashboard" in note.value
    assert not dashboard.refreshing


class FakeHandle:
    """Records what a display handle is updated with."""

    def __init__(self):
        self.updates = []

    def update(self, obj, **kwargs):
        self.updates.append(obj._repr_mimebundle_() if hasattr(obj, "_repr_mimebundle_") else obj)


def test_saved_output_follows_status_changes_and_ends_as_a_static_table(fake, monkeypatch):
    import IPython.display

    handle = FakeHandle()
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: handle)
    dashboard = WidgetDashboard(_model(fake))
    dashboard.refresh()
    dashboard.display()
    dashboard.refresh()
    assert handle.updates == []  # nothing changed since it was displayed
    fake.tasks["task-1"] = make_task("task-1", status=TaskStatus.COMPLETED)
    dashboard.refresh()
    (updated,) = handle.updates
    assert "completed" in updated["text/plain"] and "running" not in updated["text/plain"]
    dashboard.close()
    final = handle.updates[-1]
    assert "application/vnd.jupyter.widget-view+json" not in final
    assert final["text/plain"].startswith("dashboard closed at ")
    assert "completed" in final["text/html"] and "flow-tasks" in final["text/html"]


def test_ssh_box_shows_the_login_command_that_works_as_pasted(fake):
    asked = []

    def login(task_id):
        asked.append(task_id)
        return "ssh -p 2222 -i /k/id -o UserKnownHostsFile=/h/kh ubuntu@10.0.0.5"

    dashboard = WidgetDashboard(_model(fake), ssh_command=login)
    try:
        dashboard.refresh()
        dashboard._views["task-1"].ssh.click()
        box = dashboard.prompt.children[0]
        assert "flow-ssh-command" in box._dom_classes
        assert box.value == login("task-1") and asked[0] == "task-1"
    finally:
        dashboard.close()


def test_an_unexpected_error_in_the_background_refresh_is_shown_not_swallowed(fake):
    class Broken(WidgetFakeProvider):
        def list_tasks(self, *args, **kwargs):
            raise RuntimeError("row builder broke")

    dashboard = WidgetDashboard(_model(Broken()), interval=0.01)
    dashboard.start()
    try:
        _wait(lambda: "row builder broke" in dashboard.status.value)
        assert "refresh failed: RuntimeError: row builder broke" in dashboard.status.value
        assert dashboard.last_error == "refresh failed: RuntimeError: row builder broke"
    finally:
        dashboard.close()
