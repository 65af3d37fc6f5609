"""What a waiting cell raises once its follow ended: one line, only when the wait broke."""

from __future__ import annotations

import pytest

from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.pinned import TaskFailedError, raise_on_failure
from flow_notebook.notebook.render import RunSummary


def _summary(status: TaskStatus, note: str | None) -> RunSummary:
    task = Task(task_id="t-1", name="demo", status=status, provider="local")
    return RunSummary(task=task, note=note)


def test_a_lost_stream_of_a_running_task_is_a_one_line_error():
    summary = _summary(TaskStatus.RUNNING, "stopped following (link down): %flow attach t-1")
    with pytest.raises(TaskFailedError) as caught:
        raise_on_failure(summary, lost="link down")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("task t-1 is still running, but its log was lost (link down)")
    assert "%flow attach t-1" in message


def test_a_detach_or_a_timeout_asked_for_by_the_user_is_no_error():
    raise_on_failure(_summary(TaskStatus.RUNNING, "detached (interrupted): %flow attach t-1"))


def test_a_lost_stream_of_a_task_that_ended_is_judged_by_its_end():
    raise_on_failure(_summary(TaskStatus.COMPLETED, "stopped following (x)"), lost="x")
