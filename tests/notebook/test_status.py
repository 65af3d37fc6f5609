"""%flow status: one task in detail, the last one started here by default."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus


def test_status_without_task_shows_the_last_task_started(use_fake, flow):
    use_fake()
    flow("run -- echo first")
    second, _ = flow("run --name second -- echo second")
    _, out = flow("status")
    assert out.splitlines()[:3] == [
        f"task:     {second.task_id}",
        "name:     second",
        "status:   running",
    ]
    assert "command:  echo second" in out


def test_status_of_a_failed_task_shows_its_exit_code(use_fake, flow):
    use_fake(final=TaskStatus.FAILED, exit_code=2)
    task, _ = flow("run --follow -- false")
    _, out = flow(f"status {task.task_id}")
    assert "status:    failed" in out
    assert "exit code: 2" in out
