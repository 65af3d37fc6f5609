"""Sends one Mithril API call: auth header, timeouts, retries, circuit breaker, errors.

``HttpCore`` is the engine under ``ApiClient``; it knows nothing of endpoints.
Contract of ``send``:

* Retries connection failures and 429/500/502/503/504 answers, with exponential
  backoff and full jitter (``Retry-After`` honoured), but only for calls that are
  safe to repeat: GET, PUT, PATCH, DELETE, or any call marked ``idempotent=True``.
  A POST is never sent twice unless the connection failed before it was sent or the
  answer was a 429 (the server refused it without processing it).
* Every call passes the circuit breaker first and reports its outcome once: a call
  whose retries all ended in connection failures or 5xx answers is one breaker
  failure, any answer (also 4xx or 429) a success. So a partial outage, which the
  retries ride out, does not open the breaker. A ``KeyboardInterrupt`` counts as
  neither.
* Bounded per call: no wait starts that would take the call past
  ``RetryPolicy.total_deadline`` (attempts and waits counted). Each wait of a second
  or more is reported through ``on_retry`` ("rate-limited, retrying in 12 s,
  attempt 2/4"), so a notebook can show it.
* Any failure leaves as a ``flow_notebook.core.errors`` exception (see
  ``errors_map``), raised ``from`` the transport error or ``HTTPStatusError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from pydantic import SecretStr, TypeAdapter

from flow_notebook.core import progress
from flow_notebook.core.errors import AuthenticationError
from flow_notebook.providers.mithril.api import errors_map
from flow_notebook.providers.mithril.api.breaker import CircuitBreaker
from flow_notebook.providers.mithril.api.retry import (
    RETRYABLE_STATUSES,
    SAFE_METHODS,
    RetryPolicy,
    parse_retry_after,
)
from flow_notebook.providers.mithril.api.transport import (
    HTTPStatusError,
    Timeout,
    Transport,
    TransportError,
    TransportRequest,
    TransportResponse,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
USER_AGENT = "flow_notebook"


class HttpCore:
    """Sends authenticated requests to one Mithril API base URL.

    Args:
        base_url: API root, e.g. ``https://api.mithril.ai``.
        api_key: Bearer key; ``None`` makes every call fail with
            ``AuthenticationError`` before anything is sent.
        transport: Where requests go.
        timeout: (connect, read) timeouts in seconds, for every attempt.
        retry: Retry policy.
        breaker: Circuit breaker shared by every call of this client.
        sleep: Waits between attempts (tests pass a recorder).
        clock: Monotonic time of the attempts, for the total deadline.
        on_retry: Called with one line before each wait of a second or more;
            ``flow_notebook.core.progress.report`` by default.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        transport: Transport,
        timeout: Timeout,
        retry: RetryPolicy,
        breaker: CircuitBreaker,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.transport = transport
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self._sleep = sleep
        self._clock = clock
        self._on_retry = on_retry or progress.report

    @property
    def has_key(self) -> bool:
        """Whether an API key is configured."""
        return bool(self._api_key and self._api_key.get_secret_value())

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> TransportResponse:
        """Sends a request, retrying what is safe to retry, and returns a 2xx answer.

        Args:
            method: HTTP method.
            path: Path below the base URL, starting with ``/``.
            params: Query parameters; ``None`` values are left out, lists joined by commas.
            json: JSON body.
            idempotent: Whether repeating the call is harmless; ``None`` decides by method.

        Returns:
            The successful answer.

        Raises:
            FlowError: A subclass from ``flow_notebook.core.errors``.
        """
        method = method.upper()
        request = self._build(method, path, params, json)
        self.breaker.before_call()
        outcome = _Outcome()
        try:
            response = self._attempts(request, idempotent, outcome)
        except BaseException:
            if outcome.failed is None:
                self.breaker.release()  # e.g. a KeyboardInterrupt: no verdict on the API
            raise
        finally:
            if outcome.failed is True:
                self.breaker.record_failure()
            elif outcome.failed is False:
                self.breaker.record_success()
        return response

    def _attempts(
        self, request: TransportRequest, idempotent: bool | None, outcome: _Outcome
    ) -> TransportResponse:
        method, path = request.method, self._path_of(request)
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        budget = _Budget(self.retry.total_deadline)
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            try:
                response = self.transport.request(request)
            except TransportError as exc:
                budget.spend(self._clock() - started)
                if (repeatable or not exc.request_sent) and self.retry.may_retry(attempt):
                    wait = self.retry.backoff(attempt)
                    if budget.allows(wait):
                        self._wait(wait, method, path, str(exc), attempt, budget)
                        continue
                outcome.failed = True
                raise errors_map.error_for_transport(exc, method, path, self._secrets()) from exc
            budget.spend(self._clock() - started)
            if 200 <= response.status < 300:
                outcome.failed = False
                return response
            retry_after = parse_retry_after(response.header("Retry-After"))
            # A 429 refuses the request unprocessed, so even a POST may be sent again.
            if (repeatable or response.status == 429) and response.status in RETRYABLE_STATUSES:
                delay = self.retry.delay(attempt, retry_after)
                if delay is not None and budget.allows(delay):
                    why = f"HTTP {response.status}"
                    self._wait(delay, method, path, why, attempt, budget)
                    continue
            outcome.failed = response.status >= 500
            raise errors_map.error_for_response(
                response, method, path, retry_after=retry_after, secrets=self._secrets()
            ) from HTTPStatusError(response.status, method, path)

    def parse(self, response: TransportResponse, adapter: TypeAdapter[T], where: str) -> T:
        """Parses a JSON answer into ``adapter``'s type.

        Raises:
            ProviderResponseError: The body is not JSON or does not fit the model.
        """
        try:
            return adapter.validate_json(response.body or b"null")
        except pydantic.ValidationError as exc:
            first: Mapping[str, Any] = exc.errors()[0] if exc.errors() else {}
            place = ".".join(str(part) for part in first.get("loc", ()))
            reason = f"{place}: {first.get('msg', 'invalid')}" if place else "not valid JSON"
            if first.get("type") == "json_invalid":
                reason = "not valid JSON"
            method, _, path = where.partition(" ")
            raise errors_map.unreadable_body_error(method, path, reason, response.status) from exc

    def close(self) -> None:
        """Closes the transport."""
        self.transport.close()

    def _build(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any
    ) -> TransportRequest:
        key = self._api_key.get_secret_value() if self._api_key else ""
        if not key:
            raise AuthenticationError(
                "no Mithril API key configured",
                suggestion="set MITHRIL_API_KEY or save api_key in the flow config",
            )
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        return TransportRequest(
            method=method,
            url=self.base_url + path,
            headers=headers,
            params=encode_params(params or {}),
            json=json,
            timeout=self.timeout,
        )

    def _path_of(self, request: TransportRequest) -> str:
        return request.url[len(self.base_url) :] or "/"

    def _wait(
        self, seconds: float, method: str, path: str, why: str, attempt: int, budget: _Budget
    ) -> None:
        total = self.retry.max_attempts
        logger.info(
            "Mithril %s %s failed (%s); retry %d/%d in %.2fs", method, path, why, attempt,
            total - 1, seconds,
        )  # fmt: skip
        if seconds >= 1:
            what = "rate-limited" if why == "HTTP 429" else f"Mithril API unavailable ({why})"
            self._on_retry(f"{what}, retrying in {seconds:.0f} s, attempt {attempt + 1}/{total}")
        budget.spend(seconds)
        self._sleep(seconds)

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.get_secret_value(),) if self._api_key else ()


@dataclass
class _Outcome:
    """What one call told about the API: ``None`` until known (then failed or not)."""

    failed: bool | None = None


class _Budget:
    """Time a call has spent (attempts and waits) against its total deadline."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._spent = 0.0

    def spend(self, seconds: float) -> None:
        self._spent += max(0.0, seconds)

    def allows(self, wait: float) -> bool:
        """Whether waiting ``wait`` more seconds stays within the deadline."""
        return self._spent + wait <= self._deadline


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Turns query parameters into strings as the API reads them.

    ``None`` values are dropped, booleans become ``true``/``false``, sequences
    become comma-separated lists and datetimes ISO 8601 text.
    """
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            encoded[key] = value.isoformat()
        elif isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value) if isinstance(value, (set, frozenset)) else value
            if items:
                encoded[key] = ",".join(str(item) for item in items)
        else:
            encoded[key] = str(value)
    return encoded
