"""Fixtures for the Slurm provider on the real two-node test cluster (session-wide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flow_notebook.core.config import load_config
from flow_notebook.core.models import Task
from flow_notebook.providers.slurm.provider import SlurmProvider
from flow_notebook.providers.slurm.testing import ClusterHandle
from flow_notebook.sandbox.testing import wait_for

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def cluster_env(slurm_cluster: ClusterHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points the Slurm provider at the test cluster's login node over SSH."""
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)
    return slurm_cluster.env


@pytest.fixture
def make_provider(cluster_env: dict[str, str]) -> Iterator[Callable[[], SlurmProvider]]:
    """Builds providers from the environment; cancels their live tasks and closes them."""
    built: list[SlurmProvider] = []

    def make() -> SlurmProvider:
        provider = SlurmProvider.from_config(load_config())
        built.append(provider)
        return provider

    yield make
    for provider in built:
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
        provider.close()


@pytest.fixture
def provider(make_provider: Callable[[], SlurmProvider]) -> SlurmProvider:
    """One provider on the shared cluster."""
    return make_provider()


def wait_status(
    provider: SlurmProvider, task_id: str, wanted: set[str], timeout: float = 60.0
) -> Task:
    """Returns the task once its status is one of ``wanted`` (bounded polling)."""
    seen: list[Task] = []

    def check() -> Task | None:
        seen[:] = [provider.get_task(task_id)]
        return seen[0] if seen[0].status.value in wanted else None

    try:
        return wait_for(check, timeout=timeout, interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{task_id} not {wanted}: {seen[-1] if seen else None!r}") from exc


def wait_ended(provider: SlurmProvider, task_id: str, timeout: float = 60.0) -> Task:
    """Returns the task once it has ended."""
    return wait_status(provider, task_id, {"completed", "failed", "cancelled"}, timeout)


def ip_shell() -> Any:
    """The IPython shell the magics run in."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()
