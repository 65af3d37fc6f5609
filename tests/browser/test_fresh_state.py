"""Saved panels carry the final state: after the task ends, a kernel restart and a reopen.

A short local task is shown by a dashboard and a log viewer while it runs. Once it
has ended, the kernel is restarted and the notebook saved and reopened: the saved
outputs (what nbconvert, GitHub and a notebook without its kernel show) say
``completed`` and hold the whole log, and nothing on the reopened page says the task
is running. (The kernel also sends each panel's static final form when it is asked
to shut down, see ``tests/notebook/test_kernel_shutdown_panels.py``; JupyterLab 4
drops output updates that arrive while it restarts a kernel, so the page keeps the
last live view until it is reloaded, when widgets without a kernel show JupyterLab's
own "Loading widget..." placeholder.)
"""

from __future__ import annotations

import json

import pytest

from . import jupyterlab
from .conftest import NOTEBOOK
from .jupyterlab import WAIT_MS

CELLS = [
    "%load_ext flow_notebook",
    "task = %flow run --name short -- python3 -u -c \"import time; print('hello'); "
    "time.sleep(4); print('bye')\"",
    "%flow dashboard --interval 0.5",
    "%flow dashboard --logs {task.task_id}",
]


def _saved_texts(lab, cell: int) -> str:
    notebook = json.loads((lab.root / NOTEBOOK).read_text())
    outputs = notebook["cells"][cell]["outputs"]
    return "\n".join(
        "".join(output.get("data", {}).get(mime, ""))
        for output in outputs
        for mime in ("text/plain", "text/html")
    )


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_saved_dashboard_and_log_viewer_show_the_end_after_a_restart(
    page, start_lab, artifacts, app
):
    from playwright.sync_api import expect

    lab = start_lab(CELLS, app=app)
    jupyterlab.run_all_cells(page, lab, NOTEBOOK)
    dashboard = page.locator(".flow-dashboard").first
    expect(dashboard.locator(".flow-task-row", has_text="short")).to_contain_text(
        "running", timeout=WAIT_MS
    )
    expect(dashboard.locator(".flow-task-row")).to_contain_text("completed", timeout=WAIT_MS)
    expect(page.locator(".flow-log-viewer").first).to_contain_text(
        "whole log read: 2 lines", timeout=WAIT_MS
    )

    jupyterlab.restart_kernel(page, lab)
    jupyterlab.save_notebook(page, lab, NOTEBOOK)

    dashboard_saved, viewer_saved = _saved_texts(lab, 2), _saved_texts(lab, 3)
    assert "completed" in dashboard_saved and "running" not in dashboard_saved
    assert "whole log read: 2 lines" in viewer_saved and "bye" in viewer_saved

    page.reload()
    jupyterlab.open_notebook(page, lab, NOTEBOOK)
    outputs = page.locator(".jp-OutputArea-output")
    expect(outputs.first).to_be_visible(timeout=WAIT_MS)
    shown = "\n".join(outputs.all_inner_texts())
    assert "running" not in shown.replace("running: %flow logs", ""), shown
    page.screenshot(path=str(artifacts / f"{app}-fresh_state_reopened.png"), full_page=True)
