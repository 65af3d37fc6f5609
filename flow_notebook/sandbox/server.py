"""Uvicorn wiring: an HTTP protocol that lets the app drop a connection on purpose.

``drop_connection()`` closes the socket of the request being handled without any
answer, which is how the fault injector emulates a connection cut mid-request.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_transport: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "sandbox_transport", default=None
)


class DroppableH11Protocol(H11Protocol):
    """H11 protocol that exposes the connection's transport to the request's task."""

    def data_received(self, data: bytes) -> None:
        """Records the transport, then handles the bytes as usual."""
        # The request task is created inside this call and copies the context.
        _transport.set(self.transport)
        super().data_received(data)


async def drop_connection() -> bool:
    """Closes the current request's connection without an answer.

    Returns:
        ``True`` if a connection was closed.
    """
    transport = _transport.get()
    if transport is None:
        return False
    transport.abort()
    # Let connection_lost run so the server sees the client as gone.
    for _ in range(3):
        await asyncio.sleep(0)
    return True


def make_server(app: Any, port: int) -> Any:
    """Returns a ``uvicorn.Server`` for ``app`` on ``127.0.0.1:port``."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=DroppableH11Protocol,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)
