"""A reusable progress bar fed by ``(done, total)`` callbacks, for uploads and syncs.

``Progress`` holds the numbers and the text; ``WidgetProgress`` draws them with an
``IntProgress`` bar, ``TextProgress`` prints one line when the work ends (a thread
must not print, and a cell full of carriage returns helps nobody). ``make_progress``
picks one. Callbacks may come from any thread.
"""

from __future__ import annotations

import threading
from typing import Any

from flow_notebook.notebook.follow import emit


def format_bytes(count: int) -> str:
    """Returns ``count`` bytes as ``512 B``, ``1.5 KB``, ``3.2 MB`` or ``1.0 GB``."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


class Progress:
    """Tracks ``done`` of ``total`` bytes; renderers override ``_draw`` and ``_finish``.

    Args:
        label: What is being transferred, e.g. ``upload to vol-1``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.done = 0
        self.total = 0
        self.finished = False
        self.error: str | None = None
        self._lock = threading.Lock()

    @property
    def fraction(self) -> float:
        """Done as a fraction of total, in ``[0, 1]``; ``1`` when total is zero."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def text(self) -> str:
        """One line, e.g. ``upload to vol-1: 1.5 MB of 3.0 MB (50%)``."""
        state = f"{format_bytes(self.done)} of {format_bytes(self.total)}"
        state += f" ({self.fraction:.0%})"
        if self.error:
            return f"{self.label}: failed after {state}: {self.error}"
        return f"{self.label}: {state}" + (" done" if self.finished else "")

    def __call__(self, done: int, total: int) -> None:
        """Records progress; the callback an upload calls."""
        with self._lock:
            self.done, self.total = max(0, done), max(0, total)
            self._draw()

    def finish(self, error: str | None = None) -> None:
        """Marks the work done (or failed with the one-line ``error``)."""
        with self._lock:
            self.finished, self.error = True, error
            self._draw()
            self._finish()

    def _draw(self) -> None:
        """Hook: redraw after a change (lock held)."""

    def _finish(self) -> None:
        """Hook: the work ended (lock held)."""

    def __repr__(self) -> str:
        return self.text


class TextProgress(Progress):
    """Prints the final line when the work ends; nothing while it runs."""

    def _finish(self) -> None:
        emit(self.text)


class WidgetProgress(Progress):
    """An ``IntProgress`` bar and a label; green when done, red when failed."""

    def __init__(self, label: str) -> None:
        import ipywidgets as w

        super().__init__(label)
        self.bar = w.IntProgress(value=0, min=0, max=1000, bar_style="info")
        self.caption = w.Label(self.text)
        self.root = w.HBox([self.bar, self.caption])
        self.root.add_class("flow-progress")
        self.handle: Any = None

    def _draw(self) -> None:
        self.bar.value = round(self.fraction * 1000)
        self.caption.value = self.text
        if self.finished:
            self.bar.bar_style = "danger" if self.error else "success"

    def _finish(self) -> None:
        # Refreshes the cell's text form too, so a saved notebook shows the final line.
        if self.handle is not None:
            self.handle.update(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.root._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.text
        return bundle


def make_progress(label: str, *, text: bool = False) -> Progress:
    """Returns a widget bar shown in the cell, or a text one that prints when done."""
    from flow_notebook.notebook.widgets.html import use_widgets

    if not use_widgets(text):
        return TextProgress(label)
    from IPython.display import display as ipython_display

    progress = WidgetProgress(label)
    progress.handle = ipython_display(progress, display_id=True)
    return progress
