"""End to end on the real local provider, chosen by the registry default: real processes."""

from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.models import TaskStatus
from flow_notebook.core.provider_interfaces import IActiveTasks
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.session import Timing

PY = sys.executable


@pytest.fixture
def local(ip):
    """``%flow`` on the configured (default: local) provider; cancels leftovers after."""
    magics = FlowMagics(ip, timing=Timing(poll_interval=0.05, settle_timeout=10.0))
    ip.register_magics(magics)
    yield magics.session
    provider = magics.session.provider
    if isinstance(provider, IActiveTasks):
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    magics.session.close()


def test_default_provider_is_local(local):
    assert type(local.provider).__name__ == "LocalProvider"


def test_run_follow_streams_lines_and_ends_completed(local, flow):
    script = "import time\nfor i in range(3):\n    print('step', i, flush=True); time.sleep(0.05)"
    task, out = flow(f'run --name steps --follow -- {PY} -c "{script}"')
    lines = out.splitlines()
    assert lines[1:4] == ["step 0", "step 1", "step 2"]
    assert lines[4].startswith(f"task {task.task_id} completed in ")
    assert task.status is TaskStatus.COMPLETED
    assert local.positions.get(task.task_id) == 3


def test_failing_command_prints_its_exit_code(local, flow):
    task, out = flow(f"run --follow -- {PY} -c 'import sys; print(\"bad\"); sys.exit(3)'")
    assert out.splitlines()[-2:] == ["bad", f"task {task.task_id} failed (exit 3)"]


def test_list_logs_and_status_see_the_task(local, flow):
    task, _ = flow("run --name hello --wait --env GREETING=hi -- 'echo $GREETING; echo there'")
    assert task.status is TaskStatus.COMPLETED
    _, listed = flow("list")
    assert listed.splitlines()[1].split()[:4] == [task.task_id, "local", "hello", "completed"]
    assert flow(f"logs {task.task_id}")[1] == "hi\nthere\n"
    assert "exit code: 0" in flow(f"status {task.task_id}")[1]


def test_cancel_stops_a_long_task_and_a_second_cancel_is_not_an_error(local, flow):
    task, _ = flow("run -- sleep 60")
    assert flow(f"cancel {task.task_id}")[1] == f"task {task.task_id} cancelled\n"
    assert local.provider.get_task(task.task_id).status is TaskStatus.CANCELLED
    assert flow(f"cancel {task.task_id}")[1] == f"task {task.task_id} already ended (cancelled)\n"


def test_unknown_task_id_is_one_line(local, flow):
    with pytest.raises(UsageError) as caught:
        flow("logs local-doesnotexist")
    assert "local-doesnotexist" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_follow_timeout_leaves_the_task_running_for_a_later_attach(local, flow):
    script = "import time\nfor i in range(40):\n    print(i, flush=True); time.sleep(0.05)"
    task, out = flow(f'run --follow --timeout 0.3 -- {PY} -c "{script}"')
    assert "it keeps running" in out.splitlines()[-1]
    shown = local.positions.get(task.task_id)
    assert shown >= 1
    _, rest = flow(f"logs {task.task_id} --follow")
    lines = rest.splitlines()
    assert lines[0] == f"(resuming {task.task_id} after {shown} lines already shown)"
    assert lines[1:-1] == [str(i) for i in range(shown, 40)]
    assert lines[-1].startswith(f"task {task.task_id} completed")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("--gpu h200x", r"^this machine has \S+.*: the local provider cannot run --gpu h200x"),
        ("--image ubuntu:22.04", "cannot run the image ubuntu:22.04"),
    ],
)
def test_gpu_and_image_this_machine_cannot_honour_are_one_line(local, flow, options, message):
    import re

    with pytest.raises(UsageError) as caught:
        flow(f"run {options} -- echo hi")
    assert "\n" not in str(caught.value) and re.search(message, str(caught.value))
    assert local.provider.list_tasks() == []


def test_max_run_time_stops_the_command_with_exit_code_124(local, flow):
    task, out = flow("run --max-run-time 1s --wait -- sleep 30")
    assert (task.status, task.exit_code) == (TaskStatus.FAILED, 124)
    assert "run-time limit" in task.message
