"""%flow cancel: stops a running task; an ended task is reported, not an error."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus


def test_cancel_stops_a_running_task(use_fake, flow):
    provider = use_fake()
    task, _ = flow("run -- sleep 100")
    assert flow(f"cancel {task.task_id}")[1] == f"task {task.task_id} cancelled\n"
    assert provider.cancelled == [task.task_id]
    assert provider.get_task(task.task_id).status is TaskStatus.CANCELLED


def test_cancel_of_an_ended_task_is_one_line_not_an_error(use_fake, flow):
    provider = use_fake()
    task, _ = flow("run --follow -- echo done")
    assert flow(f"cancel {task.task_id}")[1] == f"task {task.task_id} already ended (completed)\n"
    assert provider.cancelled == []
