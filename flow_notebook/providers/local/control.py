"""Observes and controls local tasks: status, cancel, pause and resume.

Status is derived, never guessed: the persisted record, the supervisor's
``child.json`` and ``exit.json`` files, and whether the supervisor or the task's
process group still runs. A supervisor that vanished without writing an exit code,
with nothing of the task left running, means the task failed. Once a task is seen
in a terminal state, that outcome is stored so it never changes afterwards.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskStatus, utcnow
from flow_notebook.providers.local import proc
from flow_notebook.providers.local.store import TaskRecord, TaskStore

VANISHED_MESSAGE = "the task's supervisor exited without recording an exit code"


@dataclass(frozen=True)
class TaskState:
    """A task's observed state.

    Attributes:
        status: Lifecycle status.
        exit_code: Exit code, once known (negative: killed by that signal).
        message: Why it ended as it did, when it ended.
        started_at: When the command started.
        completed_at: When it reached a terminal status.
        pid: Pid (and process group id) of the command, once started.
    """

    status: TaskStatus
    exit_code: int | None = None
    message: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    pid: int | None = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return record
    except (FileNotFoundError, ValueError):
        return None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _exit_message(code: int, reason: str) -> str | None:
    if reason == "timeout":
        return "stopped after reaching the run-time limit (--max-run-time)"
    if reason == "start_failed":
        return "the command could not be started (see stderr)"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}" if code else None


class TaskControl:
    """Derives task states and signals task process groups.

    Args:
        store: The task records.
        cancel_grace_seconds: How long a cancelled task gets between SIGTERM and SIGKILL.
    """

    def __init__(self, store: TaskStore, cancel_grace_seconds: float = 2.0) -> None:
        self._store = store
        self._grace = cancel_grace_seconds
        self._wait = threading.Event().wait

    def observe(self, record: TaskRecord) -> TaskState:
        """Returns the task's current state; stores it once it is terminal."""
        if record.final_status is not None:
            return TaskState(
                record.final_status,
                record.exit_code,
                record.message,
                record.started_at,
                record.completed_at,
            )
        state = self._derive(record)
        if state.status.is_terminal:
            self._store.update(
                record.task_id,
                final_status=state.status,
                exit_code=state.exit_code,
                message=state.message,
                started_at=state.started_at,
                completed_at=state.completed_at,
                paused=False,
            )
        return state

    def _derive(self, record: TaskRecord) -> TaskState:
        child = _read_json(record.task_dir / "child.json") or {}
        done = _read_json(record.task_dir / "exit.json")
        started = _parse_time(child.get("started_at"))
        pid = child.get("pid")
        if done is not None:
            code = int(done["exit_code"])
            status = TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED
            message = _exit_message(code, str(done.get("reason", "exited")))
            if record.cancel_requested:
                status, message = TaskStatus.CANCELLED, "cancelled"
            elif done.get("reason") in ("timeout", "start_failed"):
                status = TaskStatus.FAILED
            return TaskState(status, code, message, started, _parse_time(done["ended_at"]), pid)
        if self._running(record, child):
            if not child:
                return TaskState(TaskStatus.PENDING)
            status = TaskStatus.PAUSED if record.paused else TaskStatus.RUNNING
            return TaskState(status, started_at=started, pid=pid)
        if record.cancel_requested:
            return TaskState(TaskStatus.CANCELLED, None, "cancelled", started, utcnow(), pid)
        return TaskState(TaskStatus.FAILED, None, VANISHED_MESSAGE, started, utcnow(), pid)

    @staticmethod
    def _running(record: TaskRecord, child: dict[str, Any]) -> bool:
        if proc.process_alive(record.supervisor_pid, record.supervisor_ticks):
            return True
        return proc.group_alive(child.get("pgid"))

    def observe_started(self, record: TaskRecord, timeout: float = 2.0) -> TaskState:
        """Returns the state once the command has started (or ended), waiting up to ``timeout``.

        The supervisor needs a few tens of milliseconds to start the command; waiting
        here means a freshly submitted local task reads ``running``, not ``pending``.
        """
        deadline = time.monotonic() + timeout
        state = self.observe(record)
        while state.status is TaskStatus.PENDING and time.monotonic() < deadline:
            self._wait(0.005)
            state = self.observe(record)
        return state

    def stop(self, record: TaskRecord) -> bool:
        """Cancels the task and returns once its process group is gone.

        SIGTERM goes to the group first (with SIGCONT, so a paused task can handle
        it), then SIGKILL after the grace period.

        Returns:
            ``False`` when the task had already ended, else ``True``.
        """
        if self.observe(record).status.is_terminal:
            return False
        record = self._store.update(record.task_id, cancel_requested=True) or record
        pgid = self._wait_for_pgid(record)
        for sig in (signal.SIGTERM, signal.SIGCONT):
            proc.signal_group(pgid, sig)
        if not self._wait_gone(pgid, self._grace):
            proc.signal_group(pgid, signal.SIGKILL)
            self._wait_gone(pgid, 5.0)
        self._wait_exit_file(record)
        self.observe(self._store.get(record.task_id) or record)
        return True

    def _wait_for_pgid(self, record: TaskRecord) -> int | None:
        """Waits (briefly) for a just-launched task's supervisor to start the command."""
        for _ in range(500):
            child = _read_json(record.task_dir / "child.json")
            if child:
                return int(child["pgid"])
            if not proc.process_alive(record.supervisor_pid, record.supervisor_ticks):
                return None
            self._wait(0.01)
        return None

    def _wait_gone(self, pgid: int | None, seconds: float) -> bool:
        for _ in range(max(1, int(seconds / 0.01))):
            if not proc.group_alive(pgid):
                return True
            self._wait(0.01)
        return not proc.group_alive(pgid)

    def _wait_exit_file(self, record: TaskRecord) -> None:
        for _ in range(300):
            if (record.task_dir / "exit.json").exists():
                return
            if not proc.process_alive(record.supervisor_pid, record.supervisor_ticks):
                return
            self._wait(0.01)

    def pause(self, record: TaskRecord) -> bool:
        """Stops (SIGSTOP) the task's group; ``False`` when it was already paused.

        Raises:
            TaskStateError: The task is not running.
        """
        state = self.observe(record)
        if state.status is TaskStatus.PAUSED:
            return False
        if state.status is not TaskStatus.RUNNING:
            raise TaskStateError(f"cannot pause task {record.task_id}: it is {state.status}")
        proc.signal_group(state.pid, signal.SIGSTOP)
        self._store.update(record.task_id, paused=True)
        return True

    def resume(self, record: TaskRecord) -> bool:
        """Continues (SIGCONT) a paused task; ``False`` when it was not paused."""
        state = self.observe(record)
        if state.status is not TaskStatus.PAUSED:
            return False
        proc.signal_group(state.pid, signal.SIGCONT)
        self._store.update(record.task_id, paused=False)
        return True
