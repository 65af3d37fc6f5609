"""A background loop that calls a function every few seconds until stopped.

The panels refresh through it so the kernel stays free: the loop only updates widget
values, never prints (output from a thread lands in whatever cell runs then).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Poller:
    """Calls ``tick`` every ``interval`` seconds on a daemon thread.

    Args:
        tick: The work; returns ``False`` to stop the loop, anything else to go on.
        interval: Seconds between calls.
        on_error: Receives an exception ``tick`` raised; the loop goes on. A view
            passes one that shows the error where its user looks; without one the
            error is logged (a thread has nowhere safe to print).
        name: Thread name, for debugging.
    """

    def __init__(
        self,
        tick: Callable[[], object],
        interval: float,
        *,
        on_error: Callable[[Exception], None] | None = None,
        name: str = "flow-poller",
    ) -> None:
        self._tick = tick
        self._interval = interval
        self._on_error = on_error or (
            lambda exc: logger.warning("%s: %s: %s", name, type(exc).__name__, exc)
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        """Whether the loop is alive."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Starts the loop; the first call happens at once."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the loop and waits up to ``timeout`` seconds for it. Safe to call twice."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._tick() is False:
                    return
            except Exception as exc:  # noqa: BLE001 - a thread must not die silently mid-loop
                self._on_error(exc)
            self._stop.wait(self._interval)
