"""Widget-test fixtures: a fake provider with prices, SSH, volumes, pause and price history."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from flow_notebook.core.errors import NotFoundError, TaskNotFoundError
from flow_notebook.core.models import (
    AvailableInstance,
    PricePoint,
    ProviderCapabilities,
    Task,
    TaskConfig,
    TaskStatus,
    Tunnel,
    Volume,
)
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import FlowSession, Timing

NOW = datetime(2025, 1, 2, 12, 0, 0, tzinfo=timezone.utc)


def make_task(
    task_id: str = "task-1",
    *,
    status: TaskStatus = TaskStatus.RUNNING,
    cost_per_hour: float | None = 2.0,
    minutes: float = 30,
    ssh: bool = True,
    region: str = "us-central1-a",
) -> Task:
    """Returns a task that started ``minutes`` before ``NOW``."""
    return Task(
        task_id=task_id,
        name=f"job-{task_id}",
        status=status,
        provider="fake",
        instance_type="1xa100",
        region=region,
        cost_per_hour=cost_per_hour,
        created_at=NOW - timedelta(minutes=minutes + 1),
        started_at=NOW - timedelta(minutes=minutes),
        ssh_host="10.0.0.5" if ssh else None,
        ssh_port=2222 if ssh else None,
        ssh_user="ubuntu" if ssh else None,
    )


class WidgetFakeProvider:
    """Tasks, logs, offers and volumes in memory; logs are released line by line."""

    name = "fake"

    def __init__(self, tasks: list[Task] | None = None, *, runs_here: bool = False) -> None:
        self.tasks: dict[str, Task] = {task.task_id: task for task in tasks or []}
        self.runs_here = runs_here
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.log_done = threading.Event()
        self.cancelled: list[str] = []
        self.list_calls = 0
        self.list_delay = 0.0
        self.offers: list[AvailableInstance] = []
        self.volumes: dict[str, Volume] = {}
        self.stream_starts: list[tuple[str, int]] = []
        self.submitted: list[tuple[str, TaskConfig]] = []

    def get_capabilities(self) -> ProviderCapabilities:
        return ProviderCapabilities(name=self.name, runs_on_this_machine=self.runs_here)

    # compute
    def get_task(self, task_id: str) -> Task:
        if task_id not in self.tasks:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return self.tasks[task_id]

    def list_tasks(self, status=None, limit=100, force_refresh=False) -> list[Task]:
        self.list_calls += 1
        if self.list_delay:
            threading.Event().wait(self.list_delay)
        tasks = [t for t in self.tasks.values() if status in (None, t.status)]
        return tasks[:limit]

    def get_remote_operations(self) -> None:
        return None

    def cancel_task(self, task_id: str) -> bool:
        task = self.get_task(task_id)
        if task.is_terminal:
            return False
        self.cancelled.append(task_id)
        self.tasks[task_id] = task.model_copy(
            update={"status": TaskStatus.CANCELLED, "completed_at": task.started_at}
        )
        return True

    stop_task = cancel_task

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        self.get_task(task_id)
        self.stream_starts.append((log_type, start_line))
        lines = self.logs.get((task_id, log_type), [])
        yield from (line + "\n" for line in lines[start_line:])

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        return self.stream_task_logs_from(task_id, 0, log_type)

    def resolve_instance_type(self, user_spec: str) -> str:
        return user_spec

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        return config

    def submit_task(self, instance_type: str, config: TaskConfig, *args, **kwargs) -> Task:
        self.submitted.append((instance_type, config))
        task = make_task(f"task-{len(self.tasks) + 1}").model_copy(
            update={"instance_type": instance_type, "name": config.name}
        )
        self.tasks[task.task_id] = task
        return task

    def find_instances(self, requirements: dict, limit: int = 10) -> list[AvailableInstance]:
        return self.offers[:limit]

    # storage
    def list_volumes(self, limit: int = 100) -> list[Volume]:
        return list(self.volumes.values())[:limit]

    def create_volume(self, size_gb: int, name: str | None = None, interface="block") -> Volume:
        volume = Volume(volume_id=f"vol-{len(self.volumes) + 1}", name=name or "v", size_gb=size_gb)
        self.volumes[volume.volume_id] = volume
        return volume

    def delete_volume(self, volume_id: str) -> bool:
        return self.volumes.pop(volume_id, None) is not None


class PricedFakeProvider(WidgetFakeProvider):
    """The fake plus ``IPriceHistory``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.history_calls: list[tuple[str, str | None]] = []

    def get_price_history(
        self, instance_type, region=None, *, start=None, end=None, num_samples=100
    ) -> list[PricePoint]:
        self.history_calls.append((instance_type, region))
        if instance_type == "missing":
            raise NotFoundError("no such type")
        return [
            PricePoint(timestamp=NOW + timedelta(hours=i), price_per_hour=p, region=region)
            for i, p in enumerate((1.5, 2.0, 1.75))
        ]


def offer(instance_type: str = "1xa100", *, price: float = 1.8, region: str = "us-central1-a"):
    """Returns an offer of ``instance_type``."""
    return AvailableInstance(
        allocation_id=f"auc-{instance_type}-{region}",
        instance_type=instance_type,
        region=region,
        price_per_hour=price,
        gpu_type=instance_type.split("x", 1)[-1],
        gpu_count=int(instance_type.split("x", 1)[0]),
        available_quantity=4,
    )


@pytest.fixture
def fake() -> WidgetFakeProvider:
    return WidgetFakeProvider([make_task("task-1"), make_task("task-2", status=TaskStatus.FAILED)])


@pytest.fixture
def session_for(tmp_path):
    """Builds a ``FlowSession`` over a given provider; closes it after the test."""
    sessions: list[FlowSession] = []

    def build(provider: object) -> FlowSession:
        session = FlowSession(
            lambda name=None: provider,
            LogPositions(tmp_path / "positions"),
            Timing(poll_interval=0.01, settle_timeout=1.0),
        )
        sessions.append(session)
        return session

    yield build
    for session in sessions:
        session.close()


class FullFakeProvider(PricedFakeProvider):
    """Adds logs, uploads, pause/resume and tunnels to the priced fake."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.uploads: list[tuple[str, str, str | None]] = []
        self.paused: set[str] = set()
        self.tunnels = FakeTunnels()

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        return "".join(line + "\n" for line in self.logs.get((task_id, log_type), [])[-tail:])

    def upload_file(self, volume_id, local_path, remote_path=None) -> bool:
        self.uploads.append((volume_id, local_path.name, remote_path))
        return True

    def upload_directory(self, volume_id, local_path, remote_path=None) -> bool:
        self.uploads.append((volume_id, f"{local_path.name}/", remote_path))
        return True

    def is_volume_id(self, identifier: str) -> bool:
        return identifier.startswith("vol-")

    def pause_task(self, task_id: str) -> bool:
        self.get_task(task_id)
        if task_id in self.paused:
            return False
        self.paused.add(task_id)
        return True

    def resume_task(self, task_id: str) -> bool:
        if task_id not in self.paused:
            return False
        self.paused.discard(task_id)
        return True

    def get_ssh_tunnel_manager(self) -> FakeTunnels:
        return self.tunnels


class FakeTunnels:
    """An ``ITunnelManager`` that records tunnels without opening sockets."""

    def __init__(self) -> None:
        self.open: dict[str, Tunnel] = {}
        self.closed: list[str] = []

    def open_tunnel(self, task_id: str, remote_port: int, local_port: int | None = None):
        tunnel = Tunnel(
            tunnel_id=f"tun-{len(self.open) + len(self.closed) + 1}",
            task_id=task_id,
            remote_port=remote_port,
            local_port=local_port or 40000 + remote_port % 1000,
        )
        self.open[tunnel.tunnel_id] = tunnel
        return tunnel

    def close_tunnel(self, tunnel_id: str) -> bool:
        if self.open.pop(tunnel_id, None) is None:
            return False
        self.closed.append(tunnel_id)
        return True

    def list_tunnels(self, task_id: str | None = None) -> list[Tunnel]:
        return [t for t in list(self.open.values()) if task_id in (None, t.task_id)]
