"""The state one kernel's ``%flow`` magics share: provider, last task, positions, followers."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Any

from flow_notebook.core.provider_interfaces import IClosable, IProvider
from flow_notebook.notebook.arguments import SecretPrompt
from flow_notebook.notebook.follow import Followers, Surface, Timing
from flow_notebook.notebook.notebook_tasks import NotebookTasks
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.redact import Redactor, redactor_for

ProviderFactory = Callable[..., IProvider]
SurfaceFactory = Callable[[dict[str, Any], "int | None"], Surface]
"""Builds where a cell's live view is drawn, given its output metadata and ``keep_kb``."""
__all__ = ["FlowSession", "ProviderFactory", "SurfaceFactory", "Timing"]


class FlowSession:
    """Builds the provider on first use and keeps what later subcommands need.

    Args:
        provider_factory: Called as ``provider_factory(name)`` (``None``: the configured
            provider) to build a provider; usually ``core.registry.get_provider``.
        positions: Where followed log positions are recorded.
        timing: Poll intervals and waits.
        tasks: The per-notebook task records.
        surface_factory: Builds where live views are drawn (default: printed lines).
        secret_prompt: Asks for a ``--secret NAME`` missing from the environment;
            ``None`` makes a missing secret an error.
        user_ns: The notebook's variables (``--push``/``--pull``, the notebook's name).
    """

    def __init__(
        self,
        provider_factory: ProviderFactory,
        positions: LogPositions | None = None,
        timing: Timing | None = None,
        *,
        tasks: NotebookTasks | None = None,
        surface_factory: SurfaceFactory | None = None,
        secret_prompt: SecretPrompt | None = None,
        user_ns: MutableMapping[str, Any] | None = None,
    ) -> None:
        self._factory = provider_factory
        self._provider: IProvider | None = None
        self._provider_name: str | None = None
        self._lock = threading.Lock()
        self.positions = positions or LogPositions()
        self.timing = timing or Timing()
        self.last_task_id: str | None = None
        self._closers: list[Callable[[], None]] = []
        # Why the session closed, for the notes its panels leave behind.
        self.close_reason = "the extension was unloaded"
        self.tasks = tasks or NotebookTasks()
        self.surface_factory = surface_factory
        self.secret_prompt = secret_prompt
        self.user_ns: MutableMapping[str, Any] = {} if user_ns is None else user_ns
        # Secret values of tasks started here, to mask them; kept in memory only.
        self.known_secrets: dict[str, list[str]] = {}
        self.followers = Followers()

    def redactor(self, task_id: str) -> Redactor:
        """Returns what masks the task's secrets: values known here, or named ones in env."""
        record = self.tasks.find(task_id)
        names = record.secret_names if record else []
        return redactor_for(names, known=self.known_secrets.get(task_id, []))

    def make_surface(self, metadata: dict[str, Any], keep_kb: int | None = None) -> Surface:
        """Returns where a new live view is drawn (default: plain text with a title)."""
        if self.surface_factory is not None:
            return self.surface_factory(metadata, keep_kb)
        from flow_notebook.notebook.surfaces import PlainSurface

        return PlainSurface(keep_kb, title=True)

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

    def close(self, reason: str | None = None) -> None:
        """Stops registered background work, then releases the provider. Safe to call twice.

        Args:
            reason: Why, e.g. ``"the kernel shut down"``; panels and followers say it.
        """
        if reason:
            self.close_reason = reason
        self.followers.stop_all(f"stopped following: {self.close_reason}")
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
