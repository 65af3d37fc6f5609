"""The panels in a real browser: JupyterLab in Debian's Chromium, driven by Playwright.

Runs a notebook that starts a local task, shows the dashboard, the task's log viewer
and the instance picker, then checks the page: the task's row and status, streamed
log lines, and that Cancel (after confirming) stops the task. Screenshots of the
dashboard and the picker are saved in ``$FLOW_BROWSER_ARTIFACTS`` (default: the
test's temporary directory) and, with ``FLOW_UPDATE_SCREENSHOTS=1``, in ``docs/img``.

Without ``/usr/bin/chromium`` the test fails, unless ``FLOW_ALLOW_NO_BROWSER=1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from . import jupyterlab

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
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
WAIT_MS = 30_000


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("FLOW_ALLOW_NO_BROWSER") == "1":
            pytest.skip("no /usr/bin/chromium and FLOW_ALLOW_NO_BROWSER=1")
        pytest.fail(
            "/usr/bin/chromium is missing: install it with 'apt-get install -y chromium' "
            "(or set FLOW_ALLOW_NO_BROWSER=1 to skip this test)"
        )
    return CHROMIUM


@pytest.fixture
def lab(tmp_path, isolated_flow_home):
    root = tmp_path / "work"
    root.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / "panels.ipynb")
    server = jupyterlab.start(root, tmp_path / "jupyter", isolated_flow_home)
    yield server
    jupyterlab.stop(server)
    _cancel_leftover_tasks(isolated_flow_home)


@pytest.fixture
def artifacts(tmp_path) -> Path:
    path = Path(os.environ.get("FLOW_BROWSER_ARTIFACTS") or tmp_path / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_dashboard_and_log_viewer_in_jupyterlab(chromium_path, lab, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab.url("lab/tree/panels.ipynb"))
            expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle")).to_be_visible(
                timeout=WAIT_MS
            )
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()

            dashboard = page.locator(".flow-dashboard")
            row = dashboard.locator(".flow-task-row", has_text="browser-demo")
            expect(row).to_contain_text("running", timeout=WAIT_MS)
            expect(dashboard).to_contain_text("tasks · refreshed")
            viewer = page.locator(".flow-log-viewer")
            expect(viewer).to_contain_text("log line 3", timeout=WAIT_MS)

            picker = page.locator(".flow-instance-picker")
            expect(picker).to_be_visible(timeout=WAIT_MS)
            picker.locator("select").select_option(index=0)
            expect(picker.get_by_text("max $/h")).to_be_visible()
            _screenshots(dashboard, picker, artifacts)

            row.get_by_role("button", name="Cancel").click()
            dashboard.get_by_role("button", name="Yes, cancel it").click()
            expect(row).to_contain_text("cancelled", timeout=WAIT_MS)
            expect(viewer).to_contain_text("stream ended", timeout=WAIT_MS)
            page.screenshot(path=str(artifacts / "notebook.png"), full_page=True)
        finally:
            browser.close()


def _screenshots(dashboard, picker, artifacts: Path) -> None:
    dashboard.screenshot(path=str(artifacts / "dashboard.png"))
    picker.screenshot(path=str(artifacts / "instance_picker.png"))
    if os.environ.get("FLOW_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for name in ("dashboard.png", "instance_picker.png"):
            shutil.copyfile(artifacts / name, DOCS_IMG / name)


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
