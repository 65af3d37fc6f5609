"""The log viewer on screen: a finished 1,000-line task from line 1 to line 1,000, and search.

JupyterLab 4 and Notebook 7 (one server, one browser) on the local provider. The
task prints ``line 1`` .. ``line 1000`` and has ended before the viewers open:
``%flow dashboard --logs`` and the dashboard's Logs button both start at line 1 (no
cell showed the lines before). Paging forward and scrolling the box brings line
1,000 on screen; so does "end ⇥" (following).
"""

from __future__ import annotations

import pytest

from . import jupyterlab
from .jupyterlab import WAIT_MS

CELLS = [
    "%load_ext flow_notebook",
    "task = %flow run --wait --name thousand -- python3 -c \"[print('line', i) for i in "
    'range(1, 1001)]"',
    "%flow dashboard --logs {task.task_id}",
    "%flow dashboard",
]


@pytest.fixture(params=["lab", "notebook"])
def lab(request, shared_lab):
    """The module's server as JupyterLab 4, then as Notebook 7."""
    return shared_lab.front_end(request.param)


def test_log_viewer_of_a_finished_task_shows_line_1_to_1000_and_searches(
    shared_page, lab, artifacts
):
    from playwright.sync_api import expect

    page, notebook, name = shared_page, f"viewer-{lab.app}.ipynb", f"thousand-{lab.app}"
    # Both front ends share the server's FLOW_HOME: each names its own task.
    jupyterlab.write_notebook(lab.root / notebook, [c.replace("thousand", name) for c in CELLS])
    jupyterlab.run_all_cells(page, lab, notebook)
    viewer = page.locator(".flow-log-viewer").first
    expect(viewer).to_contain_text("whole log read: 1,000 lines", timeout=WAIT_MS)
    expect(viewer).to_contain_text("lines 1–500 of 1,000")
    first = viewer.locator("span.flow-ln").first
    expect(first).to_have_text("1")
    expect(first).to_be_in_viewport()

    viewer.get_by_role("button", name="page ▶").click()
    expect(viewer).to_contain_text("lines 501–1,000 of 1,000")
    last = viewer.locator("span.flow-ln").last
    expect(last).to_have_text("1,000")
    expect(last).not_to_be_in_viewport()  # below the fold of the scroll box
    viewer.locator(".flow-log-box").evaluate("(box) => box.scrollTop = 1e9")
    expect(last).to_be_in_viewport()
    expect(viewer.locator(".flow-log-lines")).to_contain_text("line 1000")

    viewer.get_by_role("button", name="⇤ line 1").click()
    viewer.get_by_role("button", name="end ⇥").click()
    expect(viewer.get_by_role("button", name="Following")).to_be_visible()
    expect(viewer.locator("span.flow-ln").last).to_be_in_viewport()  # sticks to the tail

    search = viewer.get_by_placeholder("search the whole log (Enter)")
    search.fill("line 7")
    search.press("Enter")
    matches = viewer.locator(".flow-log-matches")
    expect(matches).to_contain_text("111 lines of the whole stdout log match")
    expect(matches.locator("li").first).to_have_text("7 line 7")
    jupyterlab.save_screenshots(
        {f"{lab.app}-log_viewer.png": viewer},
        artifacts,
        docs={"lab-log_viewer.png": "log_viewer.png"},
    )

    dashboard = page.locator(".flow-dashboard").first
    row = dashboard.locator(".flow-task-row", has_text=name)
    expect(row).to_contain_text("completed", timeout=WAIT_MS)
    row.get_by_role("button", name="Logs").click()
    opened = dashboard.locator(".flow-log-viewer")
    expect(opened).to_contain_text("lines 1–500 of 1,000", timeout=WAIT_MS)
    expect(opened.locator("span.flow-ln").first).to_have_text("1")
    jupyterlab.save_screenshots({f"{lab.app}-dashboard_logs.png": dashboard}, artifacts)
