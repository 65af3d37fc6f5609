"""Task logs on Mithril instances: the last lines, or a live follow that ends by itself.

A follow runs one remote command over one SSH channel: ``tail -n +K -F`` on the log,
tied with ``--pid`` to a small remote watcher that exits once the done marker
exists, so ``tail`` drains the file and ends without any polling on this side. If
the connection drops, the follow reconnects and restarts at the first line not yet
yielded, counted in lines, so no line is lost or repeated.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

from flow_notebook.core.errors import (
    FlowError,
    HostKeyMismatchError,
    RemoteOperationError,
    TaskStateError,
    ValidationError,
)
from flow_notebook.core.line_streams import StreamCloser
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.caches import TtlCache
from flow_notebook.providers.mithril.remote.errors import RemoteCommandError
from flow_notebook.providers.mithril.runtime import paths

NOT_STARTED_STATUS = 90
"""Exit status of the remote wrapper when the log file did not appear in time."""
_NO_INSTANCE = frozenset({TaskStatus.PENDING, TaskStatus.PROVISIONING})


class IStreamingRemote(Protocol):
    """What the log service needs from remote operations."""

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``command`` on the task's first instance and returns its stdout."""
        ...

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Yields ``command``'s output lines over one channel (closed with ``closer``)."""
        ...


class LogService:
    """Reads and follows task logs over SSH.

    Args:
        remote_ops: Runs and streams commands on instances.
        task_status_lookup: Returns a task's current status.
        cache: Caches ``get_task_logs`` results of ended tasks (their logs no
            longer change); ``None`` disables caching.
        log_files: Log type (``stdout``/``stderr``) to path on the instance.
        done_marker: Path the startup script creates once the task has ended.
        file_wait_seconds: How long a follow waits for the log file to appear.
        max_reconnects: Consecutive failed reconnects before a follow gives up.
        reconnect_deadline: Seconds after a lost stream during which reconnects are
            started; with the probe of a silent stream (``channels``), a dead or
            frozen instance ends a follow within about 25 s.
        reconnect_delay: Seconds before the first reconnect; grows linearly.
        command_timeout: Seconds allowed for a ``get_task_logs`` command.
        sleep: Waits between reconnects; injectable for tests.
    """

    def __init__(
        self,
        remote_ops: IStreamingRemote,
        task_status_lookup: Callable[[str], TaskStatus],
        cache: TtlCache[str] | None = None,
        *,
        log_files: Mapping[str, str] = paths.LOG_FILES,
        done_marker: str = paths.DONE_MARKER,
        file_wait_seconds: float = 30.0,
        max_reconnects: int = 5,
        reconnect_deadline: float = 10.0,
        reconnect_delay: float = 0.5,
        command_timeout: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._remote = remote_ops
        self._status = task_status_lookup
        self._cache = cache
        self._log_files = dict(log_files)
        self._done = done_marker
        self._wait_rounds = max(0, int(file_wait_seconds / 0.2))
        self._max_reconnects = max_reconnects
        self._reconnect_deadline = reconnect_deadline
        self._reconnect_delay = reconnect_delay
        self._command_timeout = command_timeout
        self._sleep = sleep

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the task's log, joined by newlines.

        Args:
            task_id: The task.
            tail: How many lines, at least 0.
            log_type: ``stdout`` or ``stderr``.

        Returns:
            The lines, without a trailing newline.

        Raises:
            ValidationError: Unknown ``log_type`` or negative ``tail``.
            TaskStateError: The task has no instance, was cancelled, has not written
                the log yet, or its instance cannot be reached.
            HostKeyMismatchError: The instance's host key changed.
        """
        path = self._log_path(log_type)
        if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
            raise ValidationError("tail must be a whole number of lines, 0 or more", field="tail")
        status = self._check_state(task_id)
        key = (task_id, tail, log_type)
        if self._cache is not None and status.is_terminal:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        quoted = shlex.quote(path)
        command = (
            f"[ -e {quoted} ] || exit {NOT_STARTED_STATUS}; tail -n {tail} {quoted}"
            if tail
            else f"[ -e {quoted} ] || exit {NOT_STARTED_STATUS}"
        )
        try:
            text = self._remote.execute_command(task_id, command, timeout=self._command_timeout)
        except RemoteOperationError as exc:
            raise self._map_failure(task_id, log_type, exc) from exc
        text = text[:-1] if text.endswith("\n") else text
        if self._cache is not None and status.is_terminal:
            self._cache.set(key, text)
        return text

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Yields the task's log lines from the first on; ends when the task has ended.

        See ``stream_task_logs_from``.
        """
        return self.stream_task_logs_from(task_id, 0, log_type)

    def stream_task_logs_from(
        self,
        task_id: str,
        start_line: int = 0,
        log_type: str = "stdout",
        *,
        closer: StreamCloser | None = None,
    ) -> Iterator[str]:
        """Yields log lines from line ``start_line`` (0-based) on, as they are written.

        The state is checked before this returns, so a pending or cancelled task
        fails here rather than on the first ``next()``. The iterator ends once the
        done marker exists and the file is drained. A dropped connection is
        resumed at the first line not yet yielded: no line is lost or repeated.

        Args:
            task_id: The task.
            start_line: Index of the first line to yield.
            log_type: ``stdout`` or ``stderr``.
            closer: Closing it ends the iteration at once (the channel is closed)
                and stops reconnecting.

        Returns:
            An iterator of lines without their newline.

        Raises:
            ValidationError: Unknown ``log_type`` or negative ``start_line``.
            TaskStateError: As for ``get_task_logs``; while iterating, also when the
                log file does not appear in time or reconnecting keeps failing.
        """
        path = self._log_path(log_type)
        if start_line < 0:
            raise ValidationError("start_line must be 0 or more", field="start_line")
        self._check_state(task_id)
        return self._follow(task_id, path, log_type, start_line, closer or StreamCloser())

    def _follow(
        self, task_id: str, path: str, log_type: str, start_line: int, closer: StreamCloser
    ) -> Iterator[str]:
        yielded = failures = 0
        lost_at = 0.0
        while not closer.closed.is_set():
            command = self._follow_command(path, start_line + yielded + 1)
            try:
                stream = self._remote.stream_command(task_id, command, pty=True, closer=closer)
                for line in stream:
                    yielded += 1
                    failures = 0
                    yield line
                return
            except (HostKeyMismatchError, TaskStateError):
                raise
            except RemoteOperationError as exc:
                if closer.closed.is_set():
                    return
                if isinstance(exc, RemoteCommandError):
                    raise self._map_failure(task_id, log_type, exc) from exc
                failures += 1
                lost_at = lost_at if failures > 1 else time.monotonic()
                late = time.monotonic() - lost_at > self._reconnect_deadline
                if failures > self._max_reconnects or late:
                    raise self._map_failure(task_id, log_type, exc) from exc
                if self._cancelled(task_id):
                    return
                if closer.closed.is_set():
                    return
                self._sleep(self._reconnect_delay * failures)

    def _cancelled(self, task_id: str) -> bool:
        try:
            return self._status(task_id) is TaskStatus.CANCELLED
        except FlowError:
            return False  # The API's trouble is not the stream's: keep resuming it.

    def _follow_command(self, path: str, first_line: int) -> str:
        log, done = shlex.quote(path), shlex.quote(self._done)
        # tail --pid waits for a "writer": a watcher that exits once the done marker
        # exists (or tail is gone). tail then reads the file to its end once more and
        # stops. The watcher runs under a middle shell that reaps it at once, because
        # a zombie child of tail would look alive to --pid forever.
        watcher = 'while [ ! -e "$1" ] && kill -0 "$2" 2>/dev/null; do sleep 0.5; done'
        return (
            f"i=0; while [ ! -e {log} ] && [ ! -e {done} ] && [ $i -lt {self._wait_rounds} ];"
            f" do sleep 0.2; i=$((i+1)); done; "
            f"[ -e {log} ] || {{ [ -e {done} ] && exit 0; exit {NOT_STARTED_STATUS}; }}; "
            f"w=$( (sh -c {shlex.quote(watcher)} _ {done} $$ </dev/null >/dev/null 2>&1 &"
            f" echo $!; exec >/dev/null; wait) & ); "
            f"exec tail --pid=$w -s 0.5 -n +{first_line} -F {log} 2>/dev/null"
        )

    def _log_path(self, log_type: str) -> str:
        if log_type not in self._log_files:
            raise ValidationError(
                f"unknown log type {log_type!r}; use one of {', '.join(self._log_files)}",
                field="log_type",
            )
        return self._log_files[log_type]

    def _check_state(self, task_id: str) -> TaskStatus:
        status = self._status(task_id)
        if status in _NO_INSTANCE:
            raise TaskStateError(
                f"task {task_id} is {status.value}: it has no instance yet",
                suggestion="logs appear once it is running",
            )
        if status is TaskStatus.CANCELLED:
            raise TaskStateError(f"task {task_id} was cancelled; its instance and logs are gone")
        if status is TaskStatus.PAUSED:
            raise TaskStateError(
                f"task {task_id} is paused", suggestion="resume it to read its logs"
            )
        return status

    def _map_failure(
        self, task_id: str, log_type: str, exc: RemoteOperationError
    ) -> RemoteOperationError | TaskStateError:
        if isinstance(exc, HostKeyMismatchError):
            return exc
        if isinstance(exc, RemoteCommandError) and exc.exit_status == NOT_STARTED_STATUS:
            return TaskStateError(
                f"task {task_id} has not started writing its {log_type} yet",
                suggestion="try again in a moment",
            )
        return TaskStateError(
            f"cannot read the {log_type} of task {task_id} over SSH: {exc.message}",
            suggestion="the instance may still be booting or already gone; try again shortly",
        )
