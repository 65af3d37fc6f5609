"""Faults on demand: latency, error rates, 429s and dropped connections per route pattern.

Rules match ``"METHOD /path"`` with shell wildcards (``"GET /v2/spot/bids*"``,
``"* /v2/*"``). Every random choice comes from one ``random.Random(seed)``, so a
run with the same seed and the same request order sees the same faults.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class FaultRule:
    """What to do to requests matching ``pattern``.

    Attributes:
        pattern: Shell-style pattern over ``"METHOD /path"``.
        error_rate: Share of requests answered with ``error_status``.
        error_status: Status of those answers (e.g. 503).
        rate_limit_rate: Share of requests answered 429 with ``Retry-After``.
        retry_after: Seconds put in ``Retry-After``.
        drop_rate: Share of requests whose connection is closed without an answer.
        latency_ms: Delay added to every matching request.
        spike_rate: Share of requests delayed by ``spike_ms`` more.
        spike_ms: Size of a latency spike.
        process_delay_ms: For requests that pass: the request is read at once, then
            handled only after this delay, so a client whose read timeout is shorter
            gives up before the server acts on it (the request still takes effect).
    """

    pattern: str = "* /v2/*"
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after: int = 1
    drop_rate: float = 0.0
    latency_ms: int = 0
    spike_rate: float = 0.0
    spike_ms: int = 0
    process_delay_ms: int = 0


@dataclass(frozen=True)
class Decision:
    """What happens to one request: wait ``delay_s``, then do ``action``.

    ``action`` is ``"pass"``, ``"error"``, ``"rate_limit"`` or ``"drop"``. A request
    that passes is handled ``process_delay_s`` after it was read.
    """

    delay_s: float
    action: str
    status: int = 200
    retry_after: int = 0
    process_delay_s: float = 0.0


class FaultInjector:
    """Holds the rules and decides, per request, which fault (if any) applies.

    Args:
        seed: Seed of the random choices.
    """

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> None:
        """Adds a rule; later rules are checked first."""
        with self._lock:
            self._rules.insert(0, rule)

    def reset(self, seed: int | None = None) -> None:
        """Removes every rule, and reseeds when ``seed`` is given."""
        with self._lock:
            self._rules.clear()
            if seed is not None:
                self._random.seed(seed)

    def rules(self) -> list[dict[str, Any]]:
        """Returns the rules as dicts, most recent first."""
        with self._lock:
            return [asdict(r) for r in self._rules]

    def decide(self, method: str, path: str) -> Decision:
        """Returns the fault for one request (the first matching rule decides)."""
        target = f"{method.upper()} {path}"
        with self._lock:
            rule = next((r for r in self._rules if fnmatch.fnmatchcase(target, r.pattern)), None)
            if rule is None:
                return Decision(0.0, "pass")
            draw = self._random.random
            delay_ms = rule.latency_ms
            if rule.spike_rate and draw() < rule.spike_rate:
                delay_ms += rule.spike_ms
            delay = delay_ms / 1000
            if rule.drop_rate and draw() < rule.drop_rate:
                return Decision(delay, "drop")
            if rule.rate_limit_rate and draw() < rule.rate_limit_rate:
                return Decision(delay, "rate_limit", 429, rule.retry_after)
            if rule.error_rate and draw() < rule.error_rate:
                return Decision(delay, "error", rule.error_status)
            return Decision(delay, "pass", process_delay_s=rule.process_delay_ms / 1000)
