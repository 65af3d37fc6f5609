"""Local port forwards to a task's first instance over its pooled SSH connection.

``SSHTunnelManager`` implements ``core.provider_interfaces.ITunnelManager``:
``open_tunnel(task_id, remote_port)`` listens on ``127.0.0.1`` and forwards each
accepted connection through an SSH ``direct-tcpip`` channel to ``remote_port`` as
seen from the instance (e.g. a Jupyter or TensorBoard server there). Tunnels stop
with ``close_tunnel`` or, all of them, ``close_all`` (the provider's ``close``).
"""

from __future__ import annotations

import itertools
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from flow_notebook.core.errors import RemoteOperationError, TaskStateError
from flow_notebook.core.models import Tunnel
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
class Forward:
    """One running forward from a local port to a port on an instance.

    Attributes:
        tunnel: What callers see (id, task, ports).
        remote_host: Host as seen from the instance.
    """

    tunnel: Tunnel
    remote_host: str
    _server: socket.socket = field(repr=False, default=None)  # type: ignore[assignment]
    _stopped: threading.Event = field(repr=False, default_factory=threading.Event)
    _threads: list[threading.Thread] = field(repr=False, default_factory=list)

    @property
    def active(self) -> bool:
        """Whether the forward still accepts connections."""
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
            if thread is not threading.current_thread():
                thread.join(timeout)


class SSHTunnelManager:
    """Opens, lists and closes tunnels (an ``ITunnelManager``).

    Args:
        endpoints: Returns a task's endpoints, first instance first.
        pool: SSH connections.
    """

    def __init__(self, endpoints: Callable[[str], list[SSHEndpoint]], pool: IClientPool) -> None:
        self._endpoints = endpoints
        self._pool = pool
        self._forwards: dict[str, Forward] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def open_tunnel(self, task_id: str, remote_port: int, local_port: int | None = None) -> Tunnel:
        """Forwards ``127.0.0.1:local_port`` (``None``: a free port) to the task's instance.

        Opening the same ``(task_id, remote_port)`` again returns the open tunnel.

        Raises:
            TaskStateError: The task has no running instance.
            RemoteOperationError: The local port cannot be bound or SSH fails.
        """
        for tunnel in self.list_tunnels(task_id):
            if tunnel.remote_port == remote_port:
                return tunnel
        found = self._endpoints(task_id)
        if not found:
            raise TaskStateError(
                f"task {task_id} has no running instance to tunnel to",
                suggestion="wait until it is running",
            )
        endpoint = found[0]
        transport = self._transport(endpoint)
        server = _listen(local_port or 0)
        tunnel = Tunnel(
            tunnel_id=f"tun_{next(self._ids)}",
            task_id=task_id,
            remote_port=remote_port,
            local_port=server.getsockname()[1],
            local_host=LOCALHOST,
        )
        forward = Forward(tunnel, LOCALHOST, server)
        acceptor = threading.Thread(
            target=self._accept,
            args=(forward, transport, endpoint),
            name=f"flow-tunnel-{tunnel.tunnel_id}",
            daemon=True,
        )
        forward._threads.append(acceptor)
        acceptor.start()
        with self._lock:
            self._forwards[tunnel.tunnel_id] = forward
        return tunnel

    def close_tunnel(self, tunnel_id: str) -> bool:
        """Closes a tunnel; ``False`` when no such tunnel was open. Idempotent."""
        with self._lock:
            forward = self._forwards.pop(tunnel_id, None)
        if forward is None or not forward.active:
            return False
        forward.stop()
        return True

    def list_tunnels(self, task_id: str | None = None) -> list[Tunnel]:
        """Returns the open tunnels, optionally only those of one task."""
        with self._lock:
            forwards = list(self._forwards.values())
        return [f.tunnel for f in forwards if f.active and task_id in (None, f.tunnel.task_id)]

    def close_all(self) -> None:
        """Stops every tunnel. Safe to call twice."""
        with self._lock:
            forwards, self._forwards = list(self._forwards.values()), {}
        for forward in forwards:
            forward.stop()

    def _transport(self, endpoint: SSHEndpoint) -> Any:
        with ssh_errors("open tunnel", endpoint):
            transport = self._pool.client(endpoint).get_transport()
        if transport is None:
            raise RemoteOperationError(f"no SSH transport to {endpoint}")
        return transport

    def _accept(self, forward: Forward, transport: Any, endpoint: SSHEndpoint) -> None:
        target = (forward.remote_host, forward.tunnel.remote_port)
        while not forward._stopped.is_set():
            try:
                client, address = forward._server.accept()
            except OSError:
                return  # The listening socket was closed by stop().
            try:
                with ssh_errors("open tunnel channel", endpoint):
                    channel = transport.open_channel("direct-tcpip", target, address)
            except RemoteOperationError:
                client.close()
                continue
            pump = threading.Thread(target=_pump, args=(client, channel, forward), daemon=True)
            forward._threads.append(pump)
            pump.start()


def _listen(port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((LOCALHOST, port))
        server.listen(16)
    except OSError as exc:
        server.close()
        raise RemoteOperationError(f"cannot listen on {LOCALHOST}:{port}") from exc
    return server


def _pump(client: socket.socket, channel: Any, forward: Forward) -> None:
    """Copies bytes both ways until either side closes or the tunnel stops."""
    try:
        while not forward._stopped.is_set():
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
