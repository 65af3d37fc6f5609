from __future__ import annotations

import json
from datetime import timedelta

import pydantic
import pytest

from flow_notebook.core.models import Task, TaskConfig, TaskStatus, VolumeSpec, utcnow


@pytest.mark.parametrize("name", ["", "-starts-with-dash", "has space", "a" * 64, "semi;colon"])
def test_bad_task_names_are_refused(name):
    with pytest.raises(pydantic.ValidationError, match="name must be"):
        TaskConfig(name=name, command="true")


@pytest.mark.parametrize("command", ["", "   ", [], [""], ["a\x00b"], "x\x00"])
def test_empty_or_nul_commands_are_refused(command):
    with pytest.raises(pydantic.ValidationError):
        TaskConfig(command=command)


def test_exactly_one_of_command_or_script_is_required():
    with pytest.raises(pydantic.ValidationError, match="give a command or a script"):
        TaskConfig()
    with pytest.raises(pydantic.ValidationError, match="not both"):
        TaskConfig(command="true", script="print(1)")
    with pytest.raises(pydantic.ValidationError, match="script is empty"):
        TaskConfig(script="  ")


@pytest.mark.parametrize("key", ["1ABC", "A-B", "has space", ""])
def test_invalid_env_keys_are_refused_in_env_and_secrets(key):
    with pytest.raises(pydantic.ValidationError, match="not valid"):
        TaskConfig(command="true", env={key: "v"})
    with pytest.raises(pydantic.ValidationError, match="not valid"):
        TaskConfig(command="true", secrets={key: "v"})


def test_env_values_with_nul_or_too_long_are_refused():
    with pytest.raises(pydantic.ValidationError, match="NUL"):
        TaskConfig(command="true", env={"A": "x\x00"})
    with pytest.raises(pydantic.ValidationError, match="longer"):
        TaskConfig(command="true", env={"A": "x" * 40_000})


def test_secrets_are_masked_in_repr_str_and_json_but_revealable():
    config = TaskConfig(command="true", secrets={"TOKEN": "s3cr3t"})
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(config)
    dumped = config.model_dump_json()
    assert "s3cr3t" not in dumped
    assert json.loads(dumped)["secrets"] == {"TOKEN": "**********"}
    assert config.secret_values() == {"TOKEN": "s3cr3t"}


def test_unknown_fields_and_bad_ranges_are_refused():
    with pytest.raises(pydantic.ValidationError):
        TaskConfig(command="true", gpus=2)
    with pytest.raises(pydantic.ValidationError):
        TaskConfig(command="true", num_instances=0)
    with pytest.raises(pydantic.ValidationError):
        TaskConfig(command="true", interpreter="ruby")
    with pytest.raises(pydantic.ValidationError):
        TaskConfig(command="true", working_dir="relative")


def test_volume_spec_needs_an_identity_and_an_absolute_mount_path():
    with pytest.raises(pydantic.ValidationError, match="needs a volume_id"):
        VolumeSpec()
    with pytest.raises(pydantic.ValidationError, match="absolute"):
        VolumeSpec(name="x", mount_path="data")
    with pytest.raises(pydantic.ValidationError, match="absolute"):
        VolumeSpec(name="x", mount_path="/data/../etc")
    assert VolumeSpec(size_gb=5).mount_path == "/data"


def test_command_line_is_shell_quoted_for_display():
    assert TaskConfig(command=["echo", "a b"]).command_line() == "echo 'a b'"
    assert TaskConfig(script="a\nb").command_line() == "<python script, 2 lines>"


def test_terminal_states_and_task_runtime_and_cost():
    assert {s for s in TaskStatus if s.is_terminal} == {
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
    start = utcnow()
    task = Task(
        task_id="t",
        name="n",
        status=TaskStatus.RUNNING,
        provider="local",
        started_at=start,
        cost_per_hour=3.6,
    )
    assert task.runtime_seconds(start + timedelta(seconds=10)) == 10
    assert task.cost_so_far(start + timedelta(seconds=10)) == pytest.approx(0.01)
    assert not task.is_terminal
    assert task.ssh_command() is None
    task.ssh_host, task.ssh_port, task.ssh_user = "h", 2222, "u"
    assert task.ssh_command() == "ssh -p 2222 u@h"


def test_a_task_as_a_cells_value_is_one_line():
    from IPython.lib.pretty import pretty

    from flow_notebook.core.models import Task, TaskStatus

    task = Task(task_id="t-1", name="train", status=TaskStatus.RUNNING, provider="local")
    assert pretty(task) == "<Task t-1 (train) running>"
