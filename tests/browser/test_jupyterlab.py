"""The panels in a real browser on the local provider: JupyterLab in Debian's Chromium.

Runs a notebook that starts a local task, shows the dashboard, the task's log viewer
and the instance picker, then checks the page: the task's row and status, streamed
log lines, and that Cancel (after confirming) stops the task. Screenshots are saved
in ``$FLOW_BROWSER_ARTIFACTS`` (default: the test's temporary directory). The
images in ``docs/img`` come from the sandbox test, which shows a GPU task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import jupyterlab
from .conftest import NOTEBOOK
from .jupyterlab import WAIT_MS

TASK_COMMAND = (
    "python3 -u -c \"import time; [print('log line', i, flush=True) or time.sleep(0.2) "
    'for i in range(600)]"'
)
CELLS = [
    "%load_ext flow_notebook",
    f"task = %flow run --name browser-demo -- {TASK_COMMAND}",
    "%flow dashboard --interval 0.5",
    "%flow dashboard --logs {task.task_id}",
    "%flow instances",
]


@pytest.fixture(params=["lab", "notebook"])
def lab(request, start_lab, isolated_flow_home):
    """JupyterLab 4, then Notebook 7, serving the notebook above."""
    yield start_lab(CELLS, app=request.param)
    _cancel_leftover_tasks(isolated_flow_home)


def assert_headers_align(page, dashboard) -> None:
    """Each header cell's left edge is within 2 px of its column's cells, on screen."""
    header = dashboard.locator(".flow-tasks-header")
    rows = dashboard.locator(".flow-task-row")
    for column in range(1, header.locator(":scope > *").count() + 1):
        edge = header.locator(f":scope > :nth-child({column})").bounding_box()["x"]
        for index in range(rows.count()):
            cell = rows.nth(index).locator(f":scope > :nth-child({column})")
            assert abs(cell.bounding_box()["x"] - edge) <= 2, (column, index)


def test_dashboard_and_log_viewer_in_jupyterlab(page, lab, artifacts):
    from playwright.sync_api import expect

    jupyterlab.run_all_cells(page, lab, NOTEBOOK)
    dashboard = page.locator(".flow-dashboard").first
    row = dashboard.locator(".flow-task-row", has_text="browser-demo")
    expect(row).to_contain_text("running", timeout=WAIT_MS)
    expect(dashboard).to_contain_text("1 task · refreshed")
    expect(dashboard.locator("select").first).to_have_value("all")
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 1000})
        assert_headers_align(page, dashboard)
    page.set_viewport_size({"width": 1400, "height": 1000})
    # With JupyterLab's file browser open, the row's last button is not cut off.
    grid = dashboard.locator(".flow-tasks-grid").bounding_box()
    ssh = row.get_by_role("button", name="SSH").bounding_box()
    assert ssh["x"] + ssh["width"] <= grid["x"] + grid["width"] + 1, (ssh, grid)
    viewer = page.locator(".flow-log-viewer")
    expect(viewer).to_contain_text("log line 3", timeout=WAIT_MS)

    picker = page.locator(".flow-instance-picker")
    expect(picker).to_be_visible(timeout=WAIT_MS)
    expect(picker.locator(".flow-offers-header")).to_contain_text("INSTANCE")
    picker.locator("select").select_option(index=0)
    expect(picker.get_by_text("max $/h")).to_be_visible()
    expect(picker).to_contain_text("this provider has no price history")
    jupyterlab.save_screenshots(
        {
            f"{lab.app}-dashboard.png": dashboard,
            f"{lab.app}-log_viewer.png": viewer,
            f"{lab.app}-instance_picker.png": picker,
        },
        artifacts,
    )

    row.get_by_role("button", name="Cancel").click()
    dashboard.get_by_role("button", name="Yes, cancel it").click()
    expect(row).to_contain_text("cancelled", timeout=WAIT_MS)
    expect(viewer).to_contain_text("whole log read", timeout=WAIT_MS)
    expect(row.get_by_role("button", name="Cancel")).to_be_disabled()
    page.screenshot(path=str(artifacts / f"{lab.app}-notebook.png"), full_page=True)


def _cancel_leftover_tasks(flow_home: Path) -> None:
    """Stops a task the test started when an assertion failed before Cancel was clicked."""
    from flow_notebook.core.config import load_config
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider.from_config(load_config({"FLOW_HOME": str(flow_home)}))
    try:
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    finally:
        provider.close()
