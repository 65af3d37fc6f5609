"""A task's whole log kept on disk: any page of lines, or a search, without holding it in memory.

``LogSpool`` appends lines to an anonymous temporary file (gone when closed or when
the kernel exits) and keeps one 8-byte offset per line, so a page is one
``pread`` and a search streams the file in chunks. ``SpoolReader`` fills a spool
from a provider's stream, from the log's first line, on a daemon thread: through a
closable ``ILogStreams`` stream when the provider has one (so closing the viewer
ends the reader within 100 ms even on a silent task), else ``stream_task_logs``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator

from flow_notebook.core.errors import FlowError
from flow_notebook.core.provider_interfaces import ILogStream, ILogStreams, IProvider

_CHUNK = 1 << 20
_READ_TIMEOUT = 1.0


class LogSpool:
    """Lines in a temporary file with an offset index; safe to share between threads."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._fd = self._file.fileno()
        self._offsets = array("Q", [0])  # where each line starts, then the end
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many lines it holds."""
        return len(self._offsets) - 1

    def append(self, line: str) -> None:
        """Adds one line (without its newline)."""
        data = line.encode("utf-8", errors="replace") + b"\n"
        with self._lock:
            os.pwrite(self._fd, data, self._offsets[-1])
            self._offsets.append(self._offsets[-1] + len(data))

    def read(self, start: int, stop: int) -> list[str]:
        """Returns lines ``start`` to ``stop - 1`` (0-based; clipped to what exists)."""
        with self._lock:
            start, stop = max(0, start), min(stop, self.count)
            if start >= stop:
                return []
            begin, end = self._offsets[start], self._offsets[stop]
        data = os.pread(self._fd, end - begin, begin)
        return data.decode("utf-8", errors="replace").split("\n")[:-1]

    def search(self, query: str, limit: int = 200) -> tuple[list[tuple[int, str]], int]:
        """Finds the lines containing ``query``, ignoring case.

        Returns:
            Up to ``limit`` matches as ``(line number from 1, line)``, and how many
            lines match in all.
        """
        needle = query.casefold()
        matches: list[tuple[int, str]] = []
        total, number = 0, 0
        for line in self._lines():
            number += 1
            if needle in line.casefold():
                total += 1
                if len(matches) < limit:
                    matches.append((number, line))
        return matches, total

    def close(self) -> None:
        """Deletes the file. Safe to call twice."""
        self._file.close()

    def _lines(self) -> Iterator[str]:
        """Yields every line held now, reading the file a chunk at a time."""
        with self._lock:
            end = self._offsets[-1]
        position, rest = 0, b""
        while position < end:
            chunk = os.pread(self._fd, min(_CHUNK, end - position), position)
            if not chunk:
                break
            position += len(chunk)
            *whole, rest = (rest + chunk).split(b"\n")
            yield from (line.decode("utf-8", errors="replace") for line in whole)


class SpoolReader:
    """Reads a task's ``stdout`` or ``stderr`` from its first line into a ``LogSpool``.

    Args:
        provider: The provider that runs the task.
        task_id: The task.
        log_type: ``stdout`` or ``stderr``.
        redact: Masks secrets in each line before it is written.
        on_change: Called from the reader thread after lines arrive and when the
            stream ends (cheap: the viewer only marks itself for a redraw).
    """

    def __init__(
        self,
        provider: IProvider,
        task_id: str,
        log_type: str,
        *,
        redact: Callable[[str], str] = str,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.spool = LogSpool()
        self.log_type = log_type
        self.ended = False
        self.error: str | None = None
        self._provider = provider
        self._task_id = task_id
        self._redact = redact
        self._on_change = on_change
        self._stop = threading.Event()
        self._stream: ILogStream | None = None
        self._thread = threading.Thread(
            target=self._read, name=f"flow-log-viewer-{log_type}", daemon=True
        )

    def start(self) -> SpoolReader:
        """Starts reading; returns ``self``."""
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Waits until the stream ended; returns whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stops reading and frees the file.

        A reader waiting for a line of a quiet task stops at its next line or when the
        task ends; it frees the file then (never while it may still write to it).
        """
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if not self._thread.is_alive():
            self.spool.close()

    def _read(self) -> None:
        try:
            for line in self._lines():
                if self._stop.is_set():
                    return
                # Masked on arrival: no page, search or saved output ever holds a secret.
                self.spool.append(self._redact(line))
                self._on_change()
            self.ended = not self._stop.is_set()
        except FlowError as exc:
            self.error = str(exc)
        finally:
            if self._stop.is_set():
                self.spool.close()
        self._on_change()

    def _lines(self) -> Iterator[str]:
        """Yields the log's lines from the first, without their newlines."""
        if not isinstance(self._provider, ILogStreams):
            for raw in self._provider.stream_task_logs(self._task_id, self.log_type):
                yield raw.rstrip("\n")
            return
        self._stream = self._provider.open_log_stream(
            self._task_id, {self.log_type: 0}, (self.log_type,)
        )
        if self._stop.is_set():
            self._stream.close()
        partial = ""
        while (chunks := self._stream.read(_READ_TIMEOUT)) is not None:
            text = partial + "".join(chunk.text for chunk in chunks)
            *whole, partial = text.split("\n")
            yield from whole
        if partial:
            yield partial
