"""When and how long to wait before sending a failed Mithril request again.

Only answers that say "try later" are retried: connection failures, 429 and
500/502/503/504. Waits grow exponentially with full jitter (a random wait between
zero and the exponential cap), so many clients do not retry in lockstep. A 429's
``Retry-After`` is honoured as given, up to ``max_retry_after``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
"""Methods whose repetition leaves the same result (the API's PATCHes set a state)."""


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter.

    Attributes:
        max_attempts: Attempts in total, the first one included.
        base_delay: Cap of the first wait, in seconds; doubles with each attempt.
        max_delay: Largest cap of a computed wait, in seconds.
        max_retry_after: Longest ``Retry-After`` that is waited out; a longer one
            ends the retries with ``RateLimitedError``.
        total_deadline: Seconds one call may take in all (attempts and waits); no
            wait starts that would pass it, so a 429 storm ends the call in time.
        rng: Random source of the jitter (seedable in tests).
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    total_deadline: float = 75.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def may_retry(self, attempt: int) -> bool:
        """Tells whether another attempt may follow attempt number ``attempt`` (1-based)."""
        return attempt < self.max_attempts

    def backoff(self, attempt: int) -> float:
        """Returns a jittered wait after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(0.0, cap)

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Returns the wait before the next attempt, or ``None`` when it should not be made.

        Args:
            attempt: Number (1-based) of the attempt that just failed.
            retry_after: Seconds the server asked for, when it said so.
        """
        if not self.may_retry(attempt):
            return None
        if retry_after is None:
            return self.backoff(attempt)
        if retry_after > self.max_retry_after:
            return None
        return retry_after


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Reads a ``Retry-After`` header: delta-seconds or an HTTP date.

    Args:
        value: The header's value, or ``None``.
        now: Current time, for the HTTP-date form (tests pass it).

    Returns:
        Seconds to wait (never negative), or ``None`` when absent or unreadable.
    """
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())
