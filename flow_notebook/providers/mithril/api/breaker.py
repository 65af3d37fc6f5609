"""A circuit breaker that stops hammering a Mithril API that keeps failing.

States::

    closed --N consecutive failures--> open --cool-down elapsed--> half-open
    half-open --probe succeeds--> closed;  half-open --probe fails--> open

While open, calls fail at once with ``ProviderUnavailableError`` instead of
waiting on timeouts. After the cool-down exactly one probe call goes through;
other callers keep failing fast until it reports. The cool-down is short (2 s by
default), so calls fail for at most that long once the service answers again. A
call that ends without a verdict on the API (e.g. a ``KeyboardInterrupt``) calls
``release``: it frees the probe slot and counts as nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from flow_notebook.core.errors import ProviderUnavailableError

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class CircuitBreaker:
    """Counts consecutive failures and opens after ``failure_threshold`` of them.

    Thread-safe. A "failure" is whatever the caller reports with
    ``record_failure`` (the client reports connection errors and 5xx answers).

    Args:
        failure_threshold: Consecutive failures that open the circuit.
        reset_timeout: Seconds the circuit stays open before one probe is allowed.
        clock: Monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = max(1, failure_threshold)
        self._reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        with self._lock:
            if self._state == OPEN and self._cool_down_left() <= 0:
                return HALF_OPEN
            return self._state

    def before_call(self) -> None:
        """Lets a call through, or refuses it while the circuit is open.

        Raises:
            ProviderUnavailableError: The circuit is open (or half-open with a
                probe already in flight).
        """
        with self._lock:
            if self._state == CLOSED:
                return
            left = self._cool_down_left()
            if self._state == OPEN and left <= 0:
                self._state = HALF_OPEN
            if self._state == HALF_OPEN and not self._probe_in_flight:
                self._probe_in_flight = True
                return
            wait = max(1, math.ceil(left))
        raise ProviderUnavailableError(
            f"Mithril API unavailable; circuit open, retrying in {wait}s",
            suggestion="try again shortly",
        )

    def record_success(self) -> None:
        """Closes the circuit and clears the failure count."""
        with self._lock:
            self._state = CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def release(self) -> None:
        """Ends a call that says nothing about the API (interrupted): no count, probe freed."""
        with self._lock:
            self._probe_in_flight = False

    def record_failure(self) -> None:
        """Counts a failure; opens the circuit at the threshold or when a probe fails."""
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self._threshold:
                self._state = OPEN
                self._opened_at = self._clock()
            self._probe_in_flight = False

    def _cool_down_left(self) -> float:
        return self._opened_at + self._reset_timeout - self._clock()
