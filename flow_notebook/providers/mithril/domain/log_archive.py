"""Logs that outlive the instance: archived under ``FLOW_HOME`` before a bid ends.

The provider terminates a bid once its command has ended (or on a cancel), which
deletes the instance and its log files. Just before, ``LogArchive.save`` downloads
each whole log over SFTP to ``<home>/mithril/logs/<task_id>/`` (files 0600 in 0700
directories; no size cap, so nothing is cut from the front). A followed log is also
copied there line by line as it is read (``followed_copy``), so a preemption or a
lost instance, which nothing can archive, loses nothing already followed. ``TaskLogs``
serves logs from the archive when there is one, from the followed copy once the
task ended without one, and over SSH (``LogService``) otherwise.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from flow_notebook.core.errors import (
    FlowError,
    RemoteOperationError,
    TaskStateError,
    ValidationError,
)
from flow_notebook.core.line_streams import LineStreams, StreamCloser
from flow_notebook.core.models import TaskStatus
from flow_notebook.core.provider_interfaces import ILogStream
from flow_notebook.providers.mithril.domain.followed_copy import SUFFIX, FollowedCopy, read_lines
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.runtime import paths

_NOT_STARTED = frozenset({TaskStatus.PENDING, TaskStatus.PROVISIONING})
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class IArchiveFiles(Protocol):
    """File access on one instance (``RemoteFiles`` fits)."""

    def exists(self, remote: str) -> bool:
        """Whether ``remote`` exists."""
        ...

    def get(self, remote: str, local_dir: Path, relative: str) -> Path:
        """Downloads ``remote`` to ``local_dir/relative`` via a unique temporary file."""
        ...


class IFilesRemote(Protocol):
    """Opens file access on a task's first instance."""

    def files(self, task_id: str) -> AbstractContextManager[IArchiveFiles]:
        """Returns a context that yields the file operations."""
        ...


class LogArchive:
    """Copies a task's logs to local files and reads them back.

    Args:
        directory: Directory of the archive (one subdirectory per task).
        remote: Opens files on the task's first instance.
        log_files: Log type to instance path.
    """

    def __init__(
        self,
        directory: Path,
        remote: IFilesRemote,
        log_files: Mapping[str, str] = paths.LOG_FILES,
    ) -> None:
        self._dir = Path(directory)
        self._remote = remote
        self._log_files = dict(log_files)

    def save(self, task_id: str) -> None:
        """Downloads every whole log of the task into the archive.

        Raises:
            FlowError: A log could not be read over SSH.
        """
        target = self._task_dir(task_id)
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.mkdir(mode=0o700, exist_ok=True)
        with self._remote.files(task_id) as files:
            for log_type, remote_path in self._log_files.items():
                name = f"{log_type}.log"
                # Unique temporary names (in ``get`` too): two saves of one task (a
                # listing and a follow noticing the end together) never collide.
                if files.exists(remote_path):
                    files.get(remote_path, target, name)
                else:
                    _write_empty(target / name)

    def check_log_type(self, log_type: str) -> None:
        """Raises ``ValidationError`` unless ``log_type`` is a log of a task."""
        if log_type not in self._log_files:
            raise ValidationError(
                f"unknown log type {log_type!r}; use one of {', '.join(self._log_files)}",
                field="log_type",
            )

    def claim_copy(self, task_id: str, log_type: str) -> FollowedCopy | None:
        """Returns the followed copy of a log to write, or ``None`` (another follow writes it)."""
        target = self._task_dir(task_id)
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            pass  # The claim below fails too and says why.
        return FollowedCopy.claim(target / f"{log_type}{SUFFIX}")

    def lines(self, task_id: str, log_type: str, *, ended: bool = False) -> list[str] | None:
        """Returns the archived lines of a log, or ``None`` when it was not archived.

        Args:
            task_id: The task.
            log_type: ``stdout`` or ``stderr``.
            ended: The task has ended: without an archive, the followed copy serves.
        """
        if log_type not in self._log_files or not _SAFE_ID.match(task_id):
            return None
        path = self._task_dir(task_id) / f"{log_type}.log"
        if not path.is_file():
            return read_lines(path.with_suffix(SUFFIX)) if ended else None
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            text = handle.read()  # newline="": a "\r" stays part of its line
        # Lines end at "\n" only, as a live follow counts them (str.splitlines would also
        # split at "\r", "\x0b", "\u2028" ... and shift every resume position after them).
        lines = text.split("\n")
        return lines[:-1] if lines and lines[-1] == "" else lines

    def _task_dir(self, task_id: str) -> Path:
        if not _SAFE_ID.match(task_id):
            raise ValidationError(f"not a task id: {task_id!r}")
        return self._dir / task_id


def _write_empty(path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    os.close(fd)
    os.replace(tmp, path)


class TaskLogs:
    """Task logs from the archive when the task has ended, else live over SSH.

    Args:
        live: Reads logs on the instance.
        archive: Logs kept after the instance is gone.
        refresh: Returns the task's status (a read that changes nothing); read once
            per operation, and again only while waiting for a task to start.
    """

    def __init__(
        self,
        live: LogService,
        archive: LogArchive,
        refresh: Callable[[str], TaskStatus],
        *,
        start_poll: float = 2.0,
        start_timeout: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._live = live
        self._archive = archive
        self._refresh = refresh
        self._poll = start_poll
        self._start_timeout = start_timeout
        self._sleep = sleep

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines (see ``LogService.get_task_logs``)."""
        lines = self._archived(task_id, log_type)
        if lines is None:
            return self._live.get_task_logs(task_id, tail, log_type)
        if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
            raise ValidationError("tail must be a whole number of lines, 0 or more", field="tail")
        return "\n".join(lines[-tail:] if tail else [])

    def stream_from(
        self,
        task_id: str,
        start_line: int = 0,
        log_type: str = "stdout",
        *,
        closer: StreamCloser | None = None,
    ) -> Iterator[str]:
        """Yields lines from ``start_line`` on (see ``LogService.stream_task_logs_from``).

        A follow of a task still pending or provisioning first waits (polling its
        status, up to ``start_timeout``) for it to run, as a follow right after
        submit does; a task that ends without running yields nothing. Closing
        ``closer`` ends the iteration at once.
        """
        if start_line < 0:
            raise ValidationError("start_line must be 0 or more", field="start_line")
        status = self._refresh(task_id)  # unknown ids fail here, before iterating
        return self._stream(task_id, start_line, log_type, closer or StreamCloser(), status)

    def _stream(
        self,
        task_id: str,
        start_line: int,
        log_type: str,
        closer: StreamCloser,
        status: TaskStatus,
    ) -> Iterator[str]:
        if status in _NOT_STARTED:
            return self._after_start(task_id, start_line, log_type, closer)
        return self._stream_now(task_id, start_line, log_type, closer, status)

    def open_log_stream(
        self,
        task_id: str,
        start: Mapping[str, int] | None = None,
        log_types: Sequence[str] = ("stdout", "stderr"),
    ) -> ILogStream:
        """Opens a closable follow of ``log_types`` (see ``ILogStreams.open_log_stream``).

        Closing it closes the SSH channels its readers block on, so they end at once,
        even while the task is silent.

        Raises:
            TaskNotFoundError: Unknown task id.
            ValidationError: Unknown log type or a negative start line.
        """
        start = dict(start or {})
        for log_type in log_types:
            self._archive.check_log_type(log_type)
            if int(start.get(log_type, 0)) < 0:
                raise ValidationError("start lines must be 0 or more", field="start")
        status = self._refresh(task_id)  # one read opens every log; unknown ids fail here
        unopened = set(log_types)
        closer = StreamCloser()
        copies = {kind: self._archive.claim_copy(task_id, kind) for kind in log_types}
        for copy in copies.values():
            if copy is not None:
                closer.watch(copy)

        def open_from(log_type: str, first: int) -> Iterator[str]:
            if log_type in unopened:  # the read above serves each log's first open
                unopened.discard(log_type)
                return self._stream(task_id, first, log_type, closer, status)
            return self.stream_from(task_id, first, log_type, closer=closer)

        def open_lines(log_type: str, first: int) -> Iterator[str]:
            copy = copies[log_type]
            if copy is None:
                return open_from(log_type, first)
            read_from = min(first, copy.lines)  # The copy stays whole from line 0.
            return copy.tee(open_from(log_type, read_from), read_from, first)

        return LineStreams(
            open_lines,
            lambda: self._refresh(task_id),
            start,
            log_types,
            poll=self._poll,
            closer=closer,
            known_status=status,
        )

    def _after_start(
        self, task_id: str, start_line: int, log_type: str, closer: StreamCloser
    ) -> Iterator[str]:
        deadline = time.monotonic() + self._start_timeout
        status: TaskStatus = TaskStatus.PENDING  # as the caller read it
        while status in _NOT_STARTED and time.monotonic() < deadline:
            self._sleep(self._poll)
            if closer.closed.is_set():
                return
            status = self._refresh(task_id)
        if (
            status is TaskStatus.CANCELLED
            and self._archive.lines(task_id, log_type, ended=True) is None
        ):
            return
        yield from self._stream_now(task_id, start_line, log_type, closer, status)

    def _stream_now(
        self,
        task_id: str,
        start_line: int,
        log_type: str,
        closer: StreamCloser,
        status: TaskStatus,
    ) -> Iterator[str]:
        lines = self._archived(task_id, log_type, status)
        if lines is None:
            return self._live_then_archived(task_id, start_line, log_type, closer)
        return iter(lines[start_line:])

    def _live_then_archived(
        self, task_id: str, start_line: int, log_type: str, closer: StreamCloser
    ) -> Iterator[str]:
        """Follows live; when the instance is gone, the rest comes from the archive.

        The task may end between the status read and the live read: its finish
        archives the logs before terminating the bid, so the archive then holds them.
        """
        added = 0
        try:
            for line in self._live.stream_task_logs_from(
                task_id, start_line, log_type, closer=closer
            ):
                added += 1
                yield line
            return
        except (TaskStateError, RemoteOperationError):
            lines = self._archived(task_id, log_type)  # reads the status again
            if lines is None:
                raise
        yield from lines[start_line + added :]

    def _archived(
        self, task_id: str, log_type: str, status: TaskStatus | None = None
    ) -> list[str] | None:
        """Returns the archived lines, reading the status only when no archive exists.

        Reads archive nothing (the finish watcher archives before terminating), so the
        status only decides whether an ended task's followed copy serves instead.
        """
        lines = self._archive.lines(task_id, log_type)
        if lines is not None:
            return lines
        if status is None:
            try:
                status = self._refresh(task_id)
            except FlowError:
                return None  # The live path reports the failure with its own message.
        return self._archive.lines(task_id, log_type, ended=status.is_terminal)
