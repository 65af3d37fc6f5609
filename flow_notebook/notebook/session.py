"""The state one kernel's ``%flow`` magics share: providers, last task, positions, followers.

One session holds one provider instance per name, built on first use through the
factory (the provider registry), so one notebook can use several providers at once.
Each task id is routed to the provider that owns it: the one it was submitted to or
listed from in this kernel, else the one its notebook task record names, else the
default provider.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from typing import Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.provider_interfaces import IClosable, IProvider
from flow_notebook.notebook.arguments import SecretPrompt
from flow_notebook.notebook.follow import Followers, Surface, Timing
from flow_notebook.notebook.notebook_tasks import NotebookTasks, notebook_key
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.redact import Redactor, redactor_for

ProviderFactory = Callable[..., IProvider]
SurfaceFactory = Callable[[dict[str, Any], "int | None"], Surface]
"""Builds where a cell's live view is drawn, given its output metadata and ``keep_kb``."""
ProviderNames = Callable[[], "tuple[str, list[str]]"]
"""Returns the configured default provider's name and the other providers to list."""
__all__ = ["FlowSession", "ProviderFactory", "ProviderNames", "SurfaceFactory", "Timing"]


class FlowSession:
    """Builds providers on first use and keeps what later subcommands need.

    Args:
        provider_factory: Called as ``provider_factory(name)`` (``None``: the configured
            provider) to build a provider; usually ``core.registry.get_provider``.
        provider_names: Returns the configured default provider's name and the other
            providers ``%flow list`` and the dashboard show (default: the configuration).
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
        provider_names: ProviderNames | None = None,
    ) -> None:
        self._factory = provider_factory
        self._configured_names = provider_names or configured_provider_names
        self._providers: dict[str, IProvider] = {}
        # The provider `%flow use` chose; None: the configured one.
        self._chosen: str | None = None
        # The configured default, read once, like the provider it names.
        self._configured_default: str | None = None
        # Which provider owns each task seen in this kernel (submitted or listed).
        self._owners: dict[str, str] = {}
        self._lock = threading.Lock()
        self.positions = positions or LogPositions()
        self.timing = timing or Timing()
        self.last_task_id: str | None = None
        self.hinted: set[str] = set()  # one-time notes already shown (e.g. a reservation's)
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
        # Defaults a subcommand's option overrides (set from FlowMagics' traits).
        self.keep_kb: int | None = None
        self.dashboard_interval = 2.0

    def redactor(self, task_id: str) -> Redactor:
        """Returns what masks the task's secrets: values known here, or named ones in env."""
        record = self.tasks.find(task_id)
        names = record.secret_names if record else []
        return redactor_for(names, known=self.known_secrets.get(task_id, []))

    def make_surface(self, metadata: dict[str, Any], keep_kb: int | None = None) -> Surface:
        """Returns where a new live view is drawn (default: plain text with a title)."""
        keep_kb = keep_kb or self.keep_kb
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
        """The default provider (``%flow use``, else the configured one), built on first use.

        Raises:
            FlowError: The provider cannot be built (unknown name, bad configuration).
        """
        return self.provider_named(None)

    @property
    def default_name(self) -> str:
        """The default provider's name: the one ``%flow use`` chose, else the configured one."""
        if self._chosen is not None:
            return self._chosen
        if self._configured_default is None:
            self._configured_default = _normal(self._configured_names()[0])
        return self._configured_default

    def provider_named(self, name: str | None) -> IProvider:
        """Returns provider ``name`` (``None``: the default), built on first use, then reused.

        Raises:
            FlowError: No provider has that name (one line listing the registered
                ones), or it cannot be built (e.g. missing credentials).
        """
        key = _normal(name) if name else self.default_name
        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                # The configured default is built by the factory's own default (no name).
                configured = self._chosen is None and key == self.default_name
                provider = self._factory(None if configured else key)
                self._providers[key] = provider
            return provider

    def provider_of(self, task_id: str, name: str | None = None) -> IProvider:
        """Returns the provider that owns ``task_id``; ``name`` (``--provider``) overrides.

        An explicit ``name`` is remembered as the task's owner for later subcommands.

        Raises:
            FlowError: The owner cannot be built, or ``name`` is unknown.
        """
        if name:
            provider = self.provider_named(name)
            self.claim(task_id, name)
            return provider
        return self.provider_named(self.owner_name(task_id))

    def owner_name(self, task_id: str) -> str | None:
        """Returns the name of the provider that owns ``task_id``; ``None``: not known.

        Tasks submitted or listed in this kernel are known, and so are tasks with a
        notebook task record (kept across kernel restarts).
        """
        with self._lock:
            owner = self._owners.get(task_id)
        if owner is not None:
            return owner
        record = self.tasks.find(task_id)
        return _normal(record.provider) if record and record.provider else None

    def claim(self, task_id: str, name: str | None) -> str:
        """Records that provider ``name`` (``None``: the default) owns ``task_id``.

        Returns:
            The owner's name.
        """
        owner = _normal(name) if name else self.default_name
        with self._lock:
            self._owners[task_id] = owner
        return owner

    def provider_names(self, name: str | None = None) -> list[str]:
        """Returns the providers a listing shows: ``name`` alone, or every configured one.

        Every configured one: the default, those named in the configuration's
        ``providers``, those this kernel used and those this notebook's task records
        name (so a restarted kernel still lists them), each once.
        """
        if name:
            return [_normal(name)]
        others = self._configured_names()[1]
        with self._lock:
            used = list(self._providers)
        recorded = [r.provider for r in self.tasks.for_notebook(notebook_key(self.user_ns))]
        names = [self.default_name, *others, *used, *recorded]
        return list(dict.fromkeys(_normal(each) for each in names if each))

    def each_provider(self, name: str | None = None) -> list[tuple[str, IProvider | FlowError]]:
        """Returns every provider of ``provider_names(name)``, or why it cannot be built.

        A configured provider that cannot be built (an unknown name, no API key) does
        not hide the others: its entry holds the error instead.

        Raises:
            FlowError: ``name`` was asked for and cannot be built.
        """
        if name:
            return [(_normal(name), self.provider_named(name))]
        found: list[tuple[str, IProvider | FlowError]] = []
        for each in self.provider_names(name):
            try:
                found.append((each, self.provider_named(each)))
            except FlowError as exc:
                found.append((each, exc))
        return found

    def use(self, name: str) -> IProvider:
        """Makes provider ``name`` the default; the current one stays if building fails.

        Providers used before stay open: their tasks still route to them.

        Returns:
            The new default provider.

        Raises:
            FlowError: ``name`` is unknown or the provider cannot be built.
        """
        provider = self.provider_named(name)
        with self._lock:
            self._chosen = _normal(name)
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
            providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            _close(provider)


def configured_provider_names() -> tuple[str, list[str]]:
    """Returns the configured default provider and the ``providers`` listed with it.

    Raises:
        ConfigurationError: The config file cannot be read.
    """
    from flow_notebook.core.config import load_config

    config = load_config()
    return config.provider, list(config.providers)


def _normal(name: str) -> str:
    return name.strip().lower()


def _close(provider: IProvider) -> None:
    if isinstance(provider, IClosable):
        provider.close()
