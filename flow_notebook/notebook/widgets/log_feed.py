"""The log viewer's data: one follow engine per log type, lines kept for search.

A ``LogFeed`` is a ``Surface`` of the follow engine (``notebook.follow``): each
started log type is read by a ``Follow`` that records its position, so a viewer
opened after a kernel restart resumes where the last one stopped. Lines reach the
viewer through ``on_line`` from the follow's thread, already masked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from flow_notebook.core.models import Task
from flow_notebook.core.provider_interfaces import IProvider, LogChunk
from flow_notebook.notebook.follow import Follow, FollowOptions
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.render import RunSummary

LOG_TYPES = ("stdout", "stderr")
LineCallback = Callable[[str, str], None]
EndCallback = Callable[[str, str | None], None]


class LogFeed:
    """Streams one task's logs into memory through the follow engine.

    Args:
        provider: The provider that runs the task.
        task_id: The task.
        positions: Where the number of received lines is recorded.
        on_line: Called as ``on_line(log_type, line)`` from the follow's thread.
        on_end: Called as ``on_end(log_type, error)`` when a stream ends; ``error`` is
            the one-line reason when it stopped early, else ``None``.
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
        redact: Callable[[str], str] = str,
    ) -> None:
        self.provider = provider
        self.task_id = task_id
        self._positions = positions
        self._redact = redact
        self._on_line = on_line or (lambda log_type, line: None)
        self._on_end = on_end or (lambda log_type, error: None)
        self._lock = threading.Lock()
        self._follows: dict[str, Follow] = {}
        self._partial: dict[str, str] = dict.fromkeys(LOG_TYPES, "")
        self.lines: dict[str, list[str]] = {log_type: [] for log_type in LOG_TYPES}
        self.start_line: dict[str, int] = dict.fromkeys(LOG_TYPES, 0)
        self.ended: dict[str, bool] = dict.fromkeys(LOG_TYPES, False)

    def start(self, log_type: str = "stdout") -> None:
        """Starts streaming ``log_type``; a second call for the same type does nothing."""
        with self._lock:
            if log_type in self._follows:
                return
            task = Task(task_id=self.task_id, name="", status="running", provider="")
            follow = Follow(
                self.provider,
                task,
                _TypeSurface(self, log_type),
                self._positions,
                FollowOptions(
                    log_types=(log_type,), redact=self._redact, settle=False, reopen=False
                ),
            )
            self.start_line[log_type] = follow.start_lines.get(log_type, 0)
            self._follows[log_type] = follow
        follow.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stops every follow (they end within 100 ms); their positions are recorded."""
        for follow in list(self._follows.values()):
            follow.stop("stopped", join=timeout)

    def wait(self, timeout: float) -> bool:
        """Waits until every started stream ended; returns whether they all did."""
        return all(follow.wait(timeout) for follow in list(self._follows.values()))

    def snapshot(self, log_type: str) -> list[str]:
        """Returns a copy of the lines received so far."""
        with self._lock:
            return list(self.lines[log_type])

    def search(self, log_type: str, query: str) -> list[str]:
        """Returns the received lines containing ``query``, ignoring case."""
        needle = query.casefold()
        return [line for line in self.snapshot(log_type) if needle in line.casefold()]

    def _received(self, log_type: str, text: str) -> None:
        with self._lock:
            *complete, self._partial[log_type] = (self._partial[log_type] + text).split("\n")
            self.lines[log_type].extend(complete)
        for line in complete:
            self._on_line(log_type, line)

    def _ended(self, log_type: str, summary: RunSummary) -> None:
        with self._lock:
            rest, self._partial[log_type] = self._partial[log_type], ""
            if rest:
                self.lines[log_type].append(rest)
        if rest:
            self._on_line(log_type, rest)
        self.ended[log_type] = summary.note is None
        self._on_end(log_type, self._follows[log_type].error)


class _TypeSurface:
    """The follow engine's surface for one log type of a ``LogFeed``."""

    def __init__(self, feed: LogFeed, log_type: str) -> None:
        self._feed = feed
        self._log_type = log_type

    def begin(self, task: Task, start: Mapping[str, int]) -> None:
        """Nothing to draw."""

    def status(self, task: Task) -> None:
        """The viewer shows no status."""

    def write(self, chunks: list[LogChunk]) -> None:
        """Hands the text to the feed."""
        for chunk in chunks:
            self._feed._received(self._log_type, chunk.text)

    def end(self, summary: RunSummary) -> None:
        """Tells the feed the stream ended."""
        self._feed._ended(self._log_type, summary)
