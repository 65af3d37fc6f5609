"""Another FLOW_HOME (another kernel's machine) sees the true final state of a task."""

from __future__ import annotations

import pytest

from flow_notebook.core.models import TaskConfig, TaskStatus

from .conftest import ProviderFactory, wait_status

pytestmark = [pytest.mark.sandbox, pytest.mark.ssh]


def test_a_finished_task_shows_its_true_end_from_another_flow_home(
    ssh_sandbox, providers, tmp_path
):
    here = providers.provider(ssh_sandbox)
    done = here.submit_task("a100", TaskConfig(name="ok-task", command="true"))
    failed = here.submit_task("a100", TaskConfig(name="bad-task", command="sh -c 'exit 3'"))
    wait_status(here, done.task_id, {"completed"}, timeout=90)
    wait_status(here, failed.task_id, {"failed"}, timeout=90)

    elsewhere_home = tmp_path / "other-machine"
    elsewhere_home.mkdir()
    elsewhere = ProviderFactory(elsewhere_home)
    try:
        other = elsewhere.provider(ssh_sandbox)
        listed = {task.task_id: task for task in other.list_tasks(limit=20)}
        assert listed[done.task_id].status is TaskStatus.COMPLETED
        assert listed[failed.task_id].status is TaskStatus.FAILED
        seen = other.get_task(failed.task_id)
        assert (seen.status, seen.exit_code) == (TaskStatus.FAILED, 3)
    finally:
        elsewhere.close()
