"""The run's environment: sizes, a temporary ``FLOW_HOME``, sandboxes and providers.

Everything a benchmark starts (sandboxes, providers) is registered here and stopped
by ``BenchEnv.close``, so a failing benchmark leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig, load_config


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does.

    Attributes:
        load_runs: Fresh processes for the cold load.
        submit_runs: Submits whose requests are counted.
        bid_counts: Bids in the sandbox for the listing benchmark.
        list_runs: Listings timed per bid count.
        log_lines: Stamped log lines per provider.
        log_interval: Seconds between two stamped lines.
        tree_bytes: Size of the code tree for the re-sync benchmark.
        tree_files: Files in that tree.
        resync_runs: Re-syncs (one changed file each) per strategy.
        dashboard_tasks: Tasks on the dashboard.
        dashboard_runs: Timed refreshes.
        cell_runs: ``%%flow run`` cells timed.
        boot_runs: Sandbox instances booted and terminated.
        history_small: Stored task records at the first history measurement.
        history_large: Stored task records at the second.
        history_runs: Timed listings and refreshes at each size.
    """

    load_runs: int
    submit_runs: int
    bid_counts: tuple[int, ...]
    list_runs: int
    log_lines: int
    log_interval: float
    tree_bytes: int
    tree_files: int
    resync_runs: int
    dashboard_tasks: int
    dashboard_runs: int
    cell_runs: int
    boot_runs: int
    history_small: int
    history_large: int
    history_runs: int


FULL = Sizes(
    load_runs=20,
    submit_runs=5,
    bid_counts=(100, 1_000, 10_000),
    list_runs=30,
    log_lines=300,
    log_interval=0.01,
    tree_bytes=50 * 1024 * 1024,
    tree_files=500,
    resync_runs=10,
    dashboard_tasks=1_000,
    dashboard_runs=10,
    cell_runs=8,
    boot_runs=10,
    history_small=1_000,
    history_large=100_000,
    history_runs=10,
)
QUICK = Sizes(
    load_runs=2,
    submit_runs=1,
    bid_counts=(10, 30),
    list_runs=2,
    log_lines=10,
    log_interval=0.01,
    tree_bytes=200 * 1024,
    tree_files=20,
    resync_runs=1,
    dashboard_tasks=20,
    dashboard_runs=2,
    cell_runs=1,
    boot_runs=2,
    history_small=10,
    history_large=50,
    history_runs=1,
)


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Returns the first truthy ``check()``; raises ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


class BenchEnv:
    """A temporary ``FLOW_HOME`` and everything the benchmarks start.

    Args:
        sizes: How much each benchmark does.
    """

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.root = Path(tempfile.mkdtemp(prefix="flow-bench-"))
        self._closers: list[Callable[[], None]] = []
        self._saved_env = dict(os.environ)
        os.environ["FLOW_HOME"] = str(self.home("main"))
        for name in ("FLOW_PROVIDER", "MITHRIL_API_KEY", "MITHRIL_PROJECT", "MITHRIL_API_URL",
                     "MITHRIL_SSH_KEY", "MITHRIL_REGION"):  # fmt: skip
            os.environ.pop(name, None)

    def home(self, name: str) -> Path:
        """Returns (creating it) a state directory of its own under the run's root."""
        path = self.root / "homes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def scratch(self, name: str) -> Path:
        """Returns (creating it) an empty scratch directory."""
        path = self.root / "scratch" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def on_close(self, closer: Callable[[], None]) -> None:
        """Registers ``closer`` to run (newest first) when the environment closes."""
        self._closers.append(closer)

    def start_sandbox(self, name: str, *extra: str) -> Any:
        """Starts a sandbox (stopped on close) and returns its handle."""
        from flow_notebook.sandbox.testing import start_sandbox, stop_sandbox

        handle = start_sandbox(self.root / "sandboxes" / name, *extra)
        self.on_close(lambda: stop_sandbox(handle))
        return handle

    def mithril_config(self, sandbox: Any, home: str) -> FlowConfig:
        """Returns the configuration of a Mithril provider on ``sandbox`` (no ``~/.ssh``)."""
        environ = {**sandbox.env, "FLOW_PROVIDER": "mithril", "FLOW_HOME": str(self.home(home))}
        config = load_config(environ)
        return config.with_overrides(extra={"ssh_dir": str(self.scratch(f"{home}-no-ssh"))})

    def mithril(self, sandbox: Any, home: str, **overrides: Any) -> Any:
        """Returns a ``MithrilProvider`` on ``sandbox``; its tasks are cancelled on close."""
        from flow_notebook.providers.mithril.provider import MithrilProvider

        provider = MithrilProvider.from_config(self.mithril_config(sandbox, home), **overrides)

        def close() -> None:
            try:
                for task in provider.list_active_tasks():
                    provider.cancel_task(task.task_id)
            finally:
                provider.close()

        self.on_close(close)
        return provider

    def local(self, home: str) -> Any:
        """Returns a ``LocalProvider`` with its own state; its tasks are stopped on close."""
        from flow_notebook.providers.local import LocalProvider

        environ = {"FLOW_HOME": str(self.home(home))}
        provider = LocalProvider.from_config(load_config(environ))

        def close() -> None:
            try:
                for task in provider.list_active_tasks():
                    provider.stop_task(task.task_id)
            finally:
                provider.close()

        self.on_close(close)
        return provider

    def close(self) -> None:
        """Stops everything started, restores the environment, removes the root."""
        errors = []
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as exc:  # noqa: BLE001 - keep closing the rest
                errors.append(exc)
        os.environ.clear()
        os.environ.update(self._saved_env)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise RuntimeError(f"cleanup failed: {errors[0]!r}") from errors[0]
