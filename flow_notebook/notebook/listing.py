"""Tasks of several providers in one listing: ``%flow list``, ``%flow tasks`` and the dashboard.

Each provider is asked for its newest tasks; the answers are merged newest first.
A provider that cannot be built or does not answer (no API key, an unreachable
API) becomes one line in ``Listing.problems`` and hides none of the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timezone

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.core.provider_interfaces import IProvider

ProviderEntry = tuple[str, "IProvider | FlowError"]
"""A provider's name and the provider, or the error that kept it from being built."""
ProviderSources = Callable[[], Sequence[ProviderEntry]]
"""Returns the providers a listing asks, e.g. ``FlowSession.each_provider``."""


@dataclass(frozen=True)
class ListedTask:
    """A task and the name of the provider it was listed from.

    Attributes:
        provider: The provider's name in this session (``--provider NAME``).
        task: The task.
    """

    provider: str
    task: Task


@dataclass(frozen=True)
class Listing:
    """The merged tasks of several providers and the providers that failed.

    Attributes:
        tasks: Newest first, at most the limit asked for.
        errors: Why each provider that could not list its tasks failed, by name.
        providers: The providers that answered, by name.
    """

    tasks: list[ListedTask] = field(default_factory=list)
    errors: dict[str, FlowError] = field(default_factory=dict)
    providers: dict[str, IProvider] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """One line per provider that could not list its tasks."""
        return [problem_line(name, error) for name, error in self.errors.items()]

    def raise_if_none_answered(self) -> None:
        """Raises when no provider answered: a listing of nothing but failures is an error.

        Raises:
            FlowError: The one provider's own error, or every provider's line.
        """
        if self.providers or not self.errors:
            return
        if len(self.errors) == 1:
            raise next(iter(self.errors.values()))
        raise FlowError("; ".join(self.problems))


def single(provider: IProvider, name: str) -> ProviderSources:
    """Returns the sources of a listing of one provider, shown as ``name``."""
    entries: list[ProviderEntry] = [(name, provider)]
    return lambda: entries


def list_everywhere(
    entries: Sequence[ProviderEntry],
    *,
    status: TaskStatus | None = None,
    limit: int = 20,
    force_refresh: bool = False,
) -> Listing:
    """Lists the newest ``limit`` tasks over every provider of ``entries``.

    Args:
        entries: The providers (or why one could not be built), by name.
        status: Only tasks in this state.
        limit: Most tasks returned in all (each provider is asked for as many).
        force_refresh: Ask past the providers' caches (the dashboard's refresh).

    Returns:
        The merged tasks and one problem line per provider that failed.
    """
    listing = Listing()
    for name, provider in entries:
        if isinstance(provider, FlowError):
            listing.errors[name] = provider
            continue
        try:
            found = provider.list_tasks(status=status, limit=limit, force_refresh=force_refresh)
        except FlowError as exc:
            listing.errors[name] = exc
            continue
        listing.providers[name] = provider
        listing.tasks.extend(ListedTask(name, task) for task in found)
    listing.tasks.sort(key=lambda listed: _newest_first(listed.task))
    del listing.tasks[limit:]
    return listing


def problem_line(name: str, error: FlowError) -> str:
    """Returns the one line that says a provider's tasks are missing, and why."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"{name}: cannot list tasks: {first}"


def _newest_first(task: Task) -> float:
    created = task.created_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return -created.timestamp()
