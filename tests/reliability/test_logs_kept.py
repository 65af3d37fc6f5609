"""Logs outlive a cancel (archived before the client terminates the bid) and a preemption."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.sandbox.testing import wait_for

from .conftest import wait_status

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh]


def test_a_cancelled_tasks_log_is_kept(ssh_sandbox, providers):
    provider = providers.provider(ssh_sandbox)
    command = "sh -c 'for i in $(seq 1 50); do echo line $i; done; sleep 600'"
    task = provider.submit_task("a100", TaskConfig(name="cancelled", command=command))
    wait_status(provider, task.task_id, {"running"}, timeout=60)

    def all_written() -> bool:
        try:
            return "line 50" in provider.get_task_logs(task.task_id, tail=1)
        except FlowError:
            return False  # still starting

    wait_for(all_written, timeout=60, interval=0.2)
    assert provider.cancel_task(task.task_id) is True
    assert provider.get_task(task.task_id).status is TaskStatus.CANCELLED
    kept = provider.get_task_logs(task.task_id, tail=100).splitlines()
    assert kept == [f"line {i}" for i in range(1, 51)]


def test_a_finished_tasks_log_larger_than_8_mb_is_kept_whole(ssh_sandbox, providers, figures):
    provider = providers.provider(ssh_sandbox)
    pad = "x" * 40
    command = f"seq -f 'line %07g {pad}' 1 200000"
    task = provider.submit_task("a100", TaskConfig(name="big-log", command=command))
    wait_status(provider, task.task_id, {"completed"}, timeout=120)
    kept = provider.get_task_logs(task.task_id, tail=250_000).split("\n")
    assert len(kept) == 200_000
    assert kept[0] == f"line 0000001 {pad}" and kept[-1] == f"line 0200000 {pad}"
    size = sum(len(line) + 1 for line in kept)
    figures("big_log_kept", {"lines": len(kept), "bytes": size})


def test_a_followed_tasks_output_outlives_its_preemption(ssh_sandbox, providers, figures):
    provider = providers.provider(ssh_sandbox)
    command = "sh -c 'for i in $(seq 1 50); do echo line $i; done; echo oops >&2; sleep 600'"
    task = provider.submit_task("a100", TaskConfig(name="preempted", command=command))
    wait_status(provider, task.task_id, {"running"}, timeout=60)
    stream = provider.open_log_stream(task.task_id)
    seen: list[str] = []
    try:
        wait_for(lambda: _read_into(stream, seen) >= 51, timeout=60, interval=0)
        ssh_sandbox.preempt(task.task_id)
        wait_status(provider, task.task_id, {"cancelled"}, timeout=60)
    finally:
        stream.close()

    kept = provider.get_task_logs(task.task_id, tail=100).splitlines()
    assert kept == [f"line {i}" for i in range(1, 51)]
    assert provider.get_task_logs(task.task_id, tail=10, log_type="stderr") == "oops"
    assert list(provider.stream_task_logs_from(task.task_id, 48)) == ["line 49", "line 50"]
    figures("preempted_follow_kept", {"lines": len(kept), "of": 50})


def _read_into(stream, seen: list[str]) -> int:
    chunks = stream.read(0.5) or []
    for chunk in chunks:
        seen.extend(chunk.text.splitlines())
    return len(seen)
