"""Keeps what a saved notebook shows of a panel current: its output is updated on change.

A widget output holds the widget's reference plus ``text/plain`` and ``text/html``
forms; those are what nbconvert, GitHub and a notebook without its kernel show, and
they were written once, at first display. ``SavedOutput`` displays a panel with a
display id and, whenever the panel's state that matters changes (a task ends, a
log is read to its end, the panel closes), sends ``update_display_data`` with the
panel's current bundle, so the notebook saved afterwards carries the final state.
A closed panel is replaced by its static form (no widget reference), so the page
and the saved notebook both show the final table and a note.

The frontend matches the update by display id, whichever cell runs at the time, so
a background thread may publish. A kernel that dies cannot publish: its panels keep
the last state published, which is always labelled with the time it was seen.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class SavedOutput:
    """The displayed output of one panel (anything with ``_repr_mimebundle_``).

    Args:
        panel: The panel; its bundle is asked for again on every publish.
    """

    def __init__(self, panel: Any) -> None:
        self._panel = panel
        self._handle: Any = None
        self._last: Hashable = None
        self._lock = threading.Lock()
        self.publishes = 0

    def display(self, state: Hashable = None) -> None:
        """Displays the panel in the current cell, with a display id.

        Args:
            state: The panel's state as displayed, so the first publish is a change.
        """
        from IPython.display import display

        self._last = state
        self._handle = display(self._panel, display_id=True)

    def publish(self, state: Hashable) -> None:
        """Updates the output when ``state`` differs from the last one published."""
        with self._lock:
            if self._handle is None or state == self._last:
                return
            self._last = state
            self.publishes += 1
            self._handle.update(self._panel)

    def publish_final(self, bundle: dict[str, Any]) -> None:
        """Replaces the output by ``bundle`` without the widget (the panel closed)."""
        with self._lock:
            if self._handle is None:
                return
            static = {mime: data for mime, data in bundle.items() if mime != WIDGET_MIME}
            self.publishes += 1
            self._handle.update(static, raw=True)
            self._handle = None
