"""Task records persisted with diskcache, shared by every Python process on the machine.

A record holds what the launcher knew when it started a task and the flags later
calls set (cancel requested, paused, the final state once observed). It never holds
environment values or secrets. diskcache keeps the records in SQLite, so a second
process (another kernel, a terminal) lists, follows and cancels the same tasks.

A damaged store (SQLite reports a malformed or foreign file) is moved aside as
``store.damaged-<time>``, kept for the user, and a new one is started, with one
warning line saying so. A store that cannot be written (full disk, read-only
``FLOW_HOME``) is one ``ConfigurationError`` line naming the directory, the reason
and the fix.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from flow_notebook.core.errors import ConfigurationError
from flow_notebook.core.fs_errors import file_error
from flow_notebook.core.models import TaskStatus, utcnow

_PREFIX = "task:"
# Newest-first index: one key per record, ``~created:<UTC time>:<task id>``. "~" sorts
# after "task:", so a reverse scan of the keys meets the newest records first and a
# listing of the newest N reads N records, however many the store holds.
_ORDER = "~created:"
_INDEXED = "meta:created-index"
logger = logging.getLogger(__name__)
T = TypeVar("T")


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
        self._dir = directory
        self._cache: Any = None
        self._guarded(self._reopen)

    def put(self, record: TaskRecord) -> None:
        """Stores (or replaces) a record, with its entry in the newest-first index."""
        data = record.model_dump(mode="json")

        def write() -> None:
            with self._cache.transact():
                self._cache.set(_PREFIX + record.task_id, data)
                self._cache.set(_order_key(record), record.task_id)

        self._guarded(write)

    def get(self, task_id: str) -> TaskRecord | None:
        """Returns the record of ``task_id``, or ``None``."""
        raw = self._guarded(lambda: self._cache.get(_PREFIX + task_id))
        return TaskRecord.model_validate(raw) if raw is not None else None

    def update(self, task_id: str, **changes: Any) -> TaskRecord | None:
        """Changes fields of a record atomically; returns the new record or ``None``."""

        def change() -> TaskRecord | None:
            with self._cache.transact():
                raw = self._cache.get(_PREFIX + task_id)
                if raw is None:
                    return None
                merged = TaskRecord.model_validate(raw).model_copy(update=changes)
                self._cache.set(_PREFIX + task_id, merged.model_dump(mode="json"))
                return merged

        return self._guarded(change)

    def records(self) -> Iterator[TaskRecord]:
        """Yields every record, in no particular order."""
        keys = self._guarded(lambda: list(self._cache.iterkeys()))
        for key in keys:
            if isinstance(key, str) and key.startswith(_PREFIX):
                record = self.get(key[len(_PREFIX) :])
                if record is not None:
                    yield record

    def newest(self) -> Iterator[TaskRecord]:
        """Yields every record, newest first; reads only as far as the caller iterates."""
        self._guarded(self._ensure_index)
        keys = self._cache.iterkeys(reverse=True)  # lazy: 100 keys per query
        while True:
            key = self._guarded(lambda: next(keys, None))
            if not (isinstance(key, str) and key.startswith(_ORDER)):
                return
            record = self.get(key.rsplit(":", 1)[1])
            if record is not None:
                yield record

    def _ensure_index(self) -> None:
        """Indexes records stored before the index existed (once per store)."""
        if self._cache.get(_INDEXED):
            return
        with self._cache.transact():
            for key in list(self._cache.iterkeys()):
                if isinstance(key, str) and key.startswith(_PREFIX):
                    raw = self._cache.get(key)
                    if raw is not None:
                        record = TaskRecord.model_validate(raw)
                        self._cache.set(_order_key(record), record.task_id)
            self._cache.set(_INDEXED, True)

    def close(self) -> None:
        """Closes the cache's connections. Safe to call twice."""
        if self._cache is not None:
            self._cache.close()

    def _reopen(self) -> None:
        import diskcache

        self.close()
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._cache = diskcache.Cache(str(self._dir))
        if len(self._cache) == 0:
            self._cache.set(_INDEXED, True)  # a new store: every record is indexed by put

    def _guarded(self, operation: Callable[[], T]) -> T:
        """Runs ``operation``; a damaged store is replaced once, other failures are one line."""
        import sqlite3

        try:
            return operation()
        except sqlite3.OperationalError as exc:
            raise self._unwritable(exc) from None
        except OSError as exc:
            raise file_error("use the local task store", self._dir, exc) from None
        except sqlite3.DatabaseError as exc:
            self._replace_damaged(exc)
        try:
            return operation()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise ConfigurationError(
                f"the local task store {self._dir} is unusable: {exc}",
                suggestion=f"move {self._dir} away and try again",
            ) from None

    def _replace_damaged(self, exc: Exception) -> None:
        self.close()
        aside = self._dir.with_name(f"{self._dir.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self._dir, aside)
        except OSError as move:
            raise file_error("move the damaged task store", self._dir, move) from None
        logger.warning(
            "the local task store %s was damaged (%s); moved it to %s and started a new one"
            " (the tasks recorded there are no longer listed)",
            self._dir, exc, aside,
        )  # fmt: skip
        self._reopen()

    def _unwritable(self, exc: Exception) -> ConfigurationError:
        text = str(exc).lower()
        if "full" in text or _free_bytes(self._dir) == 0:
            reason, fix = "the disk is full", "free space on that disk, or set FLOW_HOME elsewhere"
        elif "readonly" in text or "read-only" in text or not os.access(self._dir, os.W_OK):
            reason, fix = "it is read-only", "make FLOW_HOME writable, or set it elsewhere"
        else:
            reason, fix = str(exc), f"check {self._dir}, or move it away and try again"
        return ConfigurationError(
            f"cannot use the local task store {self._dir}: {reason}", suggestion=fix
        )


def _order_key(record: TaskRecord) -> str:
    created = record.created_at
    if created.tzinfo is not None:
        created = created.astimezone(timezone.utc)
    return f"{_ORDER}{created.strftime('%Y-%m-%dT%H:%M:%S.%f')}:{record.task_id}"


def _free_bytes(directory: Path) -> int | None:
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None
