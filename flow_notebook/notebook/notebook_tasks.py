"""The tasks each notebook started, kept across kernel restarts.

Records live in ``$FLOW_HOME/notebook/tasks.json``, grouped by notebook key (the
notebook's path in Jupyter, else the kernel's working directory). A record holds what
``%flow attach``, ``%flow sync`` and ``%flow tasks --notebook`` need: never a secret
value, only the names of the secret variables.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flow_notebook.core.config import flow_home
from flow_notebook.notebook.state_file import read_json_object, update_json_object

MAX_PER_NOTEBOOK = 200
MAX_AGE_ENV = "FLOW_RECORD_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 90.0


@dataclass
class TaskRecord:
    """What this notebook remembers about a task it started.

    Attributes:
        task_id: The provider's task id.
        name: Task name.
        provider: Provider name.
        started_at: ISO time of submission.
        code_root: Local directory synced to the task, when code was sent.
        code_digest: ``tree_digest`` of the synced tree.
        git_commit: Git commit of the code directory, when it is a repository.
        git_dirty: Whether the work tree had uncommitted changes.
        synced_at: Epoch seconds of the last sync (local edits after it are not remote).
        secret_names: Names of the task's secret variables (values are never stored).
        pull_names: Variables the cell asked to bring back.
        pull_file: File in the task's working directory holding the pulled values.
        working_dir: The task's working directory on the instance.
    """

    task_id: str
    name: str = ""
    provider: str = ""
    started_at: str = ""
    code_root: str | None = None
    code_digest: str | None = None
    git_commit: str | None = None
    git_dirty: bool = False
    synced_at: float | None = None
    secret_names: list[str] = field(default_factory=list)
    pull_names: list[str] = field(default_factory=list)
    pull_file: str | None = None
    working_dir: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TaskRecord:
        """Builds a record from stored JSON, ignoring keys it does not know."""
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in raw.items() if key in known})


def notebook_key(user_ns: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """Returns the key of the running notebook.

    Jupyter tells the kernel its notebook's path through ``__session__`` (in the
    user namespace) or ``JPY_SESSION_NAME``; elsewhere the kernel's cwd stands in.
    """
    env = os.environ if environ is None else environ
    session = user_ns.get("__session__") or env.get("JPY_SESSION_NAME")
    if isinstance(session, str) and session.strip():
        return session.strip()
    return os.getcwd()


class NotebookTasks:
    """Reads and writes the per-notebook task records.

    Args:
        path: The JSON file; ``None`` means ``$FLOW_HOME/notebook/tasks.json``,
            resolved on each use so a changed ``FLOW_HOME`` is respected.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The file the records live in."""
        return self._path or flow_home() / "notebook" / "tasks.json"

    def add(self, notebook: str, record: TaskRecord) -> None:
        """Records a task this notebook started (newest last; old ones roll off).

        Records started more than ``FLOW_RECORD_MAX_AGE_DAYS`` (90) days ago are
        dropped from every notebook, and at most ``MAX_PER_NOTEBOOK`` are kept each.
        """
        cutoff = _cutoff()

        def change(data: dict[str, Any]) -> None:
            for key in list(data):
                data[key] = [e for e in data[key] if _started_after(e, cutoff)]
                if not data[key]:
                    del data[key]
            entries = [e for e in data.get(notebook, []) if e.get("task_id") != record.task_id]
            entries.append(asdict(record))
            data[notebook] = entries[-MAX_PER_NOTEBOOK:]

        with self._lock:
            update_json_object(self.path, change)

    def update(self, task_id: str, **changes: Any) -> TaskRecord | None:
        """Changes fields of the task's record wherever it is; returns it, or ``None``."""

        def change(data: dict[str, Any]) -> TaskRecord | None:
            for entries in data.values():
                for entry in entries:
                    if entry.get("task_id") == task_id:
                        entry.update(changes)
                        return TaskRecord.from_dict(entry)
            return None

        with self._lock:
            return update_json_object(self.path, change)

    def for_notebook(self, notebook: str) -> list[TaskRecord]:
        """Returns the records of ``notebook``, oldest first."""
        with self._lock:
            entries = read_json_object(self.path).get(notebook, [])
        return [TaskRecord.from_dict(entry) for entry in entries]

    def find(self, task_id: str) -> TaskRecord | None:
        """Returns the record of ``task_id`` from any notebook, or ``None``."""
        with self._lock:
            data = read_json_object(self.path)
        for entries in data.values():
            for entry in entries:
                if entry.get("task_id") == task_id:
                    return TaskRecord.from_dict(entry)
        return None


def _cutoff() -> datetime:
    try:
        days = float(os.environ.get(MAX_AGE_ENV) or DEFAULT_MAX_AGE_DAYS)
    except ValueError:
        days = DEFAULT_MAX_AGE_DAYS
    return datetime.now(timezone.utc) - timedelta(days=days)


def _started_after(entry: Mapping[str, Any], cutoff: datetime) -> bool:
    try:
        started = datetime.fromisoformat(str(entry.get("started_at")))
    except ValueError:
        return True  # Unknown age: kept (the per-notebook cap still applies).
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return started >= cutoff
