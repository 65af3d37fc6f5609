from __future__ import annotations

import time

import pytest

from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.providers.local import proc

from .conftest import pid_alive, wait_for, wait_terminal


def _running(provider, **config):
    task = provider.submit_task("", TaskConfig(**config))
    pgid = wait_for(lambda: provider.get_task(task.task_id).metadata.get("pid"))
    return task.task_id, pgid


def test_cancel_kills_the_whole_group_including_grandchildren(provider):
    task_id, pgid = _running(provider, command="sleep 60 & sleep 61 & wait")
    members = wait_for(lambda: len(proc.group_members(pgid)) >= 3 and proc.group_members(pgid))
    assert provider.stop_task(task_id) is True
    assert proc.group_members(pgid) == []
    assert not any(pid_alive(pid) for pid in members)
    task = provider.get_task(task_id)
    assert task.status is TaskStatus.CANCELLED and task.completed_at is not None


def test_cancel_escalates_to_sigkill_when_sigterm_is_ignored(provider):
    task_id, pgid = _running(provider, command="trap '' TERM; sleep 60 & wait")
    wait_for(lambda: len(proc.group_members(pgid)) >= 2)
    assert provider.cancel_task(task_id) is True
    assert not proc.group_alive(pgid)
    assert provider.get_task_status(task_id) is TaskStatus.CANCELLED


def test_cancelling_an_ended_task_returns_false(provider):
    task = provider.submit_task("", TaskConfig(command="true"))
    wait_terminal(provider, task.task_id)
    assert provider.stop_task(task.task_id) is False
    assert provider.get_task_status(task.task_id) is TaskStatus.COMPLETED


def test_cancel_right_after_submit_stops_the_task(provider):
    task = provider.submit_task("", TaskConfig(command=["sleep", "60"]))
    assert provider.stop_task(task.task_id) is True
    assert provider.get_task_status(task.task_id) is TaskStatus.CANCELLED
    assert provider.stop_task(task.task_id) is False


def test_leftover_background_processes_are_stopped_when_command_exits(provider):
    task_id, pgid = _running(provider, command="sleep 60 & echo started")
    wait_terminal(provider, task_id)
    wait_for(lambda: not proc.group_alive(pgid), timeout=5)


def test_pause_stops_progress_and_resume_continues_idempotently(provider, tmp_path):
    counter = tmp_path / "count"
    script = (
        f"import time, pathlib\np = pathlib.Path({str(counter)!r})\ni = 0\n"
        "while True:\n    i += 1\n    p.write_text(str(i))\n    time.sleep(0.01)\n"
    )
    task_id, _ = _running(provider, script=script)
    wait_for(lambda: counter.exists() and counter.read_text() not in ("", "1"))
    assert provider.pause_task(task_id) is True
    assert provider.pause_task(task_id) is False
    assert provider.get_task_status(task_id) is TaskStatus.PAUSED
    frozen = counter.read_text()
    time.sleep(0.15)  # Long enough for about 15 writes were it running.
    assert counter.read_text() == frozen
    assert provider.resume_task(task_id) is True
    assert provider.resume_task(task_id) is False
    wait_for(lambda: counter.read_text() not in (frozen, ""))
    assert provider.get_task_status(task_id) is TaskStatus.RUNNING


def test_paused_task_can_still_be_cancelled(provider):
    task_id, pgid = _running(provider, command=["sleep", "60"])
    provider.pause_task(task_id)
    assert provider.stop_task(task_id) is True
    assert not proc.group_alive(pgid)


def test_pausing_an_ended_task_is_a_state_error(provider):
    task = provider.submit_task("", TaskConfig(command="true"))
    wait_terminal(provider, task.task_id)
    with pytest.raises(TaskStateError):
        provider.pause_task(task.task_id)
    assert provider.resume_task(task.task_id) is False
