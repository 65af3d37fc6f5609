"""Progress lines from deep inside a provider (API retries) to whoever shows them.

A provider call may wait a while for a rate-limited or briefly unavailable API.
``report`` hands one line about it to the reporter set with ``set_reporter`` (the
notebook extension shows it in the running cell); without one, lines are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_reporter: Callable[[str], None] | None = None
_lock = threading.Lock()


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    """Sets where progress lines go (``None``: nowhere)."""
    global _reporter
    with _lock:
        _reporter = reporter


def report(line: str) -> None:
    """Passes ``line`` to the reporter; a failing reporter never fails the caller."""
    reporter = _reporter
    if reporter is None:
        return
    try:
        reporter(line)
    except Exception:  # noqa: BLE001 - showing progress must not break the call
        return
