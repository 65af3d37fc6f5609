"""Small TTL caches shared by the Mithril services.

``TtlCache`` lives in memory (users, logs, per-kernel lookups). ``DiskTtlCache``
lives under ``FLOW_HOME`` so a new kernel does not refetch the instance-type
catalogue and spot availability. Both load a missing key once even when several
threads ask at the same time, so parallel callers do not hit API rate limits.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, cast

V = TypeVar("V")

_MISSING = object()


class ILoadingCache(Protocol):
    """What services need of a cache: load a key once, forget it on demand."""

    def get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        """Returns the cached value or the loader's result, loading at most once."""
        ...

    def invalidate(self, key: str) -> None:
        """Forgets ``key``."""
        ...


@dataclass
class _Flight:
    """One load in progress; waiters block on ``done`` and read the outcome."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


class _SingleFlight:
    """Runs at most one loader per key at a time; other callers share its outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def get_or_load(
        self,
        key: Hashable,
        lookup: Callable[[], Any],
        loader: Callable[[], Any],
        store: Callable[[Any], None],
    ) -> Any:
        """Returns ``lookup()`` unless it misses, else the one shared ``loader()`` result."""
        value = lookup()
        if value is not _MISSING:
            return value
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            # Another leader may have stored the value since the caller's miss.
            cached = lookup()
            flight.value = loader() if cached is _MISSING else cached
            if cached is _MISSING:
                store(flight.value)
            return flight.value
        except BaseException as exc:
            # Waiters see the same failure rather than retrying in a stampede.
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()


class TtlCache(Generic[V]):
    """An in-memory LRU cache whose entries expire ``ttl_seconds`` after being set.

    Thread-safe. When full, setting a new key evicts the least recently used one.

    Args:
        ttl_seconds: How long an entry stays valid.
        max_entries: Most entries kept at once.
        clock: Monotonic time source, injectable for tests.
    """

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries <= 0:
            raise ValueError("ttl_seconds and max_entries must be positive")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._flights = _SingleFlight()

    def __len__(self) -> int:
        with self._lock:
            self._purge_expired()
            return len(self._entries)

    def get(self, key: Hashable, default: V | None = None) -> V | None:
        """Returns the live value for ``key``, or ``default`` if absent or expired."""
        value = self._lookup(key)
        return default if value is _MISSING else value

    def set(self, key: Hashable, value: V) -> None:
        """Stores ``value`` under ``key`` for ``ttl_seconds``, evicting the oldest if full."""
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def get_or_load(self, key: Hashable, loader: Callable[[], V]) -> V:
        """Returns the cached value, or calls ``loader`` once and caches its result.

        Concurrent callers for the same missing key wait for the one load in
        progress and receive its value (or its exception). Failed loads are not
        cached.

        Args:
            key: Cache key.
            loader: Produces the value when it is missing.

        Returns:
            The cached or freshly loaded value.
        """
        loaded = self._flights.get_or_load(
            key, lambda: self._lookup(key), loader, lambda value: self.set(key, value)
        )
        return cast(V, loaded)

    def invalidate(self, key: Hashable) -> None:
        """Removes ``key`` if present."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Removes every entry."""
        with self._lock:
            self._entries.clear()

    def _lookup(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return _MISSING
            expires_at, value = entry
            if self._clock() >= expires_at:
                del self._entries[key]
                return _MISSING
            self._entries.move_to_end(key)
            return value

    def _purge_expired(self) -> None:
        now = self._clock()
        for key in [k for k, (exp, _) in self._entries.items() if now >= exp]:
            del self._entries[key]


class DiskTtlCache:
    """A TTL cache on disk (diskcache) for JSON-able values shared across kernels.

    Values are stored as JSON text, never pickled, so a cache file cannot run code.
    Same ``get_or_load`` contract as ``TtlCache`` within one process.

    Args:
        directory: Directory holding the cache files (created if missing).
        ttl_seconds: How long an entry stays valid.
        clock: Wall-clock time source (shared across processes), injectable for tests.
    """

    def __init__(
        self,
        directory: Path,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import diskcache

        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(str(directory))
        self._ttl = ttl_seconds
        self._clock = clock
        self._flights = _SingleFlight()

    def get(self, key: str, default: Any = None) -> Any:
        """Returns the live value for ``key``, or ``default`` if absent or expired."""
        value = self._lookup(key)
        return default if value is _MISSING else value

    def set(self, key: str, value: Any) -> None:
        """Stores a JSON-able ``value`` under ``key`` for ``ttl_seconds``.

        Raises:
            TypeError: The value cannot be written as JSON.
        """
        record = json.dumps({"stored_at": self._clock(), "value": value})
        # diskcache's own expiry only reclaims space; freshness is checked on read.
        self._cache.set(key, record, expire=self._ttl * 2)

    def get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        """Returns the cached value, or calls ``loader`` once and caches its result.

        Args:
            key: Cache key.
            loader: Produces a JSON-able value when it is missing.

        Returns:
            The cached or freshly loaded value.
        """
        return self._flights.get_or_load(
            key, lambda: self._lookup(key), loader, lambda value: self.set(key, value)
        )

    def invalidate(self, key: str) -> None:
        """Removes ``key`` if present."""
        self._cache.delete(key)

    def clear(self) -> None:
        """Removes every entry."""
        self._cache.clear()

    def close(self) -> None:
        """Closes the underlying database handles."""
        self._cache.close()

    def _lookup(self, key: str) -> Any:
        raw = self._cache.get(key)
        if raw is None:
            return _MISSING
        try:
            record = json.loads(raw)
            stored_at = float(record["stored_at"])
        except (TypeError, ValueError, KeyError):
            self._cache.delete(key)
            return _MISSING
        if self._clock() - stored_at >= self._ttl:
            return _MISSING
        return record["value"]
