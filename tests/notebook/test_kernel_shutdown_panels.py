"""In a real ipykernel: a shutdown request turns a displayed dashboard into its final static form.

The kernel is started with jupyter_client on the local provider; a short task ends,
then the kernel is asked to shut down. Before its ``shutdown_reply``, the kernel
sends ``update_display_data`` for the dashboard's display id without the widget:
the note "dashboard stopped: the kernel shut down" and the final table. A
``%%flow run`` live view still following its task does the same: its static form
says since when it is not followed and why.
"""

from __future__ import annotations

import os
import queue
import sys
import time
from collections.abc import Callable

import pytest

WIDGET = "application/vnd.jupyter.widget-view+json"
CELL = """\
%load_ext flow_notebook
task = %flow run --wait --name short -- {python} -c "print('done')"
%flow dashboard --interval 0.2
"""


def _drain(client, last: Callable[[dict], bool], timeout: float = 30.0) -> list[dict]:
    """Collects IOPub messages up to the first that ``last`` accepts (bounded in time)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(client.get_iopub_msg(timeout=0.5))
        except queue.Empty:
            continue
        if last(seen[-1]):
            break
    return seen


def _is_dashboard(message: dict) -> bool:
    return message["msg_type"] == "display_data" and WIDGET in message["content"]["data"]


@pytest.fixture
def kernel(isolated_flow_home):
    from jupyter_client import KernelManager

    manager = KernelManager(kernel_name="python3")
    env = {**os.environ, "FLOW_HOME": str(isolated_flow_home), "FLOW_PROVIDER": "local"}
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


def test_shutdown_request_leaves_the_final_dashboard_as_static_output(kernel):
    manager, client = kernel
    client.execute(CELL.format(python=sys.executable))
    shown = _drain(client, _is_dashboard)
    displays = [
        m for m in shown if m["msg_type"] == "display_data" and WIDGET in m["content"]["data"]
    ]
    assert displays, [m["msg_type"] for m in shown]
    display_id = displays[-1]["content"]["transient"]["display_id"]

    manager.shutdown_kernel(now=False, restart=True)
    after = _drain(client, lambda message: message["msg_type"] == "shutdown_reply")
    updates = [
        m["content"]
        for m in after
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert updates, [m["msg_type"] for m in after]
    final = updates[-1]["data"]
    assert WIDGET not in final
    assert "dashboard stopped: the kernel shut down at" in final["text/plain"]
    assert "completed" in final["text/plain"] and "running" not in final["text/plain"]


RUN_CELL = """\
%%flow run --name slow
import time
for i in range(300):
    print('line', i, flush=True)
    time.sleep(0.1)
"""


def test_shutdown_request_leaves_a_live_cell_view_saying_the_kernel_stopped(
    kernel, isolated_flow_home
):
    manager, client = kernel
    client.execute("%load_ext flow_notebook")
    client.execute(RUN_CELL)
    shown = _drain(client, _is_dashboard)  # the live view is a widget display too
    display_id = shown[-1]["content"]["transient"]["display_id"]
    _drain(client, lambda m: "line 3" in str(m["content"].get("data", m["content"])))

    try:
        manager.shutdown_kernel(now=False, restart=True)
        after = _drain(client, lambda message: message["msg_type"] == "shutdown_reply")
    finally:
        _cancel_all(isolated_flow_home)
    updates = [
        m["content"]
        for m in after
        if m["msg_type"] == "update_display_data"
        and m["content"]["transient"]["display_id"] == display_id
    ]
    assert updates, [m["msg_type"] for m in after]
    final = updates[-1]["data"]
    assert WIDGET not in final
    plain = final["text/plain"]
    assert "(slow) · not followed since" in plain, plain
    assert "stopped following: the kernel shut down" in plain
    assert "line 3" in plain and "flow-live-static" in final["text/html"]


def _cancel_all(flow_home) -> None:
    from flow_notebook.core.config import load_config
    from flow_notebook.providers.local import LocalProvider

    provider = LocalProvider.from_config(load_config({"FLOW_HOME": str(flow_home)}))
    try:
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    finally:
        provider.close()
