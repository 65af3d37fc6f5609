"""Sends one Mithril API call: auth header, timeouts, retries, circuit breaker, errors.

``HttpCore`` is the engine under ``ApiClient``; it knows nothing of endpoints.
Contract of ``send``:

* Retries connection failures and 429/500/502/503/504 answers, with exponential
  backoff and full jitter (``Retry-After`` honoured), but only for calls that are
  safe to repeat: GET, PUT, PATCH, DELETE, or any call marked ``idempotent=True``.
  A POST is never sent twice unless the connection failed before it was sent or the
  answer was a 429 (the server refused it without processing it).
* Every attempt passes the circuit breaker first; connection failures and 5xx
  answers count as breaker failures, any other answer as a success.
* Any failure leaves as a ``flow_notebook.core.errors`` exception (see
  ``errors_map``), raised ``from`` the transport error or ``HTTPStatusError``.
* Blocks for at most ``max_attempts`` times the read timeout plus the waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from pydantic import SecretStr, TypeAdapter

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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.transport = transport
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self._sleep = sleep

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
        repeatable = method in SAFE_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            self.breaker.before_call()
            try:
                response = self.transport.request(request)
            except TransportError as exc:
                self.breaker.record_failure()
                if (repeatable or not exc.request_sent) and self.retry.may_retry(attempt):
                    self._wait(self.retry.backoff(attempt), method, path, str(exc), attempt)
                    continue
                raise errors_map.error_for_transport(exc, method, path, self._secrets()) from exc
            except BaseException:
                # A transport must only raise TransportError; free the breaker anyway.
                self.breaker.record_failure()
                raise
            self._report(response.status)
            if 200 <= response.status < 300:
                return response
            retry_after = parse_retry_after(response.header("Retry-After"))
            # A 429 refuses the request unprocessed, so even a POST may be sent again.
            if (repeatable or response.status == 429) and response.status in RETRYABLE_STATUSES:
                wait = self.retry.delay(attempt, retry_after)
                if wait is not None:
                    self._wait(wait, method, path, f"HTTP {response.status}", attempt)
                    continue
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
            first = exc.errors()[0] if exc.errors() else {}
            place = ".".join(str(part) for part in first.get("loc", ()))
            reason = f"{place}: {first.get('msg', 'invalid')}" if place else "not valid JSON"
            if first.get("type") == "json_invalid":
                reason = "not valid JSON"
            method, _, path = where.partition(" ")
            raise errors_map.unreadable_body_error(method, path, reason) from exc

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

    def _report(self, status: int) -> None:
        if status >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def _wait(self, seconds: float, method: str, path: str, why: str, attempt: int) -> None:
        logger.info(
            "Mithril %s %s failed (%s); retry %d/%d in %.2fs",
            method,
            path,
            why,
            attempt,
            self.retry.max_attempts - 1,
            seconds,
        )
        self._sleep(seconds)

    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.get_secret_value(),) if self._api_key else ()


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
