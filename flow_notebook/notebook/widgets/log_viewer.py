"""The log viewer panel: a task's output streamed into an Output widget.

Lines go in with ``Output.append_stdout`` / ``append_stderr`` from the reader thread,
which is safe; ``with output:`` from a thread is not (lines get lost in a browser).
Follow/pause, a search box and a stdout/stderr switch sit above the output.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

from flow_notebook.core.provider_interfaces import IProvider
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.widgets.log_feed import LOG_TYPES, LogFeed

_MAX_MATCHES = 200
_FALLBACK_LINES = 200


class LogViewer:
    """A follow/pause/search/switch view over a ``LogFeed``.

    Args:
        provider: The provider that runs the task.
        task_id: The task to show.
        positions: Where received line counts are recorded (resume after restart).
        log_type: The stream shown first.
        redact: Masks secrets in each line before it is kept or shown.
    """

    def __init__(
        self,
        provider: IProvider,
        task_id: str,
        positions: LogPositions,
        *,
        log_type: str = "stdout",
        redact: Callable[[str], str] = str,
    ) -> None:
        import ipywidgets as w

        self.task_id = task_id
        self.log_type = log_type
        self._lock = threading.RLock()
        self._appended = dict.fromkeys(LOG_TYPES, 0)
        self.feed = LogFeed(
            provider,
            task_id,
            positions,
            on_line=self._on_line,
            on_end=self._on_end,
            redact=redact,
        )
        self.output = w.Output(layout=w.Layout(max_height="320px", overflow="auto"))
        self.follow = w.ToggleButton(value=True, description="Following", icon="pause")
        self.stream_switch = w.ToggleButtons(options=list(LOG_TYPES), value=log_type)
        self.search = w.Text(placeholder="search shown lines", continuous_update=True)
        self.matches = w.HTML()
        self.status = w.HTML(f"<i>task {html.escape(task_id)}</i>")
        self.note = w.HTML()
        self.follow.observe(self._on_follow, names="value")
        self.stream_switch.observe(self._on_switch, names="value")
        self.search.observe(self._on_search, names="value")
        toolbar = w.HBox([self.follow, self.stream_switch, self.search])
        self.root = w.VBox(
            [toolbar, self.status, self.note, self.matches, self.output],
            _dom_classes=["flow-log-viewer"],
        )

    def start(self) -> LogViewer:
        """Starts streaming the shown log type; returns ``self``."""
        self.feed.start(self.log_type)
        self._note_resume()
        return self

    def close(self) -> None:
        """Stops the streams and closes the widgets."""
        self.feed.stop(timeout=0.2)
        self.root.close()

    # --- reader-thread callbacks ------------------------------------------------

    def _on_line(self, log_type: str, line: str) -> None:
        with self._lock:
            if log_type == self.log_type and self.follow.value:
                self._flush()

    def _on_end(self, log_type: str, error: str | None) -> None:
        if log_type != self.log_type:
            return
        with self._lock:
            if self.follow.value:
                self._flush()
        detail = f"stream failed: {error}" if error else "stream ended"
        self.status.value = f"<i>task {html.escape(self.task_id)}: {html.escape(detail)}</i>"

    # --- widget callbacks ---------------------------------------------------------

    def _on_follow(self, change: dict[str, Any]) -> None:
        following = bool(change["new"])
        self.follow.description = "Following" if following else "Paused"
        self.follow.icon = "pause" if following else "play"
        if following:
            with self._lock:
                self._flush()

    def _on_switch(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.log_type = change["new"]
            self.output.outputs = ()
            self._appended[self.log_type] = 0
            self._flush()
        self.feed.start(self.log_type)
        self._on_search({"new": self.search.value})

    def _on_search(self, change: dict[str, Any]) -> None:
        query = str(change["new"] or "")
        if not query:
            self.matches.value = ""
            return
        found = self.feed.search(self.log_type, query)
        total = len(self.feed.snapshot(self.log_type))
        items = "".join(
            f"<li><code>{_highlight(line, query)}</code></li>" for line in found[:_MAX_MATCHES]
        )
        self.matches.value = (
            f"<div class='flow-log-matches'>{len(found)} of {total} lines match "
            f"<b>{html.escape(query)}</b><ul>{items}</ul></div>"
        )

    # --- drawing ------------------------------------------------------------------

    def _flush(self) -> None:
        """Appends the lines of the shown type not yet in the output (lock held)."""
        lines = self.feed.snapshot(self.log_type)
        start = self._appended[self.log_type]
        if start >= len(lines):
            return
        text = "".join(line + "\n" for line in lines[start:])
        if self.log_type == "stderr":
            self.output.append_stderr(text)
        else:
            self.output.append_stdout(text)
        self._appended[self.log_type] = len(lines)

    def _note_resume(self) -> None:
        start = self.feed.start_line[self.log_type]
        if start:
            self.note.value = f"<i>resumed after {start} {self.log_type} lines already shown</i>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        lines = self.feed.snapshot(self.log_type)[-_FALLBACK_LINES:]
        bundle["text/plain"] = "\n".join(lines) or f"(no {self.log_type} output yet)"
        bundle["text/html"] = f"<pre>{html.escape(bundle['text/plain'])}</pre>"
        return bundle


def _highlight(line: str, query: str) -> str:
    """Returns ``line`` escaped, with each case-insensitive match of ``query`` marked."""
    folded, needle = line.casefold(), query.casefold()
    parts, index = [], 0
    while needle and (found := folded.find(needle, index)) >= 0:
        parts.append(html.escape(line[index:found]))
        parts.append(f"<mark>{html.escape(line[found : found + len(needle)])}</mark>")
        index = found + len(needle)
    parts.append(html.escape(line[index:]))
    return "".join(parts)
