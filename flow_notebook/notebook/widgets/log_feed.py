"""The log viewer's logic: background streams into per-type buffers, resumable.

A ``LogFeed`` reads a task's ``stdout`` and/or ``stderr`` on daemon threads and keeps
every line it received. It records how many lines it has received in the notebook's
``LogPositions``, so a viewer opened after a kernel restart resumes where the last one
stopped when the provider supports ``IResumableLogs``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from flow_notebook.core.errors import FlowError
from flow_notebook.core.provider_interfaces import IProvider, IResumableLogs
from flow_notebook.notebook.positions import LogPositions

LOG_TYPES = ("stdout", "stderr")
LineCallback = Callable[[str, str], None]
EndCallback = Callable[[str, str | None], None]


class LogFeed:
    """Streams one task's logs into memory on background threads.

    Args:
        provider: The provider that runs the task.
        task_id: The task.
        positions: Where the number of received lines is recorded.
        on_line: Called as ``on_line(log_type, line)`` from the reader thread, without
            the trailing newline.
        on_end: Called as ``on_end(log_type, error)`` when a stream ends; ``error`` is
            the provider's one-line message when it failed, else ``None``.
        record_interval: Least seconds between writes of the position file while
            lines arrive (it is always written when a stream ends or is stopped).
        redact: Masks secrets in each line as it arrives.
    """

    def __init__(
        self,
        provider: IProvider,
        task_id: str,
        positions: LogPositions,
        *,
        on_line: LineCallback | None = None,
        on_end: EndCallback | None = None,
        record_interval: float = 0.5,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.provider = provider
        self._redact = redact
        self.task_id = task_id
        self._positions = positions
        self._on_line = on_line or (lambda log_type, line: None)
        self._on_end = on_end or (lambda log_type, error: None)
        self._record_interval = record_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self.lines: dict[str, list[str]] = {log_type: [] for log_type in LOG_TYPES}
        self.start_line: dict[str, int] = dict.fromkeys(LOG_TYPES, 0)
        self.ended: dict[str, bool] = dict.fromkeys(LOG_TYPES, False)

    @property
    def resumable(self) -> bool:
        """Whether the provider can resume a stream from a line number."""
        return isinstance(self.provider, IResumableLogs)

    def start(self, log_type: str = "stdout") -> None:
        """Starts streaming ``log_type``; a second call for the same type does nothing."""
        with self._lock:
            if log_type in self._threads:
                return
            if self.resumable:
                self.start_line[log_type] = self._positions.get(self.task_id, log_type)
            thread = threading.Thread(
                target=self._read, args=(log_type,), name=f"flow-logs-{log_type}", daemon=True
            )
            self._threads[log_type] = thread
        thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Asks the readers to stop and waits up to ``timeout`` seconds for them.

        A reader blocked waiting for the next line stops when that line arrives or the
        task ends; the lines it received are recorded either way.
        """
        self._stop.set()
        for thread in list(self._threads.values()):
            if thread is not threading.current_thread():
                thread.join(timeout)

    def wait(self, timeout: float) -> bool:
        """Waits until every started stream ended; returns whether they all did."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads.values())

    def snapshot(self, log_type: str) -> list[str]:
        """Returns a copy of the lines received so far."""
        with self._lock:
            return list(self.lines[log_type])

    def search(self, log_type: str, query: str) -> list[str]:
        """Returns the received lines containing ``query``, ignoring case."""
        needle = query.casefold()
        return [line for line in self.snapshot(log_type) if needle in line.casefold()]

    def _open(self, log_type: str) -> Iterator[str]:
        if self.resumable:
            return self.provider.stream_task_logs_from(  # type: ignore[attr-defined]
                self.task_id, self.start_line[log_type], log_type
            )
        return self.provider.stream_task_logs(self.task_id, log_type)

    def _read(self, log_type: str) -> None:
        error: str | None = None
        last_record = time.monotonic()
        try:
            for raw in self._open(log_type):
                # Masked on arrival, so no widget, search or snapshot ever holds a secret.
                line = self._redact(raw.rstrip("\n"))
                with self._lock:
                    self.lines[log_type].append(line)
                self._on_line(log_type, line)
                if time.monotonic() - last_record >= self._record_interval:
                    self._record(log_type)
                    last_record = time.monotonic()
                if self._stop.is_set():
                    break
        except FlowError as exc:
            error = str(exc)
        finally:
            self._record(log_type)
        self.ended[log_type] = not self._stop.is_set()
        self._on_end(log_type, error)

    def _record(self, log_type: str) -> None:
        if not self.resumable:
            return
        with self._lock:
            count = self.start_line[log_type] + len(self.lines[log_type])
        try:
            self._positions.set(self.task_id, count, log_type)
        except FlowError:
            pass  # Losing a resume point is not worth failing a stream over.
