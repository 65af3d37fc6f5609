"""A task's whole log kept on disk: any page of lines, or a search, without holding it in memory.

``LogSpool`` appends lines to an anonymous temporary file (gone when closed or when
the kernel exits) and keeps one 8-byte offset per line, so a page is one
``pread`` and a search streams the file in chunks. ``SpoolReader`` fills a spool
from the log's first line through a ``Follow`` (the one follow engine), whose
surface it is: closing the viewer closes the follow's stream, so the reader ends
within 100 ms even on a silent task.
"""

from __future__ import annotations

import os
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task
from flow_notebook.core.provider_interfaces import IProvider, LogChunk
from flow_notebook.notebook.follow import Follow, FollowOptions
from flow_notebook.notebook.render import RunSummary

_CHUNK = 1 << 20


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

    The reading is a ``Follow`` of that one log (the same engine as the cells), drawn
    on this reader as its surface: whole lines go to the spool. ``stop`` closes the
    follow's stream, so the reader ends within 100 ms even on a silent task.

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
        self._partial = ""
        self._lock = threading.Lock()
        self._stopped = False
        self._follow: Follow | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._begin, name=f"flow-log-viewer-{log_type}", daemon=True
        )

    def start(self) -> SpoolReader:
        """Starts reading (the task is looked up on a thread, never here); returns ``self``."""
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Waits until the stream ended; returns whether it did."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stops reading; the file is freed once nothing can write to it any more."""
        with self._lock:
            self._stopped = True
            follow = self._follow
        if follow is not None:
            follow.stop("log viewer closed")
        elif not self._thread.is_alive():
            self._finish()

    # --- the follow's surface (called from its thread) ---------------------------

    def begin(self, task: Task, start: Mapping[str, int]) -> None:
        """Nothing to draw before the first lines."""

    def status(self, task: Task) -> None:
        """The viewer shows the reading state, not the task's."""

    def write(self, chunks: list[LogChunk]) -> None:
        """Appends the whole lines of ``chunks`` to the spool."""
        text = self._partial + "".join(chunk.text for chunk in chunks)
        *whole, self._partial = text.split("\n")
        for line in whole:
            self.spool.append(line)
        if whole:
            self._on_change()

    def end(self, summary: RunSummary) -> None:
        """Keeps a last line without newline; notes how the reading ended."""
        follow = self._follow
        if self._partial and not self._stopped:
            self.spool.append(self._partial)
        self._partial = ""
        self.error = follow.error if follow is not None else None
        self.ended = summary.note is None
        self._finish()

    # --- internals --------------------------------------------------------------------

    def _begin(self) -> None:
        try:
            task = self._provider.get_task(self._task_id)
        except FlowError as exc:
            self.error = str(exc)
            self._finish()
            return
        options = FollowOptions(
            log_types=(self.log_type,),
            record=False,
            redact=self._redact,  # On arrival: no page, search or saved output holds a secret.
            settle=False,
            reopen=False,
        )
        with self._lock:
            if self._stopped:
                self._finish()
                return
            self._follow = Follow(
                self._provider, task, self, None, options, start={self.log_type: 0}
            )
        self._follow.start()

    def _finish(self) -> None:
        if self._stopped:
            self.spool.close()
        self._done.set()
        self._on_change()
