"""A task's output pinned to the cell that started it, updated from a background thread.

``LiveView`` keeps the newest lines (capped in bytes), coalesces updates (at most one
per ``interval``; a timer shows lines that arrive in a lull) and hands them to a
``Surface``: ``DisplaySurface`` updates one Jupyter display in place by display id,
so lines land in the right cell even while other cells run; ``PrintSurface`` prints
new lines, for terminal IPython. Closing replaces the live view with a static summary.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from flow_notebook.core.errors import FlowError
from flow_notebook.notebook.follow import emit
from flow_notebook.notebook.render import (
    LiveState,
    RunSummary,
    live_bundle,
    summary_bundle,
    summary_footer,
)

DEFAULT_KEEP_KB = 64
"""Output kept in the notebook per task, in KB; the full log stays with the provider."""
DEFAULT_INTERVAL = 0.1


class Surface(Protocol):
    """Where a live view is drawn."""

    def start(self, state: LiveState) -> None:
        """Draws the view for the first time."""
        ...

    def update(self, state: LiveState, new_lines: list[str]) -> None:
        """Redraws the view; ``new_lines`` arrived since the last call."""
        ...

    def finish(self, summary: RunSummary) -> None:
        """Replaces the view with the static summary."""
        ...


class DisplaySurface:
    """One Jupyter display output, updated in place by its display id.

    Args:
        metadata: Output metadata (provenance) attached to every version of the view.
        display: ``IPython.display.display``-compatible function (for tests).
    """

    def __init__(
        self, metadata: dict[str, Any] | None = None, display: Callable[..., Any] | None = None
    ) -> None:
        self._metadata = {"flow_notebook": dict(metadata or {})}
        self._display = display
        self._handle: Any = None

    def start(self, state: LiveState) -> None:
        """Shows the view and keeps its display handle."""
        display = self._display
        if display is None:
            from IPython.display import display
        self._handle = display(
            live_bundle(state), raw=True, metadata=self._metadata, display_id=True
        )

    def update(self, state: LiveState, new_lines: list[str]) -> None:
        """Replaces the shown view."""
        self._handle.update(live_bundle(state), raw=True, metadata=self._metadata)

    def finish(self, summary: RunSummary) -> None:
        """Replaces the view with the summary, status included in the metadata."""
        facts = {"status": summary.task.status.value, "exit_code": summary.task.exit_code}
        metadata = {"flow_notebook": {**self._metadata["flow_notebook"], **facts}}
        self._handle.update(summary_bundle(summary), raw=True, metadata=metadata)


class PrintSurface:
    """Plain lines on standard output, as they arrive (terminal IPython).

    Args:
        write: Prints one block of text.
    """

    def __init__(self, write: Callable[[str], None] = emit) -> None:
        self._write = write

    def start(self, state: LiveState) -> None:
        """Prints the title."""
        self._write(state.title)

    def update(self, state: LiveState, new_lines: list[str]) -> None:
        """Prints the new lines."""
        if new_lines:
            self._write("\n".join(new_lines))

    def finish(self, summary: RunSummary) -> None:
        """Prints the status, facts and hints (the lines are already on screen)."""
        self._write("\n".join(summary_footer(summary)))


class LiveView:
    """The lines of one task, kept, coalesced and drawn on a surface. Thread-safe.

    Args:
        surface: Where to draw.
        task_id: The task.
        title: The view's first line.
        keep_kb: Output kept, in KB (older lines are dropped from the view only).
        start_line: Lines of the log shown before this view (resuming).
        on_shown: Called with the total number of log lines shown, after each draw.
        interval: Least seconds between two draws.
    """

    def __init__(
        self,
        surface: Surface,
        *,
        task_id: str,
        title: str,
        keep_kb: int = DEFAULT_KEEP_KB,
        start_line: int = 0,
        on_shown: Callable[[int], None] | None = None,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._surface = surface
        self._state = LiveState(task_id=task_id, title=title)
        self._keep_bytes = max(1, keep_kb) * 1024
        self._kept: deque[str] = deque()
        self._kept_bytes = 0
        self._pending: list[str] = []
        self._shown = start_line
        self._on_shown = on_shown
        self._interval = interval
        self._last_draw = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False
        self._lock = threading.RLock()

    @property
    def lines_shown(self) -> int:
        """Log lines shown so far, counting those shown before this view."""
        with self._lock:
            return self._shown

    def kept(self) -> tuple[list[str], int]:
        """Returns the kept lines (including pending ones) and how many were dropped."""
        with self._lock:
            return list(self._kept), self._state.dropped

    def open(self) -> None:
        """Draws the empty view."""
        with self._lock:
            self._surface.start(self._snapshot())
            self._last_draw = time.monotonic()

    def add(self, line: str) -> bool:
        """Adds one line; ``False`` (and nothing shown) once the view is closed."""
        with self._lock:
            if self._closed:
                return False
            self._pending.append(line)
            self._keep(line)
            due = time.monotonic() - self._last_draw >= self._interval
            if due:
                self._draw()
            elif self._timer is None:
                self._timer = threading.Timer(self._interval, self._timed_draw)
                self._timer.daemon = True
                self._timer.start()
            return True

    def close(self, summary: Callable[[list[str], int], RunSummary]) -> bool:
        """Shows pending lines, then replaces the view with ``summary(kept, dropped)``.

        Returns:
            ``False`` when the view was already closed (nothing is drawn then).
        """
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending:
                self._draw()
            kept, dropped = list(self._kept), self._state.dropped
        self._surface.finish(summary(kept, dropped))
        return True

    def _timed_draw(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed and self._pending:
                self._draw()

    def _draw(self) -> None:
        new, self._pending = self._pending, []
        self._surface.update(self._snapshot(), new)
        self._shown += len(new)
        self._last_draw = time.monotonic()
        if self._on_shown is not None:
            try:
                self._on_shown(self._shown)
            except FlowError:
                pass  # A lost resume point must not stop the view.

    def _keep(self, line: str) -> None:
        self._kept.append(line)
        self._kept_bytes += len(line) + 1
        while self._kept_bytes > self._keep_bytes and len(self._kept) > 1:
            self._kept_bytes -= len(self._kept.popleft()) + 1
            self._state.dropped += 1

    def _snapshot(self) -> LiveState:
        state = self._state
        return LiveState(state.task_id, state.title, list(self._kept), state.dropped)
