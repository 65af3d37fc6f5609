"""Shared setup of the reliability suite: sandboxes, providers with fast retries, figures.

Every test builds its own ``MithrilProvider`` against a sandbox subprocess (real HTTP,
and real sshd instances where the test needs them) and closes it at teardown.
Measured figures are appended to the JSON file named by ``FLOW_RELIABILITY_REPORT``
(when set), from which ``docs/reliability.md`` is written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flow_notebook.core.config import FlowConfig, load_config
from flow_notebook.core.models import Task
from flow_notebook.providers.mithril.api import ApiClient, CircuitBreaker, RetryPolicy
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.provider import MithrilProvider
from flow_notebook.sandbox.testing import SandboxHandle, start_sandbox, stop_sandbox, wait_for

SEED = 20240611


def sandbox_config(handle: SandboxHandle, home: Path) -> FlowConfig:
    """Returns a Mithril configuration for ``handle`` with all state under ``home``."""
    env = {**handle.env, "FLOW_HOME": str(home), "FLOW_PROVIDER": "mithril"}
    config = load_config(env)
    return config.with_overrides(extra={"ssh_dir": str(home / "no-ssh-dir")})


class ProviderFactory:
    """Builds providers on a sandbox with quick, seeded retries; closes them at the end.

    Args:
        home: FLOW_HOME of the providers.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.built: list[MithrilProvider] = []
        self.sleeps: list[float] = []

    def scaled_sleep(self, seconds: float) -> None:
        """Records a requested wait and sleeps a hundredth of it (a reduced latency profile)."""
        self.sleeps.append(seconds)
        time.sleep(min(seconds / 100, 0.05))

    def client(
        self,
        handle: SandboxHandle,
        *,
        seed: int = SEED,
        breaker: CircuitBreaker | None = None,
        timeout: tuple[float, float] = (5.0, 10.0),
    ) -> ApiClient:
        """Returns an ApiClient with seeded jitter, short backoff and scaled waits."""
        retry = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, rng=random.Random(seed))
        return ApiClient(
            handle.api_key,
            base_url=handle.url,
            retry=retry,
            breaker=breaker or CircuitBreaker(failure_threshold=5, reset_timeout=0.5),
            timeout=timeout,
            sleep=self.scaled_sleep,
        )

    def provider(
        self, handle: SandboxHandle, api: ApiClient | None = None, *, reconcile_timeout: float = 1.0
    ) -> MithrilProvider:
        """Returns a provider whose bid reconciliation looks a lost bid up every 0.2 s."""
        api = api or self.client(handle)
        bids = BidService(
            api, handle.project, reconcile_delay=0.2, reconcile_timeout=reconcile_timeout
        )
        provider = MithrilProvider.from_config(
            sandbox_config(handle, self.home), api=api, bids=bids
        )
        self.built.append(provider)
        return provider

    def close(self) -> None:
        """Closes every provider built here."""
        for provider in self.built:
            provider.close()


@pytest.fixture
def providers(isolated_flow_home: Path) -> Iterator[ProviderFactory]:
    """Provider factory whose providers are closed at teardown."""
    factory = ProviderFactory(isolated_flow_home)
    yield factory
    factory.close()


@pytest.fixture
def http_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A sandbox of its own without real instances (``--no-instances``), seeded."""
    handle = start_sandbox(
        tmp_path_factory.mktemp("http_sandbox"), "--no-instances", "--seed", str(SEED)
    )
    yield handle
    stop_sandbox(handle)


@pytest.fixture
def sandbox_with(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SandboxHandle]]:
    """Starts sandboxes with extra command-line arguments; stops them at teardown."""
    started: list[SandboxHandle] = []

    def start(*args: str) -> SandboxHandle:
        handle = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--seed", str(SEED), *args)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        stop_sandbox(handle)


@pytest.fixture
def shell_magics(tmp_path: Path) -> Iterator[Callable[[Any], Any]]:
    """Registers ``%flow`` magics backed by a given provider on the IPython shell."""
    from IPython.core.interactiveshell import InteractiveShell

    from flow_notebook.notebook.magics import FlowMagics
    from flow_notebook.notebook.positions import LogPositions
    from flow_notebook.notebook.session import Timing

    shell = InteractiveShell.instance()
    registered: list[Any] = []

    def register(provider: Any, secret_prompt: Callable[[str], str] | None = None) -> Any:
        magics = FlowMagics(
            shell,
            provider_factory=lambda name=None: provider,
            positions=LogPositions(tmp_path / "positions"),
            timing=Timing(poll_interval=0.05, settle_timeout=5.0),
            secret_prompt=secret_prompt,
        )
        shell.register_magics(magics)
        registered.append(magics)
        return shell

    yield register
    for magics in registered:
        magics.session.close()


@pytest.fixture
def ssh_sandbox(
    tmp_path_factory: pytest.TempPathFactory, require_ssh: None
) -> Iterator[SandboxHandle]:
    """A sandbox of its own with real sshd instances."""
    handle = start_sandbox(tmp_path_factory.mktemp("ssh_sandbox"), "--seed", str(SEED))
    yield handle
    stop_sandbox(handle)


def wait_status(
    provider: MithrilProvider, task_id: str, wanted: set[str], timeout: float = 40.0
) -> Task:
    """Polls ``get_task`` until the task's status is one of ``wanted``; returns the task."""
    seen: list[Task] = []

    def check() -> Task | None:
        seen[:] = [provider.get_task(task_id)]
        return seen[0] if seen[0].status.value in wanted else None

    try:
        return wait_for(check, timeout=timeout, interval=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{task_id} never {wanted}; last {seen[-1:]}") from exc


def all_bids(handle: SandboxHandle) -> list[dict[str, Any]]:
    """Returns every bid of the sandbox's default project (no faults may be active)."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"project": handle.project, "limit": 100}
    while True:
        page = handle.api("GET", "/v2/spot/bids", params=params).json()
        found.extend(page["data"])
        if not page.get("next_cursor"):
            return found
        params["next_cursor"] = page["next_cursor"]


def record_figures(section: str, figures: dict[str, Any]) -> None:
    """Adds ``figures`` under ``section`` to the report file, when one is named."""
    target = os.environ.get("FLOW_RELIABILITY_REPORT")
    if not target:
        return
    path = Path(target)
    report = json.loads(path.read_text()) if path.exists() else {}
    report[section] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **figures}
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def sandbox_bids() -> Callable[[SandboxHandle], list[dict[str, Any]]]:
    """Lists every bid of a sandbox's default project."""
    return all_bids


@pytest.fixture
def waits() -> Callable[..., Task]:
    """Polls a task until it reaches a state (see ``wait_status``)."""
    return wait_status


@pytest.fixture
def figures() -> Callable[[str, dict[str, Any]], None]:
    """Records measured figures for docs/reliability.md."""
    return record_figures


class InstanceControl:
    """Restarts an instance's sshd and cuts its SSH connections, as a flaky network would.

    Args:
        handle: The sandbox the instance belongs to.
    """

    def __init__(self, handle: SandboxHandle) -> None:
        self._handle = handle

    def home(self, instance_fid: str) -> Path:
        """The instance's directory on this machine (``workspace``, ``var_log_flow``...)."""
        return self._handle.root / "instances" / instance_fid

    def cut(self, instance_fid: str, *, restart_sshd: bool = True) -> int:
        """Restarts sshd (SIGHUP: it re-executes itself) and kills every open connection.

        Returns:
            How many connection processes were killed.
        """
        from flow_notebook.sandbox.procs import namespace_init, pids_in_namespace

        namespace = (self.home(instance_fid) / "pidns").read_text().strip()
        pids = pids_in_namespace(namespace)
        listener = namespace_init(pids)
        if restart_sshd and listener is not None:
            os.kill(listener, signal.SIGHUP)
        killed = 0
        for pid in pids:
            if pid != listener and _is_sshd_session(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        return killed


def _is_sshd_session(pid: int) -> bool:
    try:
        name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    # The per-connection processes: "sshd: user@notty", "sshd: user [priv]", sshd-session.
    return name.startswith(b"sshd:") or name.endswith(b"sshd-session")


@pytest.fixture
def instances(ssh_sandbox: SandboxHandle) -> InstanceControl:
    """Controls the instances of ``ssh_sandbox``."""
    return InstanceControl(ssh_sandbox)
