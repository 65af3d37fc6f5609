from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from flow_notebook.core.errors import TaskNotFoundError, ValidationError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.core.provider_interfaces import (
    IActiveTasks,
    IClosable,
    IPausable,
    IProvider,
    IResumableLogs,
)
from flow_notebook.core.registry import get_provider
from flow_notebook.providers.local import LocalProvider, proc

from .conftest import wait_for, wait_terminal


def _submit(provider, **config):
    return provider.submit_task("", TaskConfig(**config))


def test_local_provider_implements_provider_and_extensions(provider):
    for protocol in (IProvider, IActiveTasks, IPausable, IResumableLogs, IClosable):
        assert isinstance(provider, protocol)


def test_registry_default_builds_local_provider_under_flow_home(isolated_flow_home):
    built = get_provider()
    try:
        assert isinstance(built, LocalProvider)
        assert built.state_root == isolated_flow_home / "local"
    finally:
        built.close()


def test_command_completes_with_its_output(provider):
    task = _submit(provider, command=["python3", "-c", "print('hello'); print('world')"])
    assert task.task_id.startswith("local-") and len(task.task_id) == len("local-") + 12
    done = wait_terminal(provider, task.task_id)
    assert done.status is TaskStatus.COMPLETED
    assert done.exit_code == 0
    assert done.completed_at is not None and done.started_at is not None
    assert provider.get_task_logs(task.task_id) == "hello\nworld"


def test_failing_command_is_failed_with_its_exit_code(provider):
    task = _submit(provider, command="echo oops >&2; exit 3")
    done = wait_terminal(provider, task.task_id)
    assert done.status is TaskStatus.FAILED
    assert done.exit_code == 3
    assert "code 3" in (done.message or "")
    assert provider.get_task_logs(task.task_id, log_type="stderr") == "oops"


def test_missing_program_fails_instead_of_hanging(provider):
    task = _submit(provider, command=["definitely-not-a-program-xyz"])
    done = wait_terminal(provider, task.task_id)
    assert done.status is TaskStatus.FAILED
    assert "could not be started" in (done.message or "")


@pytest.mark.parametrize(
    ("interpreter", "script"),
    [("python", "import sys\nprint(sys.version_info[0])"), ("bash", "echo 3")],
)
def test_script_runs_with_its_interpreter(provider, interpreter, script):
    task = _submit(provider, script=script, interpreter=interpreter)
    assert wait_terminal(provider, task.task_id).status is TaskStatus.COMPLETED
    assert provider.get_task_logs(task.task_id) == "3"


def test_task_environment_has_env_secrets_and_flow_facts(provider):
    task = _submit(
        provider,
        name="envtest",
        command='echo "$PLAIN $TOKEN $FLOW_TASK_ID $FLOW_TASK_NAME $FLOW_NODE_RANK '
        '$FLOW_NUM_NODES $PYTHONUNBUFFERED"',
        env={"PLAIN": "p"},
        secrets={"TOKEN": "s3cr3t-value"},
    )
    wait_terminal(provider, task.task_id)
    assert provider.get_task_logs(task.task_id) == f"p s3cr3t-value {task.task_id} envtest 0 1 1"


def test_secrets_never_reach_the_store_or_task_files(provider, isolated_flow_home):
    task = _submit(provider, command="true", secrets={"TOKEN": "s3cr3t-value"})
    wait_terminal(provider, task.task_id)
    assert "s3cr3t" not in repr(provider.get_task(task.task_id))
    for path in isolated_flow_home.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-value" not in path.read_bytes(), path


def test_task_runs_in_its_own_work_directory(provider):
    task = _submit(provider, command="pwd")
    wait_terminal(provider, task.task_id)
    work = Path(provider.get_task_logs(task.task_id))
    assert work == provider.state_root / "tasks" / task.task_id / "work"


def test_more_than_one_instance_is_refused_in_one_line(provider):
    with pytest.raises(ValidationError) as info:
        _submit(provider, command="true", num_instances=2)
    assert info.value.field == "num_instances"
    assert "\n" not in str(info.value)


def test_unknown_task_id_is_task_not_found(provider):
    with pytest.raises(TaskNotFoundError, match="no task 'local-000000000000'"):
        provider.get_task("local-000000000000")
    with pytest.raises(TaskNotFoundError):
        provider.stop_task("nope")


def test_list_tasks_is_newest_first_and_filters_by_status(provider):
    first = _submit(provider, command="exit 1")
    second = _submit(provider, command="true")
    wait_terminal(provider, first.task_id)
    wait_terminal(provider, second.task_id)
    assert [t.task_id for t in provider.list_tasks()] == [second.task_id, first.task_id]
    assert [t.task_id for t in provider.list_tasks(status=TaskStatus.FAILED)] == [first.task_id]
    assert len(provider.list_tasks(limit=1)) == 1
    assert provider.list_active_tasks() == []


def test_task_instance_describes_the_process(provider):
    task = _submit(provider, command=["sleep", "5"])
    running = wait_for(lambda: provider.get_task(task.task_id).metadata.get("pid"))
    [instance] = provider.get_task_instances(task.task_id)
    assert instance.task_id == task.task_id
    assert instance.status == "running"
    assert str(running) in instance.instance_id
    assert [t.task_id for t in provider.list_active_tasks()] == [task.task_id]


def test_supervisor_that_vanished_without_exit_code_means_failed(provider):
    task = _submit(provider, command=["sleep", "30"])
    pid = wait_for(lambda: provider.get_task(task.task_id).metadata.get("pid"))
    record = provider._store.get(task.task_id)
    os.kill(record.supervisor_pid, signal.SIGKILL)
    os.killpg(pid, signal.SIGKILL)
    done = wait_terminal(provider, task.task_id)
    assert done.status is TaskStatus.FAILED
    assert "without recording an exit code" in done.message
    assert not proc.group_alive(pid)


def test_time_limit_stops_the_task_as_failed(provider):
    task = _submit(provider, command=["sleep", "30"], max_run_time_hours=0.3 / 3600)
    done = wait_terminal(provider, task.task_id)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 124)
    assert "run-time limit" in done.message
    assert "stopped after reaching the run-time limit (0.3s)" in provider.get_task_logs(
        task.task_id, log_type="stderr"
    )


def test_capabilities_user_and_machine_description(provider):
    caps = provider.get_capabilities()
    assert caps.name == "local" and caps.supports_pause and caps.pricing_model == "free"
    assert provider.get_user("anything").user_id == str(os.getuid())
    [offer] = provider.find_instances({})
    assert offer.price_per_hour == 0.0 and offer.cpu_cores >= 1
    assert offer.instance_type == provider.resolve_instance_type("cpu")


def test_submit_returns_once_the_command_runs(provider):
    task = provider.submit_task("cpu", TaskConfig(command=["sleep", "5"]))
    try:
        assert task.status is TaskStatus.RUNNING
        assert task.started_at is not None
    finally:
        provider.stop_task(task.task_id)
