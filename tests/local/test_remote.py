from __future__ import annotations

import pytest

from flow_notebook.core.errors import RemoteOperationError, TaskNotFoundError, ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.core.provider_interfaces import IRemoteOperations

from .conftest import wait_terminal


@pytest.fixture
def task_id(provider):
    task = provider.submit_task("", TaskConfig(command="echo content > result.txt"))
    wait_terminal(provider, task.task_id)
    return task.task_id


def test_remote_operations_run_in_the_task_work_directory(provider, task_id):
    remote = provider.get_remote_operations()
    assert isinstance(remote, IRemoteOperations)
    assert remote.execute_command(task_id, "cat result.txt; echo $FLOW_TASK_ID") == (
        f"content\n{task_id}\n"
    )
    assert remote.retrieve_file(task_id, "result.txt") == b"content\n"


def test_failing_command_raises_with_the_stderr_tail(provider, task_id):
    with pytest.raises(RemoteOperationError, match="code 4.*went wrong"):
        provider.get_remote_operations().execute_command(task_id, "echo went wrong >&2; exit 4")


def test_command_timeout_is_a_remote_operation_error(provider, task_id):
    with pytest.raises(RemoteOperationError, match="timed out"):
        provider.get_remote_operations().execute_command(task_id, "sleep 5", timeout=0.2)


@pytest.mark.parametrize("path", ["../stdout.log", "/etc/hostname", "/"])
def test_retrieving_files_outside_the_work_directory_is_refused(provider, task_id, path):
    with pytest.raises(ValidationError):
        provider.get_remote_operations().retrieve_file(task_id, path)


def test_open_shell_runs_a_command_or_explains_there_is_no_shell(provider, task_id, capsys):
    remote = provider.get_remote_operations()
    remote.open_shell(task_id, "cat result.txt")
    assert capsys.readouterr().out == "content\n"
    with pytest.raises(RemoteOperationError, match="interactive shell is not available"):
        remote.open_shell(task_id)
    with pytest.raises(TaskNotFoundError):
        remote.execute_command("local-ffffffffffff", "true")
