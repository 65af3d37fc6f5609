"""What this machine remembers about its Mithril tasks: command line, exit code, times.

The API knows bids, not commands or exit codes. The command is kept to show it;
the exit code is kept because the provider terminates a bid once its command has
ended, after which the instances (and the exit code file on them) are gone. For
the same reason the start (the first instance's creation) and end times are kept:
a terminated bid lists no instances, so its runtime could no longer be told. The
record lives under ``FLOW_HOME`` so every kernel of the user sees it.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Protocol


class IRecordStore(Protocol):
    """A persistent key -> JSON value store (``DiskTtlCache`` fits)."""

    def get(self, key: str, default: Any = None) -> Any:
        """Returns the value of ``key`` or ``default``."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Stores ``value`` under ``key``."""
        ...


class MemoryRecordStore:
    """An in-memory ``IRecordStore``, for tests and for callers without a home."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """Returns the value of ``key`` or ``default``."""
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Stores ``value`` under ``key``."""
        self._values[key] = value


class TaskRecords:
    """Reads and updates the record of each task.

    Args:
        store: Where records persist.
    """

    def __init__(self, store: IRecordStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def get(self, task_id: str) -> dict[str, Any]:
        """Returns the task's record (empty when nothing is known)."""
        found = self._store.get(_key(task_id))
        return dict(found) if isinstance(found, dict) else {}

    def update(self, task_id: str, **fields: Any) -> dict[str, Any]:
        """Sets ``fields`` in the task's record and returns the record."""
        with self._lock:
            record = self.get(task_id)
            record.update(fields)
            self._store.set(_key(task_id), record)
            return record

    def command(self, task_id: str) -> str | None:
        """Returns the recorded command line, if any."""
        value = self.get(task_id).get("command")
        return value if isinstance(value, str) else None

    def exit_code(self, task_id: str) -> int | None:
        """Returns the recorded exit code, if any."""
        value = self.get(task_id).get("exit_code")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def recorded_time(record: dict[str, Any], field: str) -> datetime | None:
    """Returns a time kept in a task's record (``started_at``, ``ended_at``), if any."""
    value = record.get(field)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _key(task_id: str) -> str:
    return f"task:{task_id}"
