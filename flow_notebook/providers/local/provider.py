"""The local provider facade: ``IProvider`` for tasks that run on this machine.

State lives in ``<FLOW_HOME>/local``: ``store/`` (task records, diskcache),
``tasks/<task_id>/`` (logs, work directory) and ``volumes/``. Every service comes in
through the constructor; ``from_config`` wires the defaults.
"""

from __future__ import annotations

import getpass
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig, configured_run_limit
from flow_notebook.core.contracts import refuse_partial_placement
from flow_notebook.core.errors import TaskNotFoundError, TaskStateError, ValidationError
from flow_notebook.core.models import (
    AvailableInstance,
    Instance,
    ProviderCapabilities,
    Task,
    TaskConfig,
    TaskStatus,
    User,
    Volume,
    VolumeSpec,
)
from flow_notebook.providers.local import logs, machine, views
from flow_notebook.providers.local.codesync import LocalCodeSync
from flow_notebook.providers.local.control import TaskControl, TaskState
from flow_notebook.providers.local.machine import MachineProbe
from flow_notebook.providers.local.remote import LocalRemoteOperations
from flow_notebook.providers.local.runner import TaskLauncher
from flow_notebook.providers.local.store import TaskRecord, TaskStore
from flow_notebook.providers.local.views import PROVIDER_NAME
from flow_notebook.providers.local.volumes import LocalVolumes


class LocalProvider:
    """Runs tasks as process groups on this machine; the default provider.

    Args:
        state_root: Directory for all local state.
        store: Task records (default: diskcache in ``state_root/store``).
        launcher: Starts tasks (default: under ``state_root/tasks``).
        control: Observes and signals tasks.
        volumes: Volume directories (default: ``state_root/volumes``).
        probe: Describes this machine.
        code_sync: Sends changed code to running tasks.
        poll_interval: Seconds between log polls while following.
        default_max_run_hours: Run-time limit of tasks that set none (the config
            file's ``max_run_time``), enforced by the supervisor.
    """

    def __init__(
        self,
        state_root: Path,
        *,
        store: TaskStore | None = None,
        launcher: TaskLauncher | None = None,
        control: TaskControl | None = None,
        volumes: LocalVolumes | None = None,
        probe: MachineProbe | None = None,
        code_sync: LocalCodeSync | None = None,
        poll_interval: float = logs.DEFAULT_POLL_INTERVAL,
        default_max_run_hours: float | None = None,
    ) -> None:
        self.state_root = Path(state_root)
        self._max_run_hours = default_max_run_hours
        self._store = store or TaskStore(self.state_root / "store")
        self._launcher = launcher or TaskLauncher(self.state_root / "tasks")
        self._control = control or TaskControl(self._store)
        self._volumes = volumes or LocalVolumes(self.state_root / "volumes")
        self._machine = probe or MachineProbe()
        self._code_sync = code_sync or LocalCodeSync(self._launcher.private_dirs)
        self._poll_interval = poll_interval

    @classmethod
    def from_config(cls, config: FlowConfig) -> LocalProvider:
        """Builds the provider with its state in ``config.home / "local"``."""
        state = config.home / "local"
        return cls(
            state,
            launcher=TaskLauncher(state / "tasks", private_dirs=[config.home]),
            default_max_run_hours=configured_run_limit(config),
        )

    # --- compute -----------------------------------------------------------------

    def normalize_instance_request(
        self, gpu_count: int, gpu_type: str | None = None
    ) -> tuple[str, int, str | None]:
        """Returns this machine's type, one instance and a warning when GPUs fall short."""
        return machine.normalize_request(self._machine.describe(), gpu_count, gpu_type)

    def find_instances(
        self, requirements: dict[str, Any], limit: int = 10
    ) -> list[AvailableInstance]:
        """Describes this machine as the one offer, at price 0, when it fits."""
        return machine.offers(self._machine.describe(), requirements)[: max(0, limit)]

    def resolve_instance_type(self, user_spec: str) -> str:
        """Returns this machine's type when it has the GPUs ``user_spec`` asks for.

        Raises:
            ValidationError: This machine lacks them (one line naming what it has).
        """
        return machine.match_spec(self._machine.describe(), user_spec)

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Validates ``config`` for a local run and fills the instance type and code root.

        Raises:
            ValidationError: More than one instance, an instance type (GPU) this machine
                lacks, a container image (commands run directly here), or a code root
                that is not a directory.
        """
        if config.image is not None:
            raise _image_refusal(config.image)
        if config.instance_type:
            machine.match_spec(self._machine.describe(), config.instance_type)
        if config.num_instances > 1:
            raise ValidationError(
                f"the local provider runs one instance, not {config.num_instances}",
                field="num_instances",
                suggestion="use num_instances=1 or the mithril provider",
            )
        updates: dict[str, Any] = {"instance_type": self._machine.describe().instance_type}
        if config.upload_code:
            root = Path(config.code_root or Path.cwd()).resolve()
            if not root.is_dir():
                raise ValidationError(f"code root {root} is not a directory", field="code_root")
            updates["code_root"] = root
        return config.model_copy(update=updates)

    def submit_task(
        self,
        instance_type: str,
        config: TaskConfig,
        volume_ids: list[str] | None = None,
        allow_partial_fulfillment: bool = False,
        chunk_size: int | None = None,
    ) -> Task:
        """Starts the task now, on this machine, and returns it.

        Raises:
            ValidationError: ``allow_partial_fulfillment`` or ``chunk_size`` given (one
                instance runs here), or the config cannot run here.
        """
        refuse_partial_placement("local", allow_partial_fulfillment, chunk_size)
        config = self.prepare_task_config(config)
        if config.max_run_time_hours is None and self._max_run_hours:
            config = config.model_copy(update={"max_run_time_hours": self._max_run_hours})
        specs = list(config.volumes)
        for volume_id in volume_ids or []:
            name = self._volumes.get(volume_id).name
            specs.append(VolumeSpec(volume_id=volume_id, mount_path=f"/volumes/{name}"))
        mounts = [self._volumes.mount_for(spec) for spec in specs]
        record = self._launcher.launch(config, config.instance_type or instance_type, mounts)
        self._store.put(record)
        return views.to_task(record, self._control.observe_started(record))

    def get_task(self, task_id: str) -> Task:
        """Returns the task. Raises ``TaskNotFoundError`` for an unknown id."""
        record = self._record(task_id)
        return views.to_task(record, self._control.observe(record))

    def get_task_status(self, task_id: str) -> TaskStatus:
        """Returns the task's current status."""
        return self._state(task_id).status

    def stop_task(self, task_id: str) -> bool:
        """Cancels the task; returns once its process group is gone. Idempotent."""
        return self._control.stop(self._record(task_id))

    def cancel_task(self, task_id: str) -> bool:
        """Alias of ``stop_task``."""
        return self.stop_task(task_id)

    def pause_task(self, task_id: str) -> bool:
        """Pauses (SIGSTOP) the task's process group; ``False`` when already paused."""
        return self._control.pause(self._record(task_id))

    def resume_task(self, task_id: str) -> bool:
        """Resumes (SIGCONT) a paused task; ``False`` when it was not paused."""
        return self._control.resume(self._record(task_id))

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the task's ``stdout`` or ``stderr``."""
        return logs.read_tail(logs.log_path(self._record(task_id).task_dir, log_type), tail)

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Yields lines as they are written; ends once the task ended and all is read."""
        return self.stream_task_logs_from(task_id, 0, log_type)

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        """Yields lines from line ``start_line`` (0-based) on; ends when the task ends."""
        path = logs.log_path(self._record(task_id).task_dir, log_type)
        return logs.follow(
            path,
            lambda: self._state(task_id).status.is_terminal,
            start_line=start_line,
            poll_interval=self._poll_interval,
        )

    def open_log_stream(
        self,
        task_id: str,
        start: Mapping[str, int] | None = None,
        log_types: Sequence[str] = ("stdout", "stderr"),
    ) -> logs.LogTail:
        """Opens a closable follow of the task's logs (``ILogStreams``)."""
        task_dir = self._record(task_id).task_dir
        paths = {kind: logs.log_path(task_dir, kind) for kind in log_types}
        first = {kind: int((start or {}).get(kind, 0)) for kind in log_types}
        if any(line < 0 for line in first.values()):
            raise ValidationError("start lines must be 0 or more", field="start")
        return logs.LogTail(
            paths,
            lambda: self._state(task_id).status.is_terminal,
            start=first,
            poll_interval=self._poll_interval,
        )

    def list_tasks(
        self, status: TaskStatus | None = None, limit: int = 100, force_refresh: bool = False
    ) -> list[Task]:
        """Returns up to ``limit`` tasks, newest first, optionally of one status.

        Every listing reads the task store afresh, so ``force_refresh`` changes nothing.
        """
        self._launcher.reap()
        tasks = []
        for record in self._store.newest():
            task = views.to_task(record, self._control.observe(record))
            if status is None or task.status is status:
                tasks.append(task)
            if len(tasks) >= limit:
                break
        return tasks

    def list_active_tasks(self, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks that have not ended, newest first."""
        return [t for t in self.list_tasks(limit=1_000_000) if not t.is_terminal][:limit]

    def sync_code(self, task_id: str, local_path: Path) -> dict[str, Any]:
        """Copies what changed in ``local_path`` into the running task's work directory.

        Returns:
            ``files``/``bytes`` sent, ``files_total``, ``deleted`` and the new ``digest``.

        Raises:
            TaskNotFoundError: No task has that id.
            TaskStateError: The task has ended.
            ValidationError: ``local_path`` is not a directory.
        """
        record = self._record(task_id)
        status = self._control.observe(record).status
        if status.is_terminal:
            raise TaskStateError(
                f"task {task_id} has ended ({status.value}); code syncs only to a running task"
            )
        result = self._code_sync.sync(Path(local_path), record.work_dir, record.task_dir)
        facts = {"code_digest": result["digest"], "code_files": result["files_total"]}
        self._store.update(task_id, metadata={**record.metadata, **facts})
        return result

    def get_task_instances(self, task_id: str) -> list[Instance]:
        """Returns one instance: the task's process on this machine."""
        record = self._record(task_id)
        return [views.to_instance(record, self._control.observe(record))]

    # --- storage -----------------------------------------------------------------

    def create_volume(
        self, size_gb: int, name: str | None = None, interface: str = "block"
    ) -> Volume:
        """Creates a volume directory of nominal size ``size_gb``."""
        return self._volumes.create(size_gb, name, interface)

    def delete_volume(self, volume_id: str) -> bool:
        """Deletes a volume; ``False`` when it did not exist."""
        return self._volumes.delete(volume_id)

    def list_volumes(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes, newest first."""
        return self._volumes.list(limit)

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None = None) -> bool:
        """Copies a local file into the volume."""
        return self._volumes.upload_file(volume_id, local_path, remote_path)

    def upload_directory(
        self, volume_id: str, local_path: Path, remote_path: str | None = None
    ) -> bool:
        """Copies a local directory tree into the volume."""
        return self._volumes.upload_directory(volume_id, local_path, remote_path)

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume."""
        return self._volumes.download_file(volume_id, remote_path, local_path)

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a directory tree out of the volume."""
        return self._volumes.download_directory(volume_id, remote_path, local_path)

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` looks like a local volume id (``vol-local-<hex>``)."""
        return self._volumes.is_volume_id(identifier)

    # --- cross-cutting -----------------------------------------------------------

    def get_remote_operations(self) -> LocalRemoteOperations:
        """Returns operations that run in a task's work directory."""
        return LocalRemoteOperations(
            lambda task_id: self._record(task_id).work_dir, [self.state_root / "volumes"]
        )

    def get_user(self, user_id: str) -> User:
        """Returns this machine's user (every id means the current OS user)."""
        name = getpass.getuser()
        return User(user_id=str(os.getuid()), username=name)

    def get_capabilities(self) -> ProviderCapabilities:
        """Returns what running locally can do."""
        return ProviderCapabilities(
            name=PROVIDER_NAME,
            supports_on_demand=True,
            supports_attached_storage=True,
            supports_pause=True,
            supports_code_upload=True,
            supports_gpu=bool(self._machine.describe().gpus),
            runs_on_this_machine=True,
            max_instances_per_task=1,
            max_storage_per_instance_gb=65_536,
            supported_regions=["local"],
            pricing_model="free",
        )

    def close(self) -> None:
        """Releases the task store. Safe to call twice; running tasks keep running."""
        self._launcher.reap()
        self._store.close()

    # --- helpers -----------------------------------------------------------------

    def _record(self, task_id: str) -> TaskRecord:
        record = self._store.get(task_id)
        if record is None:
            raise TaskNotFoundError(
                f"no task {task_id!r}", suggestion="list tasks to see the ids of local tasks"
            )
        return record

    def _state(self, task_id: str) -> TaskState:
        return self._control.observe(self._record(task_id))


CONTAINER_RUNTIMES = ("docker", "podman")


def _image_refusal(image: str) -> ValidationError:
    """The one-line refusal of ``--image``: local tasks never start containers.

    With a container runtime installed the refusal says so, and how to use it: running
    the command in a container would change what a local run means (files, GPUs, the
    processes a cancel stops), so the provider leaves that to the command itself.
    """
    runtime = next((name for name in CONTAINER_RUNTIMES if shutil.which(name)), None)
    why = (
        f"it does not start containers, even with {runtime} installed here"
        if runtime
        else "this machine has no container runtime"
    )
    return ValidationError(
        f"the local provider runs commands directly on this machine and cannot run the image"
        f" {image}: {why}",
        field="image",
        suggestion=f"run `{runtime} run ...` in the command, or use the mithril provider"
        if runtime
        else "drop --image, or use the mithril provider",
    )
