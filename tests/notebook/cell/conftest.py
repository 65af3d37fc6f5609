"""%%flow run test kit: a recording surface, a local-provider kernel, interrupts."""

from __future__ import annotations

import _thread
import threading
import time
from dataclasses import dataclass, field

import pytest

from flow_notebook.core.provider_interfaces import IActiveTasks
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.notebook_tasks import NotebookTasks
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import Timing
from flow_notebook.notebook.surfaces import header_text


@dataclass
class RecordingSurface:
    """A surface that records what a follow drew, with when (complete lines only)."""

    metadata: dict
    keep_kb: int | None = None
    titles: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    updates: list[tuple[float, list[str]]] = field(default_factory=list)
    streams: list[tuple[str, str]] = field(default_factory=list)
    summary: object = None
    finished: threading.Event = field(default_factory=threading.Event)
    _open: dict = field(default_factory=dict)

    def begin(self, task, start) -> None:
        self.titles.append(header_text(task, start=start))

    def status(self, task) -> None:
        self.statuses.append(task.status.value)

    def write(self, chunks) -> None:
        batch = []
        for chunk in chunks:
            self.streams.append((chunk.log_type, chunk.text))
            *done, self._open[chunk.log_type] = (
                self._open.get(chunk.log_type, "") + chunk.text
            ).split("\n")
            batch.extend(done)
        self.updates.append((time.monotonic(), batch))

    def end(self, summary) -> None:
        self.summary = summary
        self.finished.set()

    @property
    def lines(self) -> list[str]:
        return [line for _, batch in self.updates for line in batch]


@dataclass
class Kernel:
    """One kernel's %flow state on the local provider, with the surfaces it drew."""

    magics: FlowMagics
    surfaces: list[RecordingSurface]

    @property
    def session(self):
        return self.magics.session

    @property
    def last(self) -> RecordingSurface:
        return self.surfaces[-1]


def start_kernel(ip, state_dir, *, secret_prompt=None) -> Kernel:
    """Registers fresh magics on the (default) local provider, state kept in ``state_dir``."""
    surfaces: list[RecordingSurface] = []

    def surface(metadata, keep_kb=None):
        surfaces.append(RecordingSurface(metadata, keep_kb))
        return surfaces[-1]

    magics = FlowMagics(
        ip,
        positions=LogPositions(state_dir / "positions"),
        tasks=NotebookTasks(state_dir / "tasks.json"),
        timing=Timing(poll_interval=0.02, settle_timeout=10.0),
        surface_factory=surface,
        secret_prompt=secret_prompt,
    )
    ip.register_magics(magics)
    return Kernel(magics, surfaces)


def stop_kernel(kernel: Kernel) -> None:
    """Cancels the kernel's leftover tasks and stops its followers."""
    provider = kernel.session.provider
    if isinstance(provider, IActiveTasks):
        for task in provider.list_active_tasks():
            provider.cancel_task(task.task_id)
    kernel.session.close()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A small code directory, made the kernel's working directory."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "helper.py").write_text("OFFSET = 100\n")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def kernel(ip, tmp_path, project):
    kernel = start_kernel(ip, tmp_path / "state")
    yield kernel
    stop_kernel(kernel)


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout}s")


def interrupt_when(check, timeout: float = 10.0) -> threading.Thread:
    """Interrupts the main thread (like the stop button) once ``check()`` holds."""

    def run() -> None:
        try:
            wait_until(check, timeout)
        except AssertionError:
            return
        _thread.interrupt_main()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def ticking(count: int, delay: float, word: str = "tick") -> str:
    """A cell body printing ``word i`` lines, ``delay`` seconds apart."""
    return (
        f"import time\nfor i in range({count}):\n    print('{word}', i)\n    time.sleep({delay})\n"
    )
