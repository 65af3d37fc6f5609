"""The log viewer panel: a task's whole log, a page at a time, with search and follow.

The viewer reads the task's log from its first line, whatever any cell has shown,
into a ``LogSpool`` (a temporary file with a line index), so the kernel holds one
page, never the whole log. A page of ``PAGE_LINES`` numbered lines is drawn as
HTML; while following, the page is the log's tail in a ``column-reverse`` scroll
box, which browsers keep scrolled to the bottom as it is redrawn. A finished task
opens at line 1; a running one opens following. Search scans the whole log on disk.

Redraws happen on a timer (``REDRAW_SECONDS``) when lines arrived, never once per
line, and only set widget values (safe from a thread).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from typing import Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.provider_interfaces import IProvider
from flow_notebook.notebook.formatting import count_noun
from flow_notebook.notebook.widgets.log_spool import SpoolReader
from flow_notebook.notebook.widgets.poller import Poller
from flow_notebook.notebook.widgets.saved_output import SavedOutput

LOG_TYPES = ("stdout", "stderr")
PAGE_LINES = 500
REDRAW_SECONDS = 0.25
_MAX_MATCHES = 200
_FALLBACK_LINES = 200
_BOX_STYLE = (
    "max-height:360px;overflow:auto;display:flex;border:1px solid "
    "var(--jp-border-color2, #d0d7de);font-family:var(--jp-code-font-family, monospace);"
    "font-size:var(--jp-code-font-size, 12px)"
)
_NUMBER_STYLE = "color:var(--jp-ui-font-color3, #6e7781);user-select:none"


class LogViewer:
    """Pages, search, follow and a stdout/stderr switch over a task's whole log.

    Args:
        provider: The provider that runs the task.
        task_id: The task to show.
        log_type: The stream shown first.
        redact: Masks secrets in each line before it is kept or shown.
        page_lines: Lines per page.
        redraw_seconds: Least time between redraws while lines arrive.
    """

    def __init__(
        self,
        provider: IProvider,
        task_id: str,
        *,
        log_type: str = "stdout",
        redact: Callable[[str], str] = str,
        page_lines: int = PAGE_LINES,
        redraw_seconds: float = REDRAW_SECONDS,
    ) -> None:
        import ipywidgets as w

        self.task_id = task_id
        self.log_type = log_type
        self.page_lines = page_lines
        self.first_line = 0  # 0-based index of the page's first line when not following
        self._provider = provider
        self._redact = redact
        self._readers: dict[str, SpoolReader] = {}
        self._dirty = threading.Event()
        self._lock = threading.RLock()
        self._saved = SavedOutput(self)
        self.closed = False
        self.follow = w.ToggleButton(value=True, description="Following", icon="pause")
        self.stream_switch = w.ToggleButtons(options=list(LOG_TYPES), value=log_type)
        self.search = w.Text(placeholder="search the whole log (Enter)", continuous_update=False)
        self.first = w.Button(description="⇤ line 1", layout=w.Layout(width="90px"))
        self.previous = w.Button(description="◀ page", layout=w.Layout(width="80px"))
        self.next = w.Button(description="page ▶", layout=w.Layout(width="80px"))
        self.last = w.Button(description="end ⇥", layout=w.Layout(width="80px"))
        self.position = w.HTML()
        self.status = w.HTML(f"<i>task {html.escape(task_id)}</i>")
        self.matches = w.HTML()
        self.lines = w.HTML()
        self.lines.add_class("flow-log-lines")
        self.follow.observe(self._on_follow, names="value")
        self.stream_switch.observe(self._on_switch, names="value")
        self.search.observe(self._on_search, names="value")
        self.first.on_click(lambda _: self.show_line(0))
        self.previous.on_click(lambda _: self.show_line(self._page_start() - page_lines))
        self.next.on_click(lambda _: self.show_line(self._page_start() + page_lines))
        self.last.on_click(lambda _: self._set_follow(True))
        toolbar = w.HBox([self.follow, self.stream_switch, self.search])
        pager = w.HBox([self.first, self.previous, self.next, self.last, self.position])
        self.root = w.VBox(
            [toolbar, pager, self.status, self.matches, self.lines],
            _dom_classes=["flow-log-viewer"],
        )
        self._poller = Poller(self._redraw_if_dirty, redraw_seconds, name="flow-log-viewer")

    def start(self) -> LogViewer:
        """Starts reading the shown stream and redrawing; returns ``self``."""
        self._reader(self.log_type)
        threading.Thread(target=self._open_mode, name="flow-log-mode", daemon=True).start()
        self._poller.start()
        return self

    def display(self) -> None:
        """Shows the viewer in the current cell; its saved form follows the stream's end."""
        self._saved.display(self._stream_state())

    def close(self, reason: str = "closed") -> None:
        """Stops the readers and redraws, deletes the spools and closes the widgets.

        A displayed viewer leaves its last lines and status as static output.

        Args:
            reason: Says why in that output, e.g. ``stopped: the kernel shut down``.
        """
        with self._lock:
            if self.closed:
                return
            bundle = self._fallback(f"log viewer {reason}")
            self._saved.publish_final(bundle)
            self.closed = True
        self._poller.stop(timeout=0.5)
        for reader in self._readers.values():
            reader.stop()
        self.root.close()

    def wait(self, timeout: float) -> bool:
        """Waits until the shown stream ended (tests and fallbacks); returns whether it did."""
        return self._reader(self.log_type).wait(timeout)

    def show_line(self, index: int) -> None:
        """Stops following and shows the page starting at line ``index`` (0-based)."""
        with self._lock:
            self._set_follow(False)
            self.first_line = max(0, index)
            self.redraw()

    def redraw(self) -> None:
        """Draws the page, the position and the status now."""
        with self._lock:
            if self.closed:
                return
            reader = self._reader(self.log_type)
            count = reader.spool.count
            start = self._page_start()
            page = reader.spool.read(start, start + self.page_lines)
            self.lines.value = _page_html(page, start, self.follow.value, self.log_type)
            shown = f"lines {start + 1:,}–{start + len(page):,} of {count:,}" if page else ""
            self.position.value = shown or f"no {self.log_type} lines yet"
            self.previous.disabled = self.first.disabled = start == 0
            self.next.disabled = start + self.page_lines >= count
            self.status.value = _status_html(self.task_id, reader)
        self._saved.publish(self._stream_state())

    # --- background ---------------------------------------------------------------

    def _reader(self, log_type: str) -> SpoolReader:
        with self._lock:
            reader = self._readers.get(log_type)
            if reader is None:
                reader = SpoolReader(
                    self._provider,
                    self.task_id,
                    log_type,
                    redact=self._redact,
                    on_change=self._dirty.set,
                )
                self._readers[log_type] = reader.start()
            return reader

    def _open_mode(self) -> None:
        """A task that has ended opens at line 1; a running one keeps following."""
        try:
            ended = self._provider.get_task(self.task_id).is_terminal
        except FlowError:
            return
        if ended:
            self.show_line(0)

    def _redraw_if_dirty(self) -> bool:
        if self.closed:
            return False
        if self._dirty.is_set():
            self._dirty.clear()
            self.redraw()
        return True

    # --- widget callbacks ---------------------------------------------------------

    def _set_follow(self, following: bool) -> None:
        if self.follow.value != following:
            self.follow.value = following  # redraws through _on_follow
        elif following:
            self.redraw()

    def _on_follow(self, change: dict[str, Any]) -> None:
        following = bool(change["new"])
        self.follow.description = "Following" if following else "Follow tail"
        self.follow.icon = "pause" if following else "play"
        if not following:
            self.first_line = self._tail_start()
        self.redraw()

    def _on_switch(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.log_type = change["new"]
            self._reader(self.log_type)
            self.redraw()
        self._on_search({"new": self.search.value})

    def _on_search(self, change: dict[str, Any]) -> None:
        query = str(change["new"] or "")
        if not query:
            self.matches.value = ""
            return
        found, total = self._reader(self.log_type).spool.search(query, _MAX_MATCHES)
        items = "".join(
            f"<li><code><span style='{_NUMBER_STYLE}'>{number:,}</span> "
            f"{_highlight(line, query)}</code></li>"
            for number, line in found
        )
        more = f" (first {len(found)} shown)" if total > len(found) else ""
        self.matches.value = (
            f"<div class='flow-log-matches'>{count_noun(total, 'line')} of the whole "
            f"{self.log_type} log match <b>{html.escape(query)}</b>{more}"
            f"<ul style='max-height:160px;overflow:auto'>{items}</ul></div>"
        )

    # --- drawing ------------------------------------------------------------------

    def _page_start(self) -> int:
        return self._tail_start() if self.follow.value else self.first_line

    def _tail_start(self) -> int:
        count = self._reader(self.log_type).spool.count
        return max(0, count - self.page_lines)

    def _stream_state(self) -> tuple[str, bool, bool]:
        """What the saved form shows that matters: the stream shown and whether it ended."""
        reader = self._readers.get(self.log_type)  # none before start(): nothing read yet
        if reader is None:
            return (self.log_type, False, False)
        return (self.log_type, reader.ended, reader.error is not None)

    def _fallback(self, note: str = "") -> dict[str, str]:
        """The status line and the last lines, as text and escaped HTML."""
        reader = self._reader(self.log_type)
        count = reader.spool.count
        lines = reader.spool.read(count - _FALLBACK_LINES, count) if not self.closed else []
        status = re.sub(r"<[^>]+>", "", _status_html(self.task_id, reader))
        head = f"{status} ({self.log_type}{', ' + note if note else ''})"
        body = "\n".join(lines) or f"(no {self.log_type} output yet)"
        return {
            "text/plain": f"{head}\n{body}",
            "text/html": f"<p><i>{html.escape(head)}</i></p><pre>{html.escape(body)}</pre>",
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle.update(self._fallback())
        return bundle


def _page_html(lines: list[str], start: int, following: bool, log_type: str) -> str:
    """Numbered lines in a scroll box; a following box sticks to its bottom."""
    if not lines:
        return ""
    width = len(f"{start + len(lines):,}")
    body = "\n".join(
        f"<span class='flow-ln' style='{_NUMBER_STYLE}'>{start + offset + 1:>{width},}</span>  "
        f"{html.escape(line)}"
        for offset, line in enumerate(lines)
    )
    direction = "column-reverse" if following else "column"
    colour = "color:var(--jp-error-color1, #cf222e);" if log_type == "stderr" else ""
    return (
        f"<div class='flow-log-box' style='{_BOX_STYLE};flex-direction:{direction}'>"
        # flex:none: the page must not shrink into the box, or it scrolls inside itself.
        f"<pre style='flex:none;margin:0;padding:4px 6px;overflow:visible;{colour}'>"
        f"{body}</pre></div>"
    )


def _status_html(task_id: str, reader: SpoolReader) -> str:
    if reader.error:
        detail = f"stream failed: {reader.error}"
    elif reader.ended:
        detail = f"whole log read: {count_noun(reader.spool.count, 'line')}"
    else:
        detail = f"reading: {count_noun(reader.spool.count, 'line')} so far"
    return f"<i>task {html.escape(task_id)}: {html.escape(detail)}</i>"


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
