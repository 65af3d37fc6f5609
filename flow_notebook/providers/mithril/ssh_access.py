"""Lazy SSH access for the wiring: keys resolved once, a pool built once the key is known.

Resolving keys may call the API (and even register a generated key), so nothing
here happens until the first SSH connection or the first submit needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flow_notebook.providers.mithril.domain.ssh_keys import ResolvedSSHKeys, SSHKeyResolver
from flow_notebook.providers.mithril.remote import HostKeyStore, SSHConnectionPool


class SSHAccess:
    """Resolves SSH keys once and remembers the private key to log in with.

    Args:
        resolver: The key resolver.
    """

    def __init__(self, resolver: SSHKeyResolver) -> None:
        self._resolver = resolver
        self._resolved: ResolvedSSHKeys | None = None
        self._lock = threading.Lock()

    def resolve(self, requested: Sequence[str] = ()) -> ResolvedSSHKeys:
        """Returns the keys for a bid (and remembers the private key)."""
        resolved = self._resolver.resolve(requested)
        with self._lock:
            self._resolved = resolved
        return resolved

    def private_key_path(self) -> Path | None:
        """Returns the private key to log in with, resolving the keys on first use."""
        with self._lock:
            resolved = self._resolved
        return (resolved or self.resolve()).private_key_path


class LazyKeyPool:
    """An ``SSHConnectionPool`` built on first use, once the login key is known.

    Args:
        key_path: Returns the private key (resolving it may call the API).
        host_keys: Trusted host keys.
    """

    def __init__(self, key_path: Callable[[], Path | None], host_keys: HostKeyStore) -> None:
        self._key_path = key_path
        self._host_keys = host_keys
        self._pool: SSHConnectionPool | None = None
        self._lock = threading.Lock()

    def get(self) -> SSHConnectionPool:
        """Returns the pool, building it on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = SSHConnectionPool(self._key_path(), self._host_keys)
            return self._pool

    def client(self, endpoint: Any) -> Any:
        """See ``SSHConnectionPool.client``."""
        return self.get().client(endpoint)

    def discard(self, endpoint: Any) -> None:
        """See ``SSHConnectionPool.discard``."""
        self.get().discard(endpoint)

    def mark_unanswered(self, endpoint: Any) -> None:
        """See ``SSHConnectionPool.mark_unanswered``."""
        self.get().mark_unanswered(endpoint)

    def discard_if_dead(self, endpoint: Any) -> None:
        """See ``SSHConnectionPool.discard_if_dead``."""
        self.get().discard_if_dead(endpoint)

    def ssh_args(self, endpoint: Any, *, batch: bool = True) -> list[str]:
        """See ``SSHConnectionPool.ssh_args``."""
        return self.get().ssh_args(endpoint, batch=batch)

    def close(self) -> None:
        """Closes the pool if it was built. Safe to call twice."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
