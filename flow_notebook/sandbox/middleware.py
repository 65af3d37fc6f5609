"""ASGI middleware: request statistics, injected faults and Bearer authentication.

Order per request: count it (every path), apply faults (``/v2/`` only), check the
Bearer key (``/v2/`` only; 401 ``{"detail": "Invalid credentials"}`` on failure),
then route. ``/_sandbox/`` answers only loopback clients.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

from flow_notebook.sandbox.faults import Decision
from flow_notebook.sandbox.sandbox import Sandbox
from flow_notebook.sandbox.server import drop_connection

Scope = dict[str, Any]


class Stats:
    """Counts of requests per ``(method, route, status)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()

    def count(self, method: str, route: str, status: int | None) -> None:
        """Counts one request; ``status`` ``None`` means the connection was dropped."""
        with self._lock:
            if status is None:
                self._dropped[(method, route)] += 1
            else:
                self._counts[(method, route, status)] += 1

    def reset(self) -> None:
        """Forgets every count."""
        with self._lock:
            self._counts.clear()
            self._dropped.clear()

    def snapshot(self) -> dict[str, Any]:
        """Returns the counts as JSON-ready data."""
        with self._lock:
            rows = [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self._counts.items())
            ]
            dropped = [
                {"method": m, "route": r, "count": n} for (m, r), n in sorted(self._dropped.items())
            ]
            return {
                "total": sum(self._counts.values()) + sum(self._dropped.values()),
                "count_422": sum(n for (_, _, s), n in self._counts.items() if s == 422),
                "requests": rows,
                "dropped": dropped,
            }


class SandboxMiddleware:
    """Wraps the FastAPI app (see the module docstring).

    Args:
        app: The routed application.
        sandbox: Source of users and of the fault injector.
        stats: Where to count requests.
    """

    def __init__(self, app: Any, sandbox: Sandbox, stats: Stats) -> None:
        self._app = app
        self._sandbox = sandbox
        self._stats = stats

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Handles one ASGI call."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status: dict[str, int | None] = {"code": None}

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or scope["path"]
            self._stats.count(scope["method"], name, status["code"])

    async def _handle(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope["path"]
        if path.startswith("/_sandbox/"):
            client = (scope.get("client") or ("", 0))[0]
            if client not in ("127.0.0.1", "::1"):
                await send_json(send, 403, {"detail": "Sandbox controls answer loopback only"})
                return
        elif path.startswith("/v2/"):
            decision = self._sandbox.faults.decide(scope["method"], scope["path"])
            if await self._fault(decision, send):
                return
            if decision.process_delay_s:
                receive = await _read_then_wait(receive, decision.process_delay_s)
            user = self._authenticate(scope)
            if user is None:
                await send_json(
                    send, 401, {"detail": "Invalid credentials"}, [(b"www-authenticate", b"Bearer")]
                )
                return
            scope.setdefault("state", {})["user"] = user
        await self._app(scope, receive, send)

    async def _fault(self, decision: Decision, send: Any) -> bool:
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.action == "drop":
            if await drop_connection():
                return True
        if decision.action == "rate_limit":
            headers = [(b"retry-after", str(decision.retry_after).encode())]
            await send_json(send, 429, {"detail": "Too many requests"}, headers)
            return True
        if decision.action == "error":
            await send_json(send, decision.status, {"detail": "Injected fault"})
            return True
        return False

    def _authenticate(self, scope: Scope) -> Any:
        headers = dict(scope.get("headers") or [])
        value = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._sandbox.user(token.strip())


async def _read_then_wait(receive: Any, seconds: float) -> Any:
    """Reads the whole request now, waits, and returns a ``receive`` that replays it.

    The client may have given up meanwhile; the request is handled all the same, as a
    server that is slow to act on a request it already read would.
    """
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await asyncio.sleep(seconds)

    async def replay() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return replay


async def send_json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Sends a whole JSON answer through an ASGI ``send``."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
