"""API keys behind ``/v2/api-keys``: extra Bearer keys of a user that expire and can be revoked.

A key made here authenticates exactly as its user's own key (same projects, same
rights) until ``expires_at`` passes or it is revoked; either takes effect on the
next request. Revoked and expired keys stay listed (the API keeps them for audit),
with ``deactivated_at`` set on revocation.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flow_notebook.sandbox.errors import ApiError, InvalidField, NotFound
from flow_notebook.sandbox.state import new_fid, utcnow

SECRET_PREFIX = "fkey_"
SNIPPET_LENGTH = 9


@dataclass
class ApiKey:
    """One key; ``secret`` is the Bearer token and never appears in a repr."""

    fid: str
    name: str
    user: str
    created_at: datetime
    expires_at: datetime
    secret: str = field(repr=False)
    deactivated_at: datetime | None = None

    @property
    def snippet(self) -> str:
        """The first characters of the secret, enough to tell keys apart."""
        return self.secret[:SNIPPET_LENGTH] + "..."

    def active(self, now: datetime) -> bool:
        """Whether the key authenticates at ``now``."""
        return self.deactivated_at is None and now < self.expires_at


class ApiKeyService:
    """Creates, lists, revokes and checks API keys (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}

    def create(self, user: str, name: str, expires_at: datetime) -> ApiKey:
        """Makes a key for ``user`` valid until ``expires_at``.

        Raises:
            InvalidField: An empty name.
            ApiError: An expiry that is not in the future (400).
        """
        if not name.strip():
            raise InvalidField(("body", "name"), "Name must not be empty")
        expires = _aware(expires_at)
        now = utcnow()
        if expires <= now:
            raise ApiError("expires_at must be in the future")
        key = ApiKey(
            new_fid("apikey"),
            name,
            user,
            now,
            expires,
            f"{SECRET_PREFIX}{secrets.token_hex(20)}",
        )
        with self._lock:
            self._keys[key.fid] = key
        return key

    def list(self, user: str) -> list[ApiKey]:
        """Returns ``user``'s keys in creation order, revoked and expired ones included."""
        with self._lock:
            return [key for key in self._keys.values() if key.user == user]

    def revoke(self, user: str, fid: str) -> None:
        """Deactivates ``user``'s key ``fid`` now; revoking it again changes nothing.

        Raises:
            NotFound: No such key of ``user``.
        """
        with self._lock:
            key = self._keys.get(fid)
            if key is None or key.user != user:
                raise NotFound(f"API key {fid} not found")
            if key.deactivated_at is None:
                key.deactivated_at = utcnow()

    def user_of(self, secret: str) -> str | None:
        """Returns the user fid of the active key ``secret``, or ``None``."""
        now = utcnow()
        with self._lock:
            keys = list(self._keys.values())
        for key in keys:
            if secrets.compare_digest(key.secret, secret):
                return key.user if key.active(now) else None
        return None


def _aware(moment: datetime) -> datetime:
    # The spec's examples carry an offset; a naive time is taken as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
