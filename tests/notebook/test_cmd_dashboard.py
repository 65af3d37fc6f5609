"""%flow dashboard: a text table without a widget frontend, a refreshing panel with one."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from flow_notebook.core.models import TaskStatus
from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard

from .widgets.conftest import FullFakeProvider, make_task


@pytest.fixture
def provider(use_provider) -> FullFakeProvider:
    provider = FullFakeProvider(
        [make_task("task-1"), make_task("task-2", status=TaskStatus.FAILED)]
    )
    provider.logs[("task-1", "stdout")] = ["hello", "world"]
    use_provider(provider)
    return provider


@pytest.fixture
def widget_kernel(ip, monkeypatch):
    """Makes the shell look like a kernel, so the front door picks widgets."""
    monkeypatch.setattr(ip, "kernel", object(), raising=False)


def test_without_widgets_prints_the_table_once(provider, flow):
    lines = flow("dashboard")[1].splitlines()
    assert lines[0].split()[:4] == ["ID", "PROVIDER", "NAME", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["task-1", "task-2"]


def test_status_option_filters(provider, flow):
    lines = flow("dashboard --status failed")[1].splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["task-2"]


def test_logs_option_without_widgets_prints_the_log(provider, flow):
    assert flow("dashboard --logs task-1")[1] == "hello\nworld\n"


def test_logs_of_unknown_task_is_one_line(provider, flow):
    with pytest.raises(UsageError, match="no task 'nope'"):
        flow("dashboard --logs nope")


def test_with_widgets_shows_a_panel_that_stops_when_the_extension_unloads(
    provider, ip, widget_kernel
):
    magics = ip.magics_manager.registry["FlowMagics"]
    with capture_output() as captured:
        ip.run_line_magic("flow", "dashboard --interval 0.2")
    bundle = captured.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "flow-tasks" in bundle["text/html"]
    dashboard = next(
        closer.args[0]
        for closer in magics.session._closers
        if isinstance(next(iter(getattr(closer, "args", ())), None), WidgetDashboard)
    )
    assert dashboard.refreshing
    magics.session.close()
    assert not dashboard.refreshing


def test_with_widgets_the_log_viewer_opens(provider, ip, widget_kernel):
    with capture_output() as captured:
        ip.run_line_magic("flow", "dashboard --logs task-1")
    viewer_bundle = captured.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in viewer_bundle


def test_bad_interval_is_one_line(provider, flow):
    with pytest.raises(UsageError, match="invalid interval"):
        flow("dashboard --interval 0")
