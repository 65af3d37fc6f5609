"""End-to-end fixtures: a MithrilProvider on the sandbox, with real HTTP, sshd and rsync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.core.config import load_config
from flow_notebook.core.models import Task
from flow_notebook.providers.mithril.provider import MithrilProvider
from flow_notebook.sandbox import testing as sandbox_testing
from flow_notebook.sandbox.testing import SandboxHandle, wait_for

# The sandbox's own fixtures, made visible to the tests below this directory.
mithril_sandbox = sandbox_testing.mithril_sandbox
require_ssh = sandbox_testing.require_ssh

pytestmark = [pytest.mark.ssh]


@pytest.fixture
def sandbox_env(mithril_sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Puts the sandbox's three variables (and FLOW_PROVIDER=mithril) in the environment."""
    for name, value in {**mithril_sandbox.env, "FLOW_PROVIDER": "mithril"}.items():
        monkeypatch.setenv(name, value)
    return mithril_sandbox.env


@pytest.fixture
def make_provider(
    sandbox_env: dict, require_ssh: None, tmp_path: Path
) -> Iterator[Callable[..., MithrilProvider]]:
    """Builds providers from the environment (no ~/.ssh); cancels their tasks and closes them."""
    built: list[MithrilProvider] = []

    def make(**overrides: Any) -> MithrilProvider:
        config = load_config()
        config = config.with_overrides(extra={"ssh_dir": str(tmp_path / "no-ssh-dir")})
        provider = MithrilProvider.from_config(config, **overrides)
        built.append(provider)
        return provider

    yield make
    for provider in built:
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
        provider.close()


@pytest.fixture
def provider(make_provider: Callable[..., MithrilProvider]) -> MithrilProvider:
    """One provider on the shared sandbox."""
    return make_provider()


class Waits:
    """Polls a provider until a task reaches a state (bounded)."""

    def status(
        self, provider: MithrilProvider, task_id: str, wanted: set[str], timeout: float = 30.0
    ) -> Task:
        """Returns the task once its status is one of ``wanted``."""

        seen: list[Task] = []

        def check() -> Task | None:
            seen[:] = [provider.get_task(task_id)]
            return seen[0] if seen[0].status.value in wanted else None

        try:
            return wait_for(check, timeout=timeout, interval=0.2)
        except AssertionError as exc:
            last = seen[0] if seen else None
            upload = provider.get_upload_status(task_id)
            raise AssertionError(f"{task_id} not {wanted}: {last!r}; upload {upload}") from exc

    def ended(self, provider: MithrilProvider, task_id: str, timeout: float = 40.0) -> Task:
        """Returns the task once it is terminal."""
        return self.status(provider, task_id, {"completed", "failed", "cancelled"}, timeout)

    def provisioned(self, provider: MithrilProvider, task_id: str, timeout: float = 40.0) -> dict:
        """Returns the upload status once the after-boot work has finished."""

        def check() -> dict | None:
            status = provider.get_upload_status(task_id)
            return status if status and status["finished"] else None

        return wait_for(check, timeout=timeout, interval=0.2)


@pytest.fixture
def waits() -> Waits:
    """Bounded polling helpers."""
    return Waits()


@pytest.fixture
def ip() -> Any:
    """The IPython shell the magics run in."""
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


@pytest.fixture
def magics(ip: Any, provider: MithrilProvider) -> Iterator[Any]:
    """``%flow`` backed by the sandbox provider; the session is closed afterwards."""
    from flow_notebook.notebook.magics import FlowMagics
    from flow_notebook.notebook.session import Timing

    registered = FlowMagics(
        ip,
        provider_factory=lambda name=None: provider,
        timing=Timing(poll_interval=0.2, settle_timeout=30.0),
    )
    ip.register_magics(registered)
    yield registered
    registered.session.close()


def run_flow(ip: Any, line: str) -> str:
    """Runs ``%flow line`` and returns what it printed, stripped."""
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        ip.run_line_magic("flow", line)
    return captured.stdout.strip()
