"""An ``ILogStream`` over per-log line iterators, and a closer for what they block on.

Providers whose logs come as line iterators (one per log, resumable from a line) get
a closable stream from ``LineStreams``: one reader thread per log puts lines in a
queue and ``read`` waits on the queue. ``close`` ends ``read`` at once and, through a
``StreamCloser`` the iterators registered their channels with, ends the readers too.

A log that is not available yet (the instance boots) is reopened from the line
reached until ``START_TIMEOUT`` passes. Once lines came, a failure is final: a
resumable provider has already reconnected and given up, so retrying would only
keep a dead link's follow alive (the task's end is read once more, for a log the
provider may have archived as the task ended).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Protocol

from flow_notebook.core.errors import RemoteOperationError, TaskStateError
from flow_notebook.core.models import TaskStatus
from flow_notebook.core.provider_interfaces import LogChunk

START_TIMEOUT = 600.0
"""Seconds a stream keeps reopening a log that has shown no line yet (instance boot)."""
NOT_STARTED = frozenset({TaskStatus.PENDING, TaskStatus.PROVISIONING})

LineOpener = Callable[[str, int], Iterator[str]]
"""Opens a log (``stdout``/``stderr``) from a 0-based line; yields lines without newline."""


class Closeable(Protocol):
    """Anything a reader may block on (a channel, a socket)."""

    def close(self) -> None:
        """Releases it; a read blocked on it returns."""
        ...


class StreamCloser:
    """Closes what a stream's readers block on, from any thread, without waiting.

    Readers ``watch`` each channel they open and ``forget`` it when done. ``close``
    marks the stream closed and closes the watched channels on a short-lived thread
    of its own (closing may send a message over a slow link), so the caller never
    waits on the network. A channel watched after ``close`` is closed at once.
    """

    def __init__(self) -> None:
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._watched: set[Closeable] = set()

    def watch(self, channel: Closeable) -> None:
        """Registers ``channel`` to be closed with the stream."""
        with self._lock:
            if not self.closed.is_set():
                self._watched.add(channel)
                return
        channel.close()

    def forget(self, channel: Closeable) -> None:
        """Unregisters ``channel`` (its reader ended)."""
        with self._lock:
            self._watched.discard(channel)

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; returns ``True`` at once when the stream is closed."""
        return self.closed.wait(seconds)

    def close(self) -> None:
        """Closes the stream and, on a thread of its own, every watched channel."""
        with self._lock:
            self.closed.set()
            channels, self._watched = list(self._watched), set()
        if channels:
            threading.Thread(
                target=_close_all, args=(channels,), name="flow-stream-close", daemon=True
            ).start()


def _close_all(channels: list[Closeable]) -> None:
    for channel in channels:
        try:
            channel.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken link may fail; it is gone either way
            pass


class LineStreams:
    """An ``ILogStream`` reading several logs' line iterators on threads.

    Args:
        open_lines: Opens a log from a line.
        status: Returns the task's status (read while waiting for it to start, and
            after a log failed).
        start: First line to read, per log.
        log_types: The logs to read.
        poll: Seconds between status reads while the task has not started.
        reopen: Reopen a log that failed before showing any line (instance boot).
        resumable: ``open_lines`` honours its start line (else a reopen after lines
            would repeat them).
        closer: Closed with the stream, so readers blocked on the network end too.
        known_status: The status the caller just read, if any: when the task has
            started, each log's first open reads no status again.
    """

    def __init__(
        self,
        open_lines: LineOpener,
        status: Callable[[], TaskStatus],
        start: Mapping[str, int],
        log_types: Sequence[str],
        *,
        poll: float = 0.5,
        reopen: bool = True,
        resumable: bool = True,
        closer: StreamCloser | None = None,
        known_status: TaskStatus | None = None,
    ) -> None:
        self._open_lines = open_lines
        self._status = status
        self._poll = poll
        self._reopen = reopen
        self._resumable = resumable
        self._closer = closer or StreamCloser()
        self._queue: queue.Queue[LogChunk | BaseException | None] = queue.Queue()
        self._running = len(log_types)
        started = known_status is not None and known_status not in NOT_STARTED
        self._known_started = set(log_types) if started else set()
        for kind in log_types:
            first = int(start.get(kind, 0))
            thread = threading.Thread(
                target=self._read, args=(kind, first), name=f"flow-logs-{kind}", daemon=True
            )
            thread.start()

    @property
    def _closed(self) -> threading.Event:
        return self._closer.closed

    def read(self, timeout: float) -> list[LogChunk] | None:
        """Returns what arrived within ``timeout``; ``None`` when every log ended."""
        chunks: list[LogChunk] = []
        deadline = time.monotonic() + timeout
        while self._running and not self._closed.is_set():
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return chunks
            if item is None:
                self._running -= 1
            elif isinstance(item, BaseException):
                if chunks:  # Hand over what arrived first; fail on the next read.
                    self._queue.put(item)
                    return chunks
                self.close()
                raise item
            else:
                chunks.append(item)
                if self._queue.empty():
                    return chunks
        return chunks or None

    def close(self) -> None:
        """Ends ``read`` at once, and the readers as soon as their channels close."""
        self._closer.close()
        self._queue.put(None)

    def _read(self, kind: str, first: int) -> None:
        try:
            for line in self._lines(kind, first):
                if self._closed.is_set():
                    return
                self._queue.put(LogChunk(kind, line.rstrip("\n") + "\n"))
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread.
            if not self._closed.is_set():
                self._queue.put(exc)
            return
        self._queue.put(None)

    def _lines(self, kind: str, first: int) -> Iterator[str]:
        deadline = time.monotonic() + START_TIMEOUT
        added = 0
        after_end = False  # One more try once the task ended: its log may be archived.
        while not self._closed.is_set():
            if kind in self._known_started:
                self._known_started.discard(kind)  # the caller's read serves the first open
            else:
                self._wait_until_started()
            try:
                for line in self._open_lines(kind, first + added):
                    added += 1
                    yield line
                return
            except (TaskStateError, RemoteOperationError):
                if self._closed.is_set():
                    return
                late = time.monotonic() > deadline
                if not self._reopen or late or (added and not self._resumable):
                    raise
                if self._status().is_terminal:
                    if after_end or not self._resumable:
                        raise
                    after_end = True
                    continue
                if added:
                    raise  # The provider already resumed this link and gave up.
            if self._closed.wait(self._poll):
                return

    def _wait_until_started(self) -> None:
        while not self._closed.is_set():
            if self._status() not in NOT_STARTED:
                return
            self._closed.wait(self._poll)
