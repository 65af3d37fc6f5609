"""The HTTP seam of the Mithril client: one small interface and two transports.

``ApiClient`` never calls an HTTP library itself. It hands a ``TransportRequest``
to a transport and gets a ``TransportResponse`` back, or a ``TransportError`` when
no response arrived. ``RequestsTransport`` (the default) sends over one pooled
``requests.Session``; ``MockTransport`` answers from a function, for tests.
"""

from __future__ import annotations

import json as jsonlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Timeout = tuple[float, float]
"""Seconds to wait for the connection and for each read of the answer."""

_HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class TransportRequest:
    """One HTTP request as the transport sees it.

    Attributes:
        method: Upper-case HTTP method.
        url: Absolute URL without the query string.
        headers: Request headers (may hold credentials; hidden from ``repr``).
        params: Query parameters, already turned into strings.
        json: JSON body, or ``None`` for none.
        timeout: (connect, read) timeouts in seconds.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    timeout: Timeout = (5.0, 30.0)

    def __repr__(self) -> str:
        shown = {
            key: ("**********" if key.lower() in _HIDDEN_HEADERS else value)
            for key, value in self.headers.items()
        }
        return (
            f"TransportRequest(method={self.method!r}, url={self.url!r}, headers={shown!r}, "
            f"params={dict(self.params)!r}, json={self.json!r}, timeout={self.timeout!r})"
        )


@dataclass(frozen=True)
class TransportResponse:
    """One HTTP response.

    Attributes:
        status: HTTP status code.
        headers: Response headers.
        body: Raw response body.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Returns the header ``name`` (case-insensitive), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    @classmethod
    def json_body(
        cls, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> TransportResponse:
        """Builds a response whose body is ``payload`` encoded as JSON."""
        merged = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=merged, body=jsonlib.dumps(payload).encode())


class TransportError(Exception):
    """No HTTP response arrived: the connection failed, timed out or broke.

    Attributes:
        request_sent: ``False`` when the request certainly never reached the
            server (e.g. the connection was refused), so even a non-idempotent
            call may be sent again.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        self.request_sent = request_sent
        super().__init__(message)


class HTTPStatusError(Exception):
    """An HTTP answer with an error status; the original that mapped errors come from.

    Attributes:
        status: HTTP status code.
        method: HTTP method of the request.
        path: Path of the request.
    """

    def __init__(self, status: int, method: str, path: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        super().__init__(f"HTTP {status} on {method} {path}")


class Transport(Protocol):
    """Sends one request and returns the response.

    Implementations raise ``TransportError`` (and nothing else) when no response
    arrived. They must be safe to call from several threads.
    """

    def request(self, request: TransportRequest) -> TransportResponse:
        """Sends ``request`` and returns the response."""
        ...

    def close(self) -> None:
        """Releases pooled connections."""
        ...


class RequestsTransport:
    """Sends requests over one pooled ``requests.Session``.

    ``requests`` is imported when the first request is sent, so building a client
    stays cheap.
    """

    def __init__(self, *, pool_size: int = 10) -> None:
        self._pool_size = pool_size
        self._session: Any = None
        self._lock = threading.Lock()

    def request(self, request: TransportRequest) -> TransportResponse:
        """Sends ``request`` over the pooled session.

        Raises:
            TransportError: The connection failed or timed out.
        """
        import requests

        session = self._get_session()
        try:
            answer = session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                params=dict(request.params) or None,
                json=request.json,
                timeout=request.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransportError("connection timed out", request_sent=False) from exc
        except requests.exceptions.Timeout as exc:
            raise TransportError("timed out waiting for the answer") from exc
        except requests.exceptions.ConnectionError as exc:
            raise TransportError("connection failed", request_sent=not _never_sent(exc)) from exc
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"request failed: {type(exc).__name__}") from exc
        return TransportResponse(
            status=answer.status_code, headers=dict(answer.headers), body=answer.content
        )

    def close(self) -> None:
        """Closes the pooled session, if one was opened."""
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                # Retries are the client's job; the adapter must not retry on its own.
                adapter = HTTPAdapter(
                    pool_connections=self._pool_size, pool_maxsize=self._pool_size, max_retries=0
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session


def _never_sent(exc: Exception) -> bool:
    """Tells whether a requests connection error failed before anything was sent."""
    from urllib3.exceptions import NewConnectionError

    # requests wraps urllib3's MaxRetryError, whose ``reason`` is the real failure.
    for candidate in (exc, *exc.args):
        if isinstance(candidate, NewConnectionError):
            return True
        if isinstance(getattr(candidate, "reason", None), NewConnectionError):
            return True
    return False


class MockTransport:
    """A transport that answers from a function, for tests.

    Args:
        handler: Called with each ``TransportRequest``; returns the response or
            raises ``TransportError`` to simulate a network failure.

    Attributes:
        requests: Every request received, in order.
    """

    def __init__(self, handler: Callable[[TransportRequest], TransportResponse]) -> None:
        self._handler = handler
        self.requests: list[TransportRequest] = []
        self.closed = False

    def request(self, request: TransportRequest) -> TransportResponse:
        """Records ``request`` and returns what the handler answers."""
        self.requests.append(request)
        return self._handler(request)

    def close(self) -> None:
        """Marks the transport closed."""
        self.closed = True
