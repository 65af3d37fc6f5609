r"""Where a follow draws: plain text, or the live view of a cell in widget front ends.

``PlainSurface`` writes output to the cell's own stdout and stderr (so a Jupyter
front end shows stderr as stderr and renders ``\\r`` and ANSI colours itself, and a
terminal does the same), one write per batch. It prints at most ``keep_kb`` of it,
half from the start and, at the end, the last lines, with a note of what it left
out and how to see it.

``CellView`` is the live view of ``%%flow run`` and ``%flow attach``: a header with
the real status and elapsed time, the output as Jupyter stream outputs (stderr red,
ANSI colours, ``\\r`` resolved) in a scroll box that follows the tail while the user
has not scrolled up and never moves when they have, and Cancel / Detach buttons.
The box lays its content out bottom-up (``column-reverse``): at the bottom it stays
at the bottom as lines arrive; scrolled up, the browser's scroll anchoring keeps the
lines in sight where they are. Output lives in pages (one ``Output`` widget each);
a full page never changes again, so its lines stay anchored; only the last page is
redrawn. Both keep at most ``keep_kb`` (lines and bytes, one giant line included).
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from flow_notebook.core.models import Task
from flow_notebook.core.provider_interfaces import LogChunk
from flow_notebook.notebook.ansi_html import ansi_to_html
from flow_notebook.notebook.formatting import format_duration, outcome_line
from flow_notebook.notebook.render import RunSummary, status_line, summary_footer
from flow_notebook.notebook.transcript import Transcript, strip_ansi

DEFAULT_KEEP_KB = 64
"""Output kept in the notebook per view, in KB; the full log stays with the provider."""
_FALLBACK_LINES = 40
VIEW_LINES = 1000
FLOOD_BYTES = 16 * 1024
FLOOD_REDRAW = 1.0
"""Past 16 KB since the last redraw, the view redraws at most once a second."""
"""Lines a live cell view keeps (besides ``keep_kb``)."""
PAGE_LINES = 20
PAGE_BYTES = 2048
"""A page of the live view closes at 20 lines or 2 KB: pages the user scrolled to never
change, so the browser can hold them still while newer lines arrive."""
_STYLE = (
    "<style>"
    ".flow-live-scroll{display:flex!important;flex-direction:column-reverse!important;"
    "overflow:auto!important;max-height:24em;border:1px solid var(--jp-border-color2,#ddd);"
    "margin:2px 0}"
    ".flow-live-scroll>*{flex:none!important}"
    ".flow-live-scroll .jp-OutputArea-output pre{margin:0}"
    ".flow-live-scroll .widget-vbox{gap:0!important}"
    ".flow-live-scroll .widget-output,.flow-live-scroll .widget-vbox{margin:0!important;"
    "padding:0!important}"
    ".flow-live-scroll .jp-OutputArea-output{padding-top:0!important;padding-bottom:0!important}"
    ".flow-live-header{font-family:var(--jp-code-font-family,monospace);font-size:12px}"
    # A view whose kernel is gone (restart, shutdown, crash) is frozen: ipywidgets marks
    # it disconnected; the status it last drew is replaced by a note saying so.
    ".flow-live-gone{display:none}"
    ".flow-live-header.jupyter-widgets-disconnected .flow-live-state{display:none}"
    ".flow-live-header.jupyter-widgets-disconnected .flow-live-gone{display:inline}"
    ".flow-live-controls.jupyter-widgets-disconnected{display:none!important}"
    "</style>"
)
_STATIC_BOX = (
    "display:flex;flex-direction:column-reverse;overflow:auto;max-height:24em;"
    "border:1px solid var(--jp-border-color2,#ddd);margin:2px 0"
)
_STATIC_TEXT = "font-family:var(--jp-code-font-family,monospace);font-size:12px"
_STDERR = "background-color:var(--jp-rendermime-error-background,#fdd)"


def hidden_note(task_id: str, hidden: int) -> str:
    """Returns the note about lines a view does not show, and how to see them."""
    plural = "line" if hidden == 1 else "lines"
    return f"... {hidden} {plural} not shown here (the full log: %flow logs {task_id} --tail N)"


def header_text(task: Task, *, start: Mapping[str, int] | None = None) -> str:
    """Returns ``task ID (NAME) · STATUS (detail) · 12s`` for a live view's header."""
    status = task.status.value
    if task.message and not task.is_terminal:
        status += f" ({task.message})"
    parts = [f"task {task.task_id} ({task.name})", status]
    if task.instance_type:
        parts.append(task.instance_type)
    begun = task.started_at or task.created_at
    if begun is not None:
        end = task.completed_at or datetime.now(timezone.utc)
        if begun.tzinfo is None:
            begun = begun.replace(tzinfo=timezone.utc)
        if end.tzinfo is None:
            end = end.replace(tzinfo=timezone.utc)
        parts.append(format_duration(max(0.0, (end - begun).total_seconds())))
    resumed = sum((start or {}).values())
    if resumed:
        parts.append(f"resuming after {resumed} lines already shown")
    return " · ".join(parts)


class PlainSurface:
    """Output on the cell's stdout/stderr as it arrives; capped; a footer at the end.

    Args:
        keep_kb: Output printed, in KB (half from the start, half from the end).
        title: Print a title first and the full summary at the end (a cell's view);
            else only the output and one outcome line (``--follow``).
        out: Writes standard output text.
        err: Writes standard error text.
    """

    def __init__(
        self,
        keep_kb: int | None = None,
        *,
        title: bool = False,
        out: Callable[[str], object] | None = None,
        err: Callable[[str], object] | None = None,
    ) -> None:
        budget = max(1, keep_kb or DEFAULT_KEEP_KB) * 1024
        self._head_left = budget // 2
        self._tail = Transcript(keep_bytes=budget // 2)
        self._title = title
        self._out = out or _writer(sys.stdout)
        self._err = err or _writer(sys.stderr)
        self._capped = False
        self._task_id = ""
        self._ends_open = False

    def begin(self, task: Task, start: Mapping[str, int]) -> None:
        """Prints the title when asked for one."""
        self._task_id = task.task_id
        if self._title:
            self._out(header_text(task, start=start) + "\n")

    def status(self, task: Task) -> None:
        """Plain text has no header to redraw."""

    def write(self, chunks: list[LogChunk]) -> None:
        """Prints the batch (one write per stream run) until the cap is reached."""
        if self._capped:
            self._tail.add(chunks)
            return
        for chunk in chunks:
            if self._capped:
                self._tail.add([chunk])
                continue
            text = chunk.text
            if len(text) > self._head_left:
                # Cut after the last whole line that fits (mid-line only for a giant line).
                cut = text.rfind("\n", 0, self._head_left) + 1 or self._head_left
                text, rest = text[:cut], text[cut:]
                self._capped = True
                self._tail.add([LogChunk(chunk.log_type, rest)])
            self._head_left -= len(text)
            (self._err if chunk.log_type == "stderr" else self._out)(text)
            self._ends_open = not text.endswith("\n")

    def end(self, summary: RunSummary) -> None:
        """Prints what the cap left out, the last lines, then the status and facts."""
        lines: list[str] = []
        if self._ends_open:
            lines.append("")
        if self._capped:
            self._tail.finish()
            hidden = self._tail.dropped
            lines.append(hidden_note(summary.task.task_id, hidden) if hidden else "...")
            lines.extend(strip_ansi(text) for text in self._tail.texts())
        if self._title:
            lines.extend(summary_footer(summary))
        else:
            lines.extend([*summary.facts, summary.note or outcome_line(summary.task)])
        self._out("\n".join(lines) + "\n")


class CellView:
    """The live view of a task in its cell (widget front ends).

    Args:
        task_id: The task.
        keep_kb: Output kept in the view, in KB.
        metadata: Output metadata of the view (provenance, task id).
        display: ``IPython.display.display`` (for tests).
    """

    def __init__(
        self,
        task_id: str,
        *,
        keep_kb: int | None = None,
        metadata: dict[str, Any] | None = None,
        display: Callable[..., Any] | None = None,
    ) -> None:
        import ipywidgets as w

        self.task_id = task_id
        self.transcript = Transcript(
            max(1, keep_kb or DEFAULT_KEEP_KB) * 1024,
            VIEW_LINES,
            page_lines=PAGE_LINES,
            page_bytes=PAGE_BYTES,
        )
        self._metadata = {"flow_notebook": {"task_id": task_id, **(metadata or {})}}
        self._display = display
        self._handle: Any = None
        self._task: Task | None = None
        self._start: Mapping[str, int] = {}
        self._summary: RunSummary | None = None
        self._pages: dict[int, Any] = {}
        self._drawn: dict[int, int] = {}
        self._last_header = 0.0
        self._last_pages = 0.0
        self._held = 0
        self.header = w.HTML(_STYLE)
        self.header.add_class("flow-live-header")
        self.inner = w.VBox([])
        self.scroll = w.Box([self.inner])
        self.scroll.add_class("flow-live-scroll")
        self.cancel = w.Button(description="Cancel", icon="stop", tooltip="cancel the task")
        self.detach = w.Button(
            description="Detach", icon="eject", tooltip="stop following; the task keeps running"
        )
        self.confirm_yes = w.Button(description="Yes, cancel it", button_style="danger")
        self.confirm_no = w.Button(description="Keep running")
        self.confirm = w.HBox([w.HTML("Cancel this task?"), self.confirm_yes, self.confirm_no])
        self.confirm.layout.display = "none"
        self.note = w.HTML()
        self.controls = w.HBox([self.cancel, self.detach, self.confirm])
        self.controls.add_class("flow-live-controls")
        self.root = w.VBox([self.header, self.scroll, self.controls, self.note])
        self.root.add_class("flow-live")
        self.cancel.on_click(lambda _: self._ask_cancel())
        self.confirm_no.on_click(lambda _: self._hide_confirm())
        self._on_cancel: Callable[[], None] = lambda: None
        self._on_detach: Callable[[], None] = lambda: None
        self.confirm_yes.on_click(lambda _: self._confirmed())
        self.detach.on_click(lambda _: self._on_detach())

    def connect(self, *, on_cancel: Callable[[], None], on_detach: Callable[[], None]) -> None:
        """Sets what the Cancel (after confirming) and Detach buttons do."""
        self._on_cancel, self._on_detach = on_cancel, on_detach

    def say(self, text: str) -> None:
        """Shows one line under the view (e.g. the outcome of Cancel) until it ends."""
        if self._summary is not None:
            return  # The final status and facts say it now.
        self.note.value = f"<i>{html.escape(text)}</i>"

    # --- Surface ----------------------------------------------------------------------

    def begin(self, task: Task, start: Mapping[str, int]) -> None:
        """Shows the view in the current cell."""
        self._task, self._start = task, dict(start)
        self._draw_header()
        if self._display is None:
            from IPython.display import display

            self._handle = display(self, metadata=self._metadata, display_id=True)
        else:
            self._handle = self._display(self, metadata=self._metadata, display_id=True)

    def status(self, task: Task) -> None:
        """Redraws the header with the task as just seen."""
        self._task = task
        self._draw_header()

    def write(self, chunks: list[LogChunk]) -> None:
        """Adds a batch; redraws the pages it changed, at most once a second in a flood.

        An empty batch draws what a flood held back.
        """
        self.transcript.add(chunks)
        self._held += sum(len(chunk.text) for chunk in chunks)
        now = time.monotonic()
        if chunks and self._held > FLOOD_BYTES and now - self._last_pages < FLOOD_REDRAW:
            return  # Sending every batch of a flood would trip the front end's rate limit.
        self._held, self._last_pages = 0, now
        self._draw_pages()
        if now - self._last_header >= 1.0 or self.transcript.dropped:
            self._draw_header()

    def end(self, summary: RunSummary) -> None:
        """Shows the final status and facts as static output; a saved notebook keeps it.

        The widget is replaced by its static form (no widget reference): a reopened
        notebook shows the output and the final status without a kernel, and the
        widgets are closed.
        """
        self._summary, self._task = summary, summary.task
        self.transcript.finish()
        if self._handle is None:
            self.note.value = self._footer_html()
            self._draw_header()
            self.controls.layout.display = "none"
            self._draw_pages()
            return
        # Drawn at once in its final form: the page never shows a half-ended widget.
        facts = {"status": summary.task.status.value, "exit_code": summary.task.exit_code}
        metadata = {"flow_notebook": {**self._metadata["flow_notebook"], **facts}}
        bundle = {"text/plain": self.text(), "text/html": self.static_html()}
        self._handle.update(bundle, raw=True, metadata=metadata)
        _close_tree(self.root)

    # --- drawing ----------------------------------------------------------------------

    def _draw_header(self) -> None:
        task = self._task
        if task is None:
            return
        self.header.value = _STYLE + self._header_html(task)
        self._last_header = time.monotonic()

    def _header_html(self, task: Task) -> str:
        hidden = self.transcript.dropped
        extra = f"<div>{html.escape(hidden_note(self.task_id, hidden))}</div>" if hidden else ""
        if self._summary is not None:
            return f"<b>{html.escape(self._final_line())}</b>{extra}"
        seen = datetime.now().strftime("%H:%M:%S")
        gone = (
            f"task {task.task_id} ({task.name}) · this view stopped at {seen}: its kernel is"
            f" gone (restarted, shut down or died) · %flow attach {task.task_id} shows the"
            " task now"
        )
        return (
            f'<b class="flow-live-state">{html.escape(header_text(task, start=self._start))}</b>'
            f'<b class="flow-live-gone">{html.escape(gone)}</b>{extra}'
        )

    def _final_line(self) -> str:
        """The status line; for a task still going when the view stopped, when it was seen."""
        summary = self._summary
        assert summary is not None
        task = summary.task
        if task.is_terminal or not summary.note:
            return status_line(task)
        seen = datetime.now().strftime("%H:%M:%S")
        return (
            f"task {task.task_id} ({task.name}) · not followed since {seen}"
            f" (it was {task.status.value} then)"
        )

    def _draw_pages(self) -> None:
        import ipywidgets as w

        pages = list(self.transcript.pages)
        numbers = [page.number for page in pages]
        removed = [n for n in self._pages if n not in numbers]
        for number in removed:
            self._pages.pop(number).close()
            self._drawn.pop(number, None)
        added = []
        for page in pages:
            if page.number not in self._pages:
                self._pages[page.number] = w.Output()
                added.append(self._pages[page.number])
        last = pages[-1].number
        for page in pages:
            tail = self.transcript.open_lines() if page.number == last else []
            if self._drawn.get(page.number) != len(page.lines) or tail or page.number == last:
                self._pages[page.number].outputs = _stream_outputs(page.lines, tail)
                self._drawn[page.number] = len(page.lines)
        if removed:
            self.inner.children = tuple(self._pages[n] for n in numbers)
        elif added:
            self.inner.children = (*self.inner.children, *added)

    def text(self) -> str:
        """The view as plain text (saved notebooks, nbval, terminals)."""
        task = self._task
        head = [] if task is None else [_live_fallback(task)]
        lines = [strip_ansi(text) for text in self.transcript.texts()][-_FALLBACK_LINES:]
        shown_from = self.transcript.total - len(self.transcript.lines())
        hidden = [hidden_note(self.task_id, shown_from)] if shown_from and lines else []
        if self._summary is not None:
            footer = [self._final_line(), *summary_footer(self._summary)[1:]]
            return "\n".join([*hidden, *lines, *footer])
        return "\n".join([*head, *hidden, *lines])

    def static_html(self) -> str:
        """The ended view as HTML without widgets: header, every line kept, the facts."""
        lines = self.transcript.lines() + self.transcript.open_lines()
        # Consecutive lines of one log in one run, as Jupyter's stream outputs are.
        body = "".join(
            f'<span class="flow-stderr" style="{_STDERR}">{ansi_to_html(text)}</span>'
            if kind == "stderr"
            else ansi_to_html(text)
            for kind, text in (
                (output["name"], output["text"]) for output in _stream_outputs(lines, [])
            )
        )
        task = self._task
        header = self._header_html(task) if task is not None else ""
        box = (
            f'<div class="flow-live-scroll" style="{_STATIC_BOX}">'
            f'<pre style="margin:0;white-space:pre-wrap">{body}</pre></div>'
            if body
            else ""
        )
        return (
            f'<div class="flow-live flow-live-static"><div class="flow-live-header" '
            f'style="{_STATIC_TEXT}">{header}</div>{box}'
            f'<div style="{_STATIC_TEXT}">{self._footer_html()}</div></div>'
        )

    def _footer_html(self) -> str:
        if self._summary is None:
            return str(self.note.value)
        footer = summary_footer(self._summary)[1:]
        return "".join(f"<div>{html.escape(line)}</div>" for line in footer)

    def html(self) -> str:
        """The view as static HTML (front ends without widgets, saved notebooks)."""
        if self._summary is not None:
            return self.static_html()
        lines = self.transcript.lines()[-_FALLBACK_LINES:] + self.transcript.open_lines()
        body = "".join(
            f'<span style="color:#cf222e">{html.escape(strip_ansi(text))}</span>\n'
            if kind == "stderr"
            else html.escape(strip_ansi(text)) + "\n"
            for kind, text in lines
        )
        task = self._task
        header = f"<b>{html.escape(_live_fallback(task))}</b>" if task is not None else ""
        pre = f'<pre style="margin:4px 0;white-space:pre-wrap">{body}</pre>' if body else ""
        return f'<div class="flow-live-static">{header}{pre}{self.note.value}</div>'

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.text()
        bundle["text/html"] = self.html()
        return bundle

    # --- buttons ------------------------------------------------------------------------

    def _ask_cancel(self) -> None:
        self.confirm.layout.display = None

    def _hide_confirm(self) -> None:
        self.confirm.layout.display = "none"

    def _confirmed(self) -> None:
        self._hide_confirm()
        self.cancel.disabled = True
        self.say(f"cancelling task {self.task_id} ...")
        self._on_cancel()


def _live_fallback(task: Task) -> str:
    """The header a saved live view shows without its widget: no status, which goes stale.

    A live view's widget is drawn by its kernel; this form is what is left where the
    widget cannot be drawn (a saved notebook whose kernel is gone, nbconvert).
    """
    seen = datetime.now().strftime("%H:%M:%S")
    return (
        f"task {task.task_id} ({task.name}) · live view from {seen}, drawn only while its"
        f" kernel runs · %flow attach {task.task_id} shows the task now"
    )


def _close_tree(widget: Any) -> None:
    """Closes a widget and every widget inside it (their front-end models go)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _stream_outputs(
    lines: list[tuple[str, str]], tail: list[tuple[str, str]]
) -> tuple[dict[str, str], ...]:
    """Returns the lines as Jupyter stream outputs, consecutive lines of a log merged."""
    outputs: list[dict[str, str]] = []
    for kind, text in [*((k, t + "\n") for k, t in lines), *tail]:
        if outputs and outputs[-1]["name"] == kind:
            outputs[-1]["text"] += text
        else:
            outputs.append({"output_type": "stream", "name": kind, "text": text})
    return tuple(outputs)


def _writer(stream: Any) -> Callable[[str], object]:
    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write
