"""One reusable SSH connection per instance endpoint, with per-instance host-key trust."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import ssh_errors
from flow_notebook.providers.mithril.remote.host_keys import HostKeyStore

if TYPE_CHECKING:
    import paramiko


class SSHConnectionPool:
    """Keeps one connected paramiko ``SSHClient`` per endpoint and reconnects when it died.

    Host keys are checked against a ``HostKeyStore`` on every connection: unknown
    instances are recorded, changed keys are refused.

    Args:
        key_path: Private key to log in with; ``None`` uses the ssh-agent and the
            default keys in ``~/.ssh``.
        host_key_store: Where trusted host keys are recorded.
        connect_timeout: Seconds allowed for TCP connect, handshake and login.
        keepalive_seconds: Interval of SSH keepalives, so a dead link is noticed.
        unanswered_for: Seconds during which an endpoint that stopped answering (a
            connect that used its whole timeout, or an open connection that failed a
            probe) is not connected to again: calls fail at once instead of each
            waiting ``connect_timeout``, so a frozen instance ends a follow, its status
            reads and its exit-code reads within a bounded time.
    """

    def __init__(
        self,
        key_path: Path | None,
        host_key_store: HostKeyStore,
        connect_timeout: float = 10.0,
        keepalive_seconds: int = 15,
        unanswered_for: float = 30.0,
    ) -> None:
        self.key_path = Path(key_path) if key_path else None
        self.host_keys = host_key_store
        self.connect_timeout = connect_timeout
        self._keepalive = keepalive_seconds
        self._unanswered_for = unanswered_for
        self._unanswered: dict[SSHEndpoint, float] = {}
        self._clients: dict[SSHEndpoint, paramiko.SSHClient] = {}
        self._locks: dict[SSHEndpoint, threading.Lock] = {}
        self._guard = threading.Lock()

    def client(self, endpoint: SSHEndpoint) -> paramiko.SSHClient:
        """Returns a connected client for ``endpoint``, connecting if needed.

        Args:
            endpoint: The server to reach.

        Returns:
            A client whose transport is active.

        Raises:
            HostKeyMismatchError: The instance presented a different host key.
            RemoteOperationError: Connecting or logging in failed.
        """
        with self._lock_for(endpoint):
            current = self._clients.get(endpoint)
            if current is not None and _is_alive(current):
                return current
            if current is not None:
                current.close()
            self._refuse_if_unanswered(endpoint)
            started = time.monotonic()
            try:
                fresh = self._connect(endpoint)
            except RemoteOperationError:
                if time.monotonic() - started >= 0.9 * self.connect_timeout:
                    self._unanswered[endpoint] = time.monotonic()
                raise
            self._unanswered.pop(endpoint, None)
            self._clients[endpoint] = fresh
            return fresh

    def mark_unanswered(self, endpoint: SSHEndpoint) -> None:
        """Records that ``endpoint`` stopped answering; closes its connection."""
        with self._lock_for(endpoint):
            self._unanswered[endpoint] = time.monotonic()
            current = self._clients.pop(endpoint, None)
        if current is not None:
            current.close()

    def _refuse_if_unanswered(self, endpoint: SSHEndpoint) -> None:
        since = self._unanswered.get(endpoint)
        if since is None:
            return
        ago = time.monotonic() - since
        if ago < self._unanswered_for:
            raise RemoteOperationError(
                f"{endpoint} stopped answering over SSH {ago:.0f}s ago;"
                f" not tried again for {self._unanswered_for:g}s"
            )
        del self._unanswered[endpoint]

    def discard(self, endpoint: SSHEndpoint) -> None:
        """Closes and forgets the connection to ``endpoint``; the next use reconnects."""
        with self._lock_for(endpoint):
            current = self._clients.pop(endpoint, None)
        if current is not None:
            current.close()

    def discard_if_dead(self, endpoint: SSHEndpoint) -> None:
        """Forgets the connection to ``endpoint`` if its transport is no longer active."""
        with self._lock_for(endpoint):
            current = self._clients.get(endpoint)
            if current is None or _is_alive(current):
                return
            del self._clients[endpoint]
        current.close()

    def ssh_args(self, endpoint: SSHEndpoint, *, batch: bool = True) -> list[str]:
        """Returns ``ssh`` command-line arguments (without the destination) for ``endpoint``.

        Connects once first when the instance's host key is not trusted yet, so the
        known_hosts file the arguments name holds it.

        Args:
            endpoint: The server to reach.
            batch: Never prompt (for tools such as rsync); ``False`` for a command a
                person runs, so a key's passphrase can be asked.

        Returns:
            ``["ssh", "-p", ..., "-o", ...]``; append ``user@host`` and a command.
        """
        if self.host_keys.lookup(endpoint.instance_id, endpoint.host_port) is None:
            self.client(endpoint)
        known_hosts = self.host_keys.known_hosts_path(endpoint.instance_id)
        args = ["ssh", "-p", str(endpoint.port)]
        if self.key_path:
            args += ["-i", str(self.key_path), "-o", "IdentitiesOnly=yes"]
        for option in (
            f"UserKnownHostsFile={known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            *(["BatchMode=yes"] if batch else []),
            f"ConnectTimeout={max(1, int(self.connect_timeout))}",
            f"ServerAliveInterval={self._keepalive}",
            "LogLevel=ERROR",
        ):
            args += ["-o", option]
        return args

    def close(self) -> None:
        """Closes every connection. Safe to call twice."""
        with self._guard:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    def _lock_for(self, endpoint: SSHEndpoint) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(endpoint, threading.Lock())

    def _connect(self, endpoint: SSHEndpoint) -> paramiko.SSHClient:
        import paramiko

        from flow_notebook.providers.mithril.remote.trust_policy import TrustOnFirstUse

        _quiet_paramiko()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(TrustOnFirstUse(self.host_keys, endpoint))
        try:
            with ssh_errors("SSH connect", endpoint):
                client.connect(
                    endpoint.host,
                    port=endpoint.port,
                    username=endpoint.user,
                    key_filename=str(self.key_path) if self.key_path else None,
                    look_for_keys=self.key_path is None,
                    allow_agent=self.key_path is None,
                    timeout=self.connect_timeout,
                    banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout,
                )
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(self._keepalive)
        return client


def _is_alive(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return transport is not None and transport.is_active()


def _quiet_paramiko() -> None:
    """Keeps paramiko's own log lines out of notebook cells unless logging is set up.

    Without any handler, Python prints warnings of paramiko's transport threads (such
    as "Socket exception: Connection reset by peer" when an ended task's instance
    goes away) to stderr; the pool reconnects on its own, so they are noise there.
    """
    logger = logging.getLogger("paramiko")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
