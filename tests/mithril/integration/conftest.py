"""Clients of the real sandbox over real HTTP (no mock transport anywhere below here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flow_notebook.providers.mithril.api import ApiClient, CircuitBreaker, RetryPolicy
from flow_notebook.sandbox.testing import SandboxHandle

# Short waits keep the retry tests fast; the policy is otherwise the default one.
FAST_RETRY = {"max_attempts": 4, "base_delay": 0.05, "max_delay": 0.2}

ClientFactory = Callable[..., ApiClient]


@pytest.fixture
def client_for() -> Iterator[ClientFactory]:
    """Builds ``ApiClient``s for a sandbox handle; closes them all at teardown.

    Keyword arguments go to the constructor; ``api_key`` overrides the sandbox's key.
    """
    made: list[ApiClient] = []

    def build(handle: SandboxHandle, **overrides: Any) -> ApiClient:
        options: dict[str, Any] = {
            "retry": RetryPolicy(**FAST_RETRY),
            "breaker": CircuitBreaker(failure_threshold=100),
        }
        options.update(overrides)
        api_key = options.pop("api_key", handle.api_key)
        client = ApiClient(api_key, base_url=handle.url, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(mithril_sandbox: SandboxHandle, client_for: ClientFactory) -> ApiClient:
    """A client of the shared session sandbox."""
    return client_for(mithril_sandbox)


@pytest.fixture
def fresh_client(fresh_sandbox: SandboxHandle, client_for: ClientFactory) -> Iterator[ApiClient]:
    """A client of a sandbox of this test's own; its faults are removed at teardown."""
    yield client_for(fresh_sandbox)
    fresh_sandbox.reset_faults()
