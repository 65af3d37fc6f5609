"""The state one kernel's ``%flow`` magics share: the provider, the last task, log positions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from flow_notebook.core.provider_interfaces import IClosable, IProvider
from flow_notebook.notebook.positions import LogPositions

ProviderFactory = Callable[..., IProvider]


@dataclass(frozen=True)
class Timing:
    """How often to poll and how long to wait for a status to settle.

    Attributes:
        poll_interval: Seconds between status checks while waiting.
        settle_timeout: Seconds to wait for a terminal status after a log stream ended
            or a cancel was requested.
    """

    poll_interval: float = 0.5
    settle_timeout: float = 10.0


class FlowSession:
    """Builds the provider on first use and keeps what later subcommands need.

    Args:
        provider_factory: Called as ``provider_factory(name)`` (``None``: the configured
            provider) to build a provider; usually ``core.registry.get_provider``.
        positions: Where followed log positions are recorded.
        timing: Poll intervals and waits.
    """

    def __init__(
        self,
        provider_factory: ProviderFactory,
        positions: LogPositions | None = None,
        timing: Timing | None = None,
    ) -> None:
        self._factory = provider_factory
        self._provider: IProvider | None = None
        self._provider_name: str | None = None
        self._lock = threading.Lock()
        self.positions = positions or LogPositions()
        self.timing = timing or Timing()
        self.last_task_id: str | None = None
        self._closers: list[Callable[[], None]] = []

    def on_close(self, closer: Callable[[], None]) -> None:
        """Registers ``closer`` to run when the session closes (extension unload).

        Background work (dashboard refresh, log viewers, cost watchers, tunnels) stops
        here, so nothing keeps running against a provider that was released.
        """
        with self._lock:
            self._closers.append(closer)

    @property
    def provider(self) -> IProvider:
        """The provider, built on first use and then reused.

        Raises:
            FlowError: The provider cannot be built (unknown name, bad configuration).
        """
        with self._lock:
            if self._provider is None:
                self._provider = self._factory(self._provider_name)
            return self._provider

    def use(self, name: str) -> IProvider:
        """Switches to provider ``name``; the current one stays if building fails.

        Returns:
            The new provider.

        Raises:
            FlowError: ``name`` is unknown or the provider cannot be built.
        """
        provider = self._factory(name)
        with self._lock:
            old, self._provider, self._provider_name = self._provider, provider, name
        if old is not None and old is not provider:
            _close(old)
        return provider

    def close(self) -> None:
        """Stops registered background work, then releases the provider. Safe to call twice."""
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in reversed(closers):
            closer()
        with self._lock:
            old, self._provider = self._provider, None
        if old is not None:
            _close(old)


def _close(provider: IProvider) -> None:
    if isinstance(provider, IClosable):
        provider.close()
