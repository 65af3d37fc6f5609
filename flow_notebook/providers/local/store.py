"""Task records persisted with diskcache, shared by every Python process on the machine.

A record holds what the launcher knew when it started a task and the flags later
calls set (cancel requested, paused, the final state once observed). It never holds
environment values or secrets. diskcache keeps the records in SQLite, so a second
process (another kernel, a terminal) lists, follows and cancels the same tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flow_notebook.core.errors import ProviderUnavailableError
from flow_notebook.core.models import TaskStatus, utcnow

_PREFIX = "task:"


class TaskRecord(BaseModel):
    """What is persisted about one local task.

    Attributes:
        task_id: ``local-<12 hex>``.
        name: Task name.
        created_at: When it was submitted.
        command: The command line, for display.
        instance_type: This machine's type at submission.
        task_dir: Directory with the logs and the supervisor's files.
        work_dir: Directory the command runs in.
        supervisor_pid: Pid of the supervisor process.
        supervisor_ticks: Start ticks of the supervisor, telling a reused pid apart.
        cancel_requested: Whether a cancel was asked for.
        paused: Whether the task is paused (SIGSTOP).
        metadata: Display facts (code digest, volumes); never secrets.
        final_status: The terminal status, once observed.
        exit_code: The exit code, once known.
        message: Why the task ended as it did, once known.
        started_at: When the command started, once known.
        completed_at: When the task reached its terminal status.
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    name: str
    created_at: datetime = Field(default_factory=utcnow)
    command: str = ""
    instance_type: str = ""
    task_dir: Path
    work_dir: Path
    supervisor_pid: int | None = None
    supervisor_ticks: int | None = None
    cancel_requested: bool = False
    paused: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    final_status: TaskStatus | None = None
    exit_code: int | None = None
    message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


class TaskStore:
    """Reads and writes task records in a diskcache directory.

    Args:
        directory: Where the cache lives; created when missing.
    """

    def __init__(self, directory: Path) -> None:
        import diskcache

        directory.mkdir(parents=True, exist_ok=True)
        try:
            self._cache = diskcache.Cache(str(directory))
        except Exception as exc:  # diskcache raises sqlite3 and OS errors alike.
            raise ProviderUnavailableError(f"cannot open the local task store: {exc}") from exc

    def put(self, record: TaskRecord) -> None:
        """Stores (or replaces) a record."""
        self._cache.set(_PREFIX + record.task_id, record.model_dump(mode="json"))

    def get(self, task_id: str) -> TaskRecord | None:
        """Returns the record of ``task_id``, or ``None``."""
        raw = self._cache.get(_PREFIX + task_id)
        return TaskRecord.model_validate(raw) if raw is not None else None

    def update(self, task_id: str, **changes: Any) -> TaskRecord | None:
        """Changes fields of a record atomically; returns the new record or ``None``."""
        with self._cache.transact():
            record = self.get(task_id)
            if record is None:
                return None
            merged = record.model_copy(update=changes)
            self.put(merged)
            return merged

    def records(self) -> Iterator[TaskRecord]:
        """Yields every record, in no particular order."""
        for key in list(self._cache.iterkeys()):
            if isinstance(key, str) and key.startswith(_PREFIX):
                record = self.get(key[len(_PREFIX) :])
                if record is not None:
                    yield record

    def close(self) -> None:
        """Closes the cache's connections. Safe to call twice."""
        self._cache.close()
