"""What every part of the Mithril wiring shares: the override store and build-once properties.

``WiringBase`` holds the configuration, the overrides and what was built;
``provided`` turns a builder method into a property that returns the override of
that name when one was given, else builds once. ``Wiring`` (``wiring.py``) combines
the parts: the API and market (``wiring_market.py``), SSH and remote work
(``wiring_remote.py``) and the task services.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import AuthenticationError
from flow_notebook.providers.mithril.adapters.convert import DEFAULT_SSH_USER


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
    """Configuration, overrides and built services shared by the parts of ``Wiring``.

    Args:
        config: Configuration (key, project, URL, region, home; ``extra`` may hold
            ``ssh_user``, ``ssh_dir``, ``instance_type``).
        **overrides: Services or collaborators to use instead of the defaults,
            by the names of ``Wiring``'s properties.
    """

    def __init__(self, config: FlowConfig, **overrides: Any) -> None:
        self.config = config
        self._overrides = overrides
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.state_dir = Path(config.home) / "mithril"
        self.ssh_user = str(config.extra.get("ssh_user") or DEFAULT_SSH_USER)

    @property
    def _home(self) -> Path:
        return Path(self.config.home)

    @property
    def _account_dir(self) -> Path:
        # Caches are per account, so two keys never see each other's projects.
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        digest = hashlib.sha256(f"{self.config.api_url}\n{key}".encode()).hexdigest()[:16]
        return self.state_dir / "cache" / digest


def provided(method: Callable[[Any], Any]) -> Any:
    """Turns a builder method into a property that honours overrides and builds once."""
    name = method.__name__

    @functools.wraps(method)
    def get(self: WiringBase) -> Any:
        with self._lock:
            if name not in self._built:
                built = self._overrides[name] if name in self._overrides else method(self)
                self._built[name] = built
            return self._built[name]

    return property(get)


class Deferred:
    """Stands for a service of a ``Wiring`` and builds it on first use.

    Lets a provider exist before a project is chosen: only calls that need the
    project (and so its services) fail, with ``ConfigurationError``.

    Args:
        wiring: Builds the service.
        name: The service's property name on ``Wiring``.
    """

    def __init__(self, wiring: WiringBase, name: str) -> None:
        self._wiring = wiring
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(getattr(self._wiring, self._name), attribute)

    def __repr__(self) -> str:
        return f"Deferred({self._name})"
