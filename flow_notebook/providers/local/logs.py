"""Reading and following a task's ``stdout.log`` / ``stderr.log``.

Following polls the file every ``poll_interval`` seconds (10 ms by default, so a line
reaches the reader within about that much of being written) and stops by itself once
the task is terminal and the file is drained. Lines are yielded without their newline;
a last line without a newline is yielded only when the task has ended. Line numbers
count every newline-terminated line, so resuming from ``start_line = lines seen``
loses and repeats nothing.
"""

from __future__ import annotations

import codecs
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.provider_interfaces import LogChunk
from flow_notebook.providers.local.waker import DirectoryWaker

LOG_TYPES = ("stdout", "stderr")
DEFAULT_POLL_INTERVAL = 0.01
_CHUNK = 1 << 16
_READ_LIMIT = 1 << 20
IDLE_INTERVAL = 0.5
DONE_CHECK = 5.0
"""Seconds between two checks of whether a silent task ended (a status read is dear);
with inotify a change of the task's files (its exit record) triggers a check at once."""
QUICK_SECONDS = 1.0
"""Seconds after the last output (or the start) during which reads stay ``poll_interval``
apart, so a task's first lines show at once; after that the wait grows to idle."""
"""Longest wait between two reads of a silent log (keeps idle followers cheap)."""


def log_path(task_dir: Path, log_type: str) -> Path:
    """Returns the path of the ``stdout`` or ``stderr`` log of a task.

    Raises:
        ValidationError: ``log_type`` is neither ``stdout`` nor ``stderr``.
    """
    if log_type not in LOG_TYPES:
        raise ValidationError(
            f"unknown log type {log_type!r}", field="log_type", suggestion="use stdout or stderr"
        )
    return task_dir / f"{log_type}.log"


def read_tail(path: Path, tail: int) -> str:
    """Returns the last ``tail`` lines of ``path`` (empty when it does not exist).

    Reads backwards in blocks, so a large log costs only what is returned.
    """
    if tail <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= tail:
                step = min(_CHUNK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-tail:])


def follow(
    path: Path,
    is_done: Callable[[], bool],
    *,
    start_line: int = 0,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    wait: Callable[[float], object] | None = None,
) -> Iterator[str]:
    """Yields lines of ``path`` from ``start_line`` on, until ``is_done()`` and drained.

    Args:
        path: The log file; it may not exist yet.
        is_done: Whether the writer has finished for good.
        start_line: 0-based index of the first line to yield.
        poll_interval: Seconds between checks for new data.
        wait: Sleeps for the given seconds (injectable for tests).

    Yields:
        Lines without their trailing newline.
    """
    sleep = wait or threading.Event().wait
    handle = None
    skip, pending = max(0, start_line), bytearray()
    try:
        while True:
            done = is_done()  # Checked before reading: a read after "done" drains all.
            if handle is None:
                handle = _open_or_none(path)
            chunk = handle.read(_CHUNK) if handle is not None else b""
            if chunk:
                for line in _complete_lines(pending, chunk):
                    if skip:
                        skip -= 1
                        continue
                    yield line.decode("utf-8", errors="replace")
                continue
            if done:
                if pending and not skip:
                    yield pending.decode("utf-8", errors="replace")
                return
            sleep(poll_interval)
    finally:
        if handle is not None:
            handle.close()


def _complete_lines(pending: bytearray, chunk: bytes) -> list[bytes]:
    """Returns the lines ``chunk`` completes; keeps the unfinished rest in ``pending``.

    Only ``chunk`` is searched, and ``pending`` grows in place, so a line of any
    length costs linear time.
    """
    cut = chunk.rfind(b"\n")
    if cut < 0:
        pending += chunk
        return []
    head = bytes(pending) + chunk[:cut]
    pending[:] = chunk[cut + 1 :]
    return head.split(b"\n")


class LogTail:
    """A closable follow of several logs of one task (``ILogStream``).

    Reads what the files gained since the last read, stdout and stderr in turn, so
    their chunks stay in the order they were written to within one read. Waits
    between reads on an event that ``close`` sets: a closed stream ends at once. The
    wait is ``poll_interval`` while output flows (and for ``QUICK_SECONDS`` after it
    stops), then doubles up to ``idle_interval``, so a silent task costs a few
    wake-ups a second.

    Args:
        paths: Log type to file (which may not exist yet).
        is_done: Whether the task has ended for good.
        start: Log type to the number of complete lines to skip.
        poll_interval: Shortest wait between reads.
        idle_interval: Longest wait between reads.
    """

    def __init__(
        self,
        paths: dict[str, Path],
        is_done: Callable[[], bool],
        *,
        start: dict[str, int] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        idle_interval: float = IDLE_INTERVAL,
    ) -> None:
        self._files = {
            kind: _TailFile(path, (start or {}).get(kind, 0)) for kind, path in paths.items()
        }
        self._is_done = is_done
        self._poll = poll_interval
        self._idle = max(poll_interval, idle_interval)
        self._wait = poll_interval
        self._closed = threading.Event()
        self._ended = False
        self._last_data = self._last_check = time.monotonic()
        self._names = {path.name for path in paths.values()}
        directories = {path.parent for path in paths.values()}
        self._waker = DirectoryWaker(directories.pop()) if len(directories) == 1 else None
        self._other_changed = False
        self._reading = False
        self._state = threading.Lock()

    def read(self, timeout: float) -> list[LogChunk] | None:
        """Returns new chunks, ``[]`` after ``timeout`` seconds of silence, ``None`` at the end."""
        with self._state:
            if self._closed.is_set():
                return None
            self._reading = True
        try:
            return self._read(timeout)
        finally:
            with self._state:
                self._reading = False
                release = self._closed.is_set()
            if release and self._waker is not None:
                self._waker.close()

    def _read(self, timeout: float) -> list[LogChunk] | None:
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._closed.is_set() and not self._ended:
            done = self._done_now()  # Checked before reading: a read after "done" drains all.
            chunks = [LogChunk(kind, text) for kind, f in self._files.items() if (text := f.read())]
            if chunks:
                self._wait, self._last_data = self._poll, time.monotonic()
                return chunks
            if done:
                self._ended = True
                rest = [
                    LogChunk(kind, text) for kind, f in self._files.items() if (text := f.rest())
                ]
                self.close()
                return rest or None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._sleep(remaining)
        self.close()
        return None

    def _sleep(self, remaining: float) -> None:
        """Waits for more output: on the directory's changes when watched, else polling."""
        quiet = time.monotonic() - self._last_data > QUICK_SECONDS
        if self._waker is not None and self._waker.watching and quiet:
            self._wait = self._idle  # Changes wake the wait: no need to look often.
            changed = self._waker.wait(min(DONE_CHECK, remaining))
            self._other_changed = bool(changed - self._names)  # e.g. the exit record
            return
        self._closed.wait(min(self._wait, remaining))
        if quiet:
            self._wait = min(self._idle, self._wait * 2)

    def _done_now(self) -> bool:
        """Whether the task ended; asked at most every ``DONE_CHECK`` s of silence."""
        now = time.monotonic()
        other, self._other_changed = self._other_changed, False
        if not other and self._wait > self._poll and now - self._last_check < DONE_CHECK:
            return False
        self._last_check = now
        return self._is_done()

    def close(self) -> None:
        """Ends the stream and releases the files; a blocked ``read`` returns at once."""
        self._closed.set()
        if self._waker is not None:
            self._waker.wake()
        for tail in self._files.values():
            tail.close()
        with self._state:
            release = not self._reading
        if release and self._waker is not None:
            self._waker.close()


class _TailFile:
    """One log file read in chunks, skipping its first ``skip`` complete lines."""

    def __init__(self, path: Path, skip: int) -> None:
        self._path = path
        self._skip = max(0, skip)
        self._handle: BinaryIO | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lock = threading.Lock()
        self._closed = False

    def read(self) -> str:
        """Returns the text added since the last call (whole UTF-8 characters only)."""
        with self._lock:
            if self._closed:
                return ""
            if self._handle is None:
                self._handle = _open_or_none(self._path)
                if self._handle is None:
                    return ""
            parts = []
            while chunk := self._handle.read(_CHUNK):
                parts.append(self._skip_lines(chunk))
                if sum(map(len, parts)) >= _READ_LIMIT:
                    break
            return self._decoder.decode(b"".join(parts))

    def rest(self) -> str:
        """Returns what is left at the end (an unfinished character sequence)."""
        with self._lock:
            return self._decoder.decode(b"", final=True)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def _skip_lines(self, chunk: bytes) -> bytes:
        position = 0
        while self._skip:
            found = chunk.find(b"\n", position)
            if found < 0:
                return b""
            self._skip -= 1
            position = found + 1
        return chunk[position:]


def _open_or_none(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by follow()'s finally.
    except FileNotFoundError:
        return None
