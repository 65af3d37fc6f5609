"""What this machine remembers of each Slurm task: one JSON file per task.

Records live in ``<FLOW_HOME>/slurm/tasks/<task_id>.json`` (written atomically), so a
new kernel lists, follows and cancels the tasks an earlier one submitted. They hold
no environment values and no secrets.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flow_notebook.core.errors import TaskNotFoundError
from flow_notebook.core.fs_errors import file_error
from flow_notebook.core.models import TaskStatus, utcnow

TASK_PREFIX = "slurm-"


class SlurmTaskRecord(BaseModel):
    """One submitted job.

    Attributes:
        task_id: ``slurm-<job id>``.
        job_id: Slurm's job id.
        name: Task name (the job name).
        created_at: When it was submitted.
        command: The command line, for display.
        instance_type: ``2xa100`` or ``cpu``.
        partition: The partition.
        num_nodes: Number of nodes.
        task_dir: The task's directory on the shared filesystem.
        work_dir: Its working directory there.
        metadata: Display facts; never secrets.
        final_state: Slurm's final state, once seen.
        exit_code: The exit code, once known.
        message: The state detail, once final.
        started_at: When it started running, once seen.
        completed_at: When it ended, once seen.
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    job_id: str
    name: str
    created_at: datetime = Field(default_factory=utcnow)
    command: str = ""
    instance_type: str = ""
    partition: str = ""
    num_nodes: int = 1
    task_dir: str
    work_dir: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    final_state: str | None = None
    final_status: TaskStatus | None = None
    exit_code: int | None = None
    message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


class RecordStore:
    """Reads and writes task records in a directory.

    Args:
        directory: Where the JSON files go (created on first write).
    """

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)

    def save(self, record: SlurmTaskRecord) -> None:
        """Writes ``record`` atomically.

        Raises:
            ConfigurationError: The directory cannot be written.
        """
        path = self._path(record.task_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            tmp.write_text(record.model_dump_json(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise file_error("write task record", path, exc) from None

    def get(self, task_id: str) -> SlurmTaskRecord:
        """Returns the record of ``task_id``.

        Raises:
            TaskNotFoundError: No such task was submitted from this FLOW_HOME.
        """
        record = self._load(self._path(task_id)) if task_id.startswith(TASK_PREFIX) else None
        if record is None:
            raise TaskNotFoundError(f"no Slurm task {task_id!r}")
        return record

    def all(self) -> list[SlurmTaskRecord]:
        """Returns every record, newest first."""
        if not self._dir.is_dir():
            return []
        found = [self._load(path) for path in self._dir.glob(f"{TASK_PREFIX}*.json")]
        return sorted((r for r in found if r is not None), key=lambda r: r.created_at, reverse=True)

    def _path(self, task_id: str) -> Path:
        safe = "".join(c for c in task_id if c.isalnum() or c in "-_")
        return self._dir / f"{safe}.json"

    @staticmethod
    def _load(path: Path) -> SlurmTaskRecord | None:
        try:
            return SlurmTaskRecord.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError):
            return None
