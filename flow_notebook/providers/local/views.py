"""Turns a task record and its observed state into the shared ``Task``/``Instance`` models."""

from __future__ import annotations

from flow_notebook.core.models import Instance, Task
from flow_notebook.providers.local.control import TaskState
from flow_notebook.providers.local.store import TaskRecord

PROVIDER_NAME = "local"


def to_task(record: TaskRecord, state: TaskState) -> Task:
    """Returns the task as every provider reports it (cost 0, region ``local``)."""
    metadata = dict(record.metadata)
    if state.pid:
        metadata["pid"] = state.pid
    return Task(
        task_id=record.task_id,
        name=record.name,
        status=state.status,
        provider=PROVIDER_NAME,
        instance_type=record.instance_type,
        num_instances=1,
        region="local",
        cost_per_hour=0.0,
        created_at=record.created_at,
        started_at=state.started_at,
        completed_at=state.completed_at,
        exit_code=state.exit_code,
        message=state.message,
        instances=[record.task_id],
        command=record.command,
        metadata=metadata,
    )


def to_instance(record: TaskRecord, state: TaskState) -> Instance:
    """Returns the task's one instance: its process group on this machine."""
    instance_id = f"{record.task_id}-pid{state.pid}" if state.pid else f"{record.task_id}-0"
    return Instance(
        instance_id=instance_id,
        task_id=record.task_id,
        status=state.status.value,
        instance_type=record.instance_type,
        region="local",
        private_ip="127.0.0.1",
        created_at=record.created_at,
    )
