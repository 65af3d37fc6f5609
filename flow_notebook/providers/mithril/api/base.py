"""``ApiClientBase``: construction, typed calls and cursor paging for ``ApiClient``.

Retries, the circuit breaker and error mapping live in ``HttpCore``; this layer
turns answers into ``dto`` models and follows ``next_cursor`` across pages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast, overload
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter

from flow_notebook.core.config import DEFAULT_MITHRIL_API_URL, FlowConfig
from flow_notebook.core.errors import ProviderResponseError
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.api.breaker import CircuitBreaker
from flow_notebook.providers.mithril.api.http_core import HttpCore
from flow_notebook.providers.mithril.api.retry import RetryPolicy
from flow_notebook.providers.mithril.api.transport import RequestsTransport, Timeout, Transport

C = TypeVar("C", bound="ApiClientBase")
Page = TypeVar("Page", dto.GetBidsResponse, dto.GetInstancesResponse)
Result = TypeVar("Result")

DEFAULT_TIMEOUT: Timeout = (5.0, 30.0)
MAX_PAGES = 1000
_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(kind: type[Result]) -> TypeAdapter[Result]:
    if kind not in _adapters:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            _adapters[kind] = TypeAdapter(kind)
        else:
            # Models hide their inputs themselves; a list around them needs telling.
            _adapters[kind] = TypeAdapter(kind, config=ConfigDict(hide_input_in_errors=True))
    return cast("TypeAdapter[Result]", _adapters[kind])


def fid_segment(value: str) -> str:
    """Quotes an id for use as one path segment, so it cannot change the path."""
    return quote(str(value), safe="")


class ApiClientBase:
    """Plumbing shared by every ``ApiClient`` endpoint method.

    Args:
        api_key: Bearer key (``fkey_...``); without one every call raises
            ``AuthenticationError`` before sending.
        base_url: API root; defaults to ``MITHRIL_API_URL`` or ``https://api.mithril.ai``.
        transport: HTTP transport; defaults to a pooled ``requests.Session``.
        timeout: (connect, read) timeouts in seconds for each attempt.
        retry: Retry policy for calls that are safe to repeat.
        breaker: Circuit breaker; one per client, shared by its threads.
        sleep: Waits between attempts (tests pass a recorder).
        on_retry: Gets one line before each wait of a second or more (see ``HttpCore``).
    """

    def __init__(
        self,
        api_key: SecretStr | str | None,
        *,
        base_url: str | None = None,
        transport: Transport | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        url = base_url or os.environ.get("MITHRIL_API_URL") or DEFAULT_MITHRIL_API_URL
        self._http = HttpCore(
            base_url=url,
            api_key=key,
            transport=transport or RequestsTransport(),
            timeout=timeout,
            retry=retry or RetryPolicy(),
            breaker=breaker or CircuitBreaker(),
            sleep=sleep,
            on_retry=on_retry,
        )

    @classmethod
    def from_config(cls: type[C], config: FlowConfig, **overrides: Any) -> C:
        """Builds a client from ``config.api_key`` and ``config.api_url``.

        Args:
            config: Resolved configuration.
            **overrides: Constructor arguments to use instead of the defaults.
        """
        return cls(config.api_key, base_url=config.api_url, **overrides)

    @property
    def base_url(self) -> str:
        """The API root every path is appended to."""
        return self._http.base_url

    @property
    def breaker(self) -> CircuitBreaker:
        """The client's circuit breaker."""
        return self._http.breaker

    def __repr__(self) -> str:
        key = "**********" if self._http.has_key else None
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key={key!r})"

    def close(self) -> None:
        """Releases pooled connections."""
        self._http.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @overload
    def call(
        self,
        method: str,
        path: str,
        result: None,
        *,
        params: Mapping[str, Any] | None = None,
        body: dto.RequestModel | None = None,
        idempotent: bool | None = None,
    ) -> None: ...

    @overload
    def call(
        self,
        method: str,
        path: str,
        result: type[Result],
        *,
        params: Mapping[str, Any] | None = None,
        body: dto.RequestModel | None = None,
        idempotent: bool | None = None,
    ) -> Result: ...

    def call(
        self,
        method: str,
        path: str,
        result: type[Result] | None,
        *,
        params: Mapping[str, Any] | None = None,
        body: dto.RequestModel | None = None,
        idempotent: bool | None = None,
    ) -> Result | None:
        """Sends one request and parses the answer as ``result`` (``None``: ignore the body).

        Raises:
            FlowError: A subclass from ``flow_notebook.core.errors``.
        """
        json = body.to_json() if body is not None else None
        response = self._http.send(method, path, params=params, json=json, idempotent=idempotent)
        if result is None:
            return None
        return self._http.parse(response, _adapter(result), f"{method} {path}")

    def iter_pages(
        self, path: str, params: Mapping[str, Any], page_model: type[Page]
    ) -> Iterator[Page]:
        """Yields the pages of a cursor-paged list, following ``next_cursor``.

        Raises:
            ProviderResponseError: The API repeats a cursor or exceeds ``MAX_PAGES``.
        """
        query = dict(params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self.call("GET", path, page_model, params=query)
            yield page
            cursor = page.next_cursor
            if not cursor:
                return
            if cursor in seen:
                raise ProviderResponseError(f"Mithril API repeated a page cursor on GET {path}")
            seen.add(cursor)
            query["next_cursor"] = cursor
        raise ProviderResponseError(f"Mithril API returned over {MAX_PAGES} pages on GET {path}")

    def paginate(
        self, path: str, params: Mapping[str, Any], page_model: type[Page]
    ) -> Iterator[Any]:
        """Yields the items (``data``) of every page of a cursor-paged list."""
        for page in self.iter_pages(path, params, page_model):
            yield from page.data
