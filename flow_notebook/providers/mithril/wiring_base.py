"""What both parts of the Mithril wiring share: overrides, build-once properties, state paths.

``WiringBase`` holds the configuration, the overrides and what was built;
``provided`` turns a builder method into a typed property that returns the override
of that name when one was given, else builds once. ``MarketWiring``
(``wiring_market.py``) and ``Wiring`` (``wiring.py``) are the two parts.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import AuthenticationError
from flow_notebook.providers.mithril.adapters.convert import DEFAULT_SSH_USER

T = TypeVar("T")


def require_credentials(config: FlowConfig) -> None:
    """Fails fast, with one line, when the API key is missing.

    A missing project is not an error here: setup lists the key's projects before one
    is chosen, and every call that needs the project says it is missing.

    Raises:
        AuthenticationError: No API key.
    """
    if config.api_key is None or not config.api_key.get_secret_value():
        raise AuthenticationError(
            "no Mithril API key configured",
            suggestion="run %flow setup or set MITHRIL_API_KEY",
        )


class WiringBase:
    """Configuration, overrides and built services of one part of the wiring.

    Args:
        config: Configuration (key, project, URL, region, home; ``extra`` may hold
            ``ssh_user``, ``ssh_dir``, ``instance_type``).
        overrides: Services or collaborators to use instead of the defaults, by
            property name (shared by both parts, so each name is given once).
    """

    def __init__(self, config: FlowConfig, overrides: dict[str, Any]) -> None:
        self.config = config
        self._overrides = overrides
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.state_dir = Path(config.home) / "mithril"
        self.ssh_user = str(config.extra.get("ssh_user") or DEFAULT_SSH_USER)

    @classmethod
    def names(cls) -> set[str]:
        """Returns the names of the services this part provides."""
        return {
            name
            for klass in cls.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, provided)
        }

    def built(self, name: str) -> Any | None:
        """Returns the service ``name`` if it was built (or given), else ``None``."""
        with self._lock:
            return self._built.get(name)

    def _get(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._overrides[name] if name in self._overrides else build()
            found: T = self._built[name]
            return found

    @property
    def _home(self) -> Path:
        return Path(self.config.home)

    @property
    def _account_dir(self) -> Path:
        # Caches are per account, so two keys never see each other's projects.
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        digest = hashlib.sha256(f"{self.config.api_url}\n{key}".encode()).hexdigest()[:16]
        return self.state_dir / "cache" / digest


class provided(Generic[T]):  # noqa: N801 - used as a decorator, like ``property``
    """A builder method turned into a property that honours overrides and builds once.

    Args:
        build: Returns the service; called at most once per wiring.
    """

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> provided[T]: ...

    @overload
    def __get__(self, instance: WiringBase, owner: type) -> T: ...

    def __get__(self, instance: WiringBase | None, owner: type) -> provided[T] | T:
        if instance is None:
            return self
        return instance._get(self._name, lambda: self._build(instance))
