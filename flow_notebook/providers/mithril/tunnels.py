"""Local port forwards to a task's first instance over its pooled SSH connection.

``SSHTunnelManager.open(task_id, remote_port)`` listens on ``127.0.0.1`` and
forwards each accepted connection through an SSH ``direct-tcpip`` channel to
``remote_host:remote_port`` as seen from the instance (e.g. a Jupyter or
TensorBoard server there). Every tunnel stops with ``stop()`` or ``close_all()``.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flow_notebook.core.errors import RemoteOperationError, TaskStateError
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import ssh_errors

LOCALHOST = "127.0.0.1"
_CHUNK = 32 * 1024


class IClientPool(Protocol):
    """Hands out connected SSH clients (``SSHConnectionPool`` fits)."""

    def client(self, endpoint: SSHEndpoint) -> Any:
        """Returns a connected client for ``endpoint``."""
        ...


@dataclass
class Tunnel:
    """One forward from a local port to a port on an instance.

    Attributes:
        task_id: The task whose first instance receives the connections.
        local_port: Port listening on 127.0.0.1.
        remote_host: Host as seen from the instance.
        remote_port: Port on the instance side.
    """

    task_id: str
    local_port: int
    remote_host: str
    remote_port: int
    _server: socket.socket = field(repr=False, default=None)  # type: ignore[assignment]
    _stopped: threading.Event = field(repr=False, default_factory=threading.Event)
    _threads: list[threading.Thread] = field(repr=False, default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the tunnel still accepts connections."""
        return not self._stopped.is_set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops listening and ends every forwarded connection. Safe to call twice."""
        self._stopped.set()
        try:
            # shutdown() wakes a thread blocked in accept(); close() alone would not.
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        for thread in list(self._threads):
            thread.join(timeout)


class SSHTunnelManager:
    """Opens and tracks tunnels.

    Args:
        endpoints: Returns a task's endpoints, first instance first.
        pool: SSH connections.
    """

    def __init__(self, endpoints: Callable[[str], list[SSHEndpoint]], pool: IClientPool) -> None:
        self._endpoints = endpoints
        self._pool = pool
        self._tunnels: list[Tunnel] = []
        self._lock = threading.Lock()

    def open(
        self, task_id: str, remote_port: int, local_port: int = 0, remote_host: str = LOCALHOST
    ) -> Tunnel:
        """Starts forwarding ``127.0.0.1:local_port`` (0: any free port) to the instance.

        Raises:
            TaskStateError: The task has no running instance.
            RemoteOperationError: The local port cannot be bound or SSH fails.
        """
        found = self._endpoints(task_id)
        if not found:
            raise TaskStateError(f"task {task_id} has no running instance to tunnel to")
        endpoint = found[0]
        transport = self._transport(endpoint)
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((LOCALHOST, local_port))
            server.listen(16)
        except OSError as exc:
            server.close()
            raise RemoteOperationError(f"cannot listen on {LOCALHOST}:{local_port}") from exc
        tunnel = Tunnel(task_id, server.getsockname()[1], remote_host, remote_port, server)
        acceptor = threading.Thread(
            target=self._accept, args=(tunnel, transport, endpoint), daemon=True
        )
        tunnel._threads.append(acceptor)
        acceptor.start()
        with self._lock:
            self._tunnels.append(tunnel)
        return tunnel

    def list(self) -> list[Tunnel]:
        """Returns the tunnels still active."""
        with self._lock:
            return [t for t in self._tunnels if t.active]

    def close_all(self) -> None:
        """Stops every tunnel. Safe to call twice."""
        with self._lock:
            tunnels, self._tunnels = list(self._tunnels), []
        for tunnel in tunnels:
            tunnel.stop()

    def _transport(self, endpoint: SSHEndpoint) -> Any:
        with ssh_errors("open tunnel", endpoint):
            transport = self._pool.client(endpoint).get_transport()
        if transport is None:
            raise RemoteOperationError(f"no SSH transport to {endpoint}")
        return transport

    def _accept(self, tunnel: Tunnel, transport: Any, endpoint: SSHEndpoint) -> None:
        while not tunnel._stopped.is_set():
            try:
                client, address = tunnel._server.accept()
            except OSError:
                return  # The listening socket was closed by stop().
            try:
                with ssh_errors("open tunnel channel", endpoint):
                    channel = transport.open_channel(
                        "direct-tcpip", (tunnel.remote_host, tunnel.remote_port), address
                    )
            except RemoteOperationError:
                client.close()
                continue
            pump = threading.Thread(target=_pump, args=(client, channel, tunnel), daemon=True)
            tunnel._threads.append(pump)
            pump.start()


def _pump(client: socket.socket, channel: Any, tunnel: Tunnel) -> None:
    """Copies bytes both ways until either side closes or the tunnel stops."""
    try:
        while not tunnel._stopped.is_set():
            ready, _, _ = select.select([client, channel], [], [], 0.2)
            if client in ready:
                data = client.recv(_CHUNK)
                if not data:
                    return
                channel.sendall(data)
            if channel in ready:
                data = channel.recv(_CHUNK)
                if not data:
                    return
                client.sendall(data)
    except OSError:
        return
    finally:
        channel.close()
        client.close()
