"""Notebook-layer fixtures: a real IPython shell and an in-memory provider to drive it."""

from __future__ import annotations

import _thread
import time
from collections.abc import Callable, Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from flow_notebook.core.errors import TaskNotFoundError
from flow_notebook.core.models import Task, TaskConfig, TaskStatus, utcnow
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import Timing


class FakeProvider:
    """Keeps tasks in memory; a task ends when its log stream has been read to the end."""

    name = "fake"

    def __init__(
        self,
        *,
        lines: tuple[str, ...] = ("one", "two", "three"),
        final: TaskStatus = TaskStatus.COMPLETED,
        exit_code: int = 0,
        interrupt_after: int | None = None,
        ends_by_itself: bool = True,
    ) -> None:
        self.lines = list(lines)
        self.final = final
        self.exit_code = exit_code
        self.interrupt_after = interrupt_after
        self.ends_by_itself = ends_by_itself
        self.tasks: dict[str, Task] = {}
        self.configs: dict[str, TaskConfig] = {}
        self.submitted_types: list[str] = []
        self.cancelled: list[str] = []
        self.stream_starts: list[int] = []
        self.closed = False

    def resolve_instance_type(self, user_spec: str) -> str:
        return f"fake-{user_spec}"

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        return config

    def submit_task(self, instance_type: str, config: TaskConfig, *args, **kwargs) -> Task:
        task_id = f"task-{len(self.tasks) + 1}"
        self.submitted_types.append(instance_type)
        self.configs[task_id] = config
        self.tasks[task_id] = Task(
            task_id=task_id,
            name=config.name,
            status=TaskStatus.RUNNING,
            provider=self.name,
            instance_type=instance_type or "cpu",
            command=config.command_line(),
            started_at=utcnow(),
        )
        return self.tasks[task_id]

    def get_task(self, task_id: str) -> Task:
        if task_id not in self.tasks:
            raise TaskNotFoundError(f"no task {task_id!r}", suggestion="see %flow list")
        return self.tasks[task_id]

    def get_task_status(self, task_id: str) -> TaskStatus:
        return self.get_task(task_id).status

    def end(self, task_id: str, status: TaskStatus, exit_code: int | None = None) -> None:
        task = self.get_task(task_id)
        self.tasks[task_id] = task.model_copy(
            update={"status": status, "exit_code": exit_code, "completed_at": utcnow()}
        )

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        return self._stream(task_id, 0, log_type)

    def _stream(self, task_id: str, start: int, log_type: str = "stdout") -> Iterator[str]:
        self.get_task(task_id)
        if log_type != "stdout":
            return
        self.stream_starts.append(start)
        for index, line in enumerate(self.lines[start:], start=start):
            if self.interrupt_after is not None and index == self.interrupt_after:
                # The user interrupts the kernel once the lines before were shown.
                time.sleep(0.3)
                _thread.interrupt_main()
                time.sleep(0.5)
                return
            yield line + "\n"
        if self.ends_by_itself and not self.get_task(task_id).is_terminal:
            self.end(task_id, self.final, self.exit_code)

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        self.get_task(task_id)
        if log_type == "stderr":
            return "warning: something\n"
        return "".join(line + "\n" for line in self.lines[-tail:])

    def list_tasks(self, status=None, limit=100, force_refresh=False) -> list[Task]:
        tasks = [task for task in reversed(self.tasks.values()) if status in (None, task.status)]
        return tasks[:limit]

    def cancel_task(self, task_id: str) -> bool:
        if self.get_task(task_id).is_terminal:
            return False
        self.cancelled.append(task_id)
        self.end(task_id, TaskStatus.CANCELLED)
        return True

    stop_task = cancel_task

    def close(self) -> None:
        self.closed = True


class ResumableFakeProvider(FakeProvider):
    """The fake, plus ``IResumableLogs``."""

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        return self._stream(task_id, start_line, log_type)


@pytest.fixture(scope="session")
def ip() -> InteractiveShell:
    return InteractiveShell.instance()


@pytest.fixture
def use_provider(ip, tmp_path) -> Callable[[object], FlowMagics]:
    """Registers fresh ``%flow`` magics backed by the given provider."""

    def register(provider: object) -> FlowMagics:
        magics = FlowMagics(
            ip,
            provider_factory=lambda name=None: provider,
            positions=LogPositions(tmp_path / "positions"),
            timing=Timing(poll_interval=0.01, settle_timeout=1.0),
        )
        ip.register_magics(magics)
        return magics

    return register


@pytest.fixture
def use_fake(use_provider) -> Callable[..., FakeProvider]:
    """Registers ``%flow`` backed by a new fake; ``resumable=True`` adds ``IResumableLogs``."""

    def register(*, resumable: bool = False, **kwargs: object) -> FakeProvider:
        provider = (ResumableFakeProvider if resumable else FakeProvider)(**kwargs)
        use_provider(provider)
        return provider

    return register


@pytest.fixture
def fake_class() -> type[FakeProvider]:
    """The fake provider class, for tests that build their own factory."""
    return FakeProvider


@pytest.fixture
def flow(ip) -> Callable[[str], tuple[object, str]]:
    """Runs ``%flow LINE`` and returns (value, printed output)."""

    def run(line: str) -> tuple[object, str]:
        with capture_output() as captured:
            value = ip.run_line_magic("flow", line)
        return value, captured.stdout

    return run
