"""Provider registry: a provider name maps to a factory that builds it from config.

Built-in providers are registered by import path, so that looking one up does not
import every provider (and its dependencies) when the extension loads.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from flow_notebook.core.config import FlowConfig, load_config
from flow_notebook.core.errors import UnknownProviderError
from flow_notebook.core.provider_interfaces import IProvider

ProviderFactory = Callable[[FlowConfig], IProvider]

_BUILTIN: dict[str, str] = {
    "local": "flow_notebook.providers.local:LocalProvider.from_config",
    "mithril": "flow_notebook.providers.mithril:MithrilProvider.from_config",
    "slurm": "flow_notebook.providers.slurm:SlurmProvider.from_config",
}


class ProviderRegistry:
    """Maps provider names to factories.

    Factories are callables taking a ``FlowConfig`` and returning an ``IProvider``,
    or ``"module:attr.path"`` strings that resolve to one on first use.
    """

    def __init__(self, factories: dict[str, ProviderFactory | str] | None = None) -> None:
        self._factories: dict[str, ProviderFactory | str] = dict(
            _BUILTIN if factories is None else factories
        )
        self._lock = threading.Lock()

    def register(self, name: str, factory: ProviderFactory | str) -> None:
        """Registers (or replaces) the factory for ``name``."""
        with self._lock:
            self._factories[name.strip().lower()] = factory

    def names(self) -> list[str]:
        """Returns the registered provider names, sorted."""
        return sorted(self._factories)

    def create(self, name: str | None = None, config: FlowConfig | None = None) -> IProvider:
        """Builds the provider ``name`` (default: the configured one).

        Args:
            name: Provider name; ``None`` uses ``config.provider``.
            config: Configuration; ``None`` loads it from the environment.

        Returns:
            A new provider instance.

        Raises:
            UnknownProviderError: No provider is registered under that name.
        """
        config = config or load_config()
        key = (name or config.provider).strip().lower()
        with self._lock:
            factory = self._factories.get(key)
        if factory is None:
            raise UnknownProviderError(
                f"unknown provider {key!r}", suggestion=f"choose one of: {', '.join(self.names())}"
            )
        if isinstance(factory, str):
            factory = _resolve(factory)
        return factory(config.with_overrides(provider=key))


def _resolve(path: str) -> ProviderFactory:
    module_name, _, attr_path = path.partition(":")
    target: object = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    return target  # type: ignore[return-value]


default_registry = ProviderRegistry()


def get_provider(name: str | None = None, config: FlowConfig | None = None) -> IProvider:
    """Builds a provider from the default registry. See ``ProviderRegistry.create``."""
    return default_registry.create(name, config)
