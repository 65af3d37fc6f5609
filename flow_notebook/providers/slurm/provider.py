"""The Slurm provider facade: ``IProvider`` for jobs on a Slurm cluster.

It reaches the cluster the way its users do: Slurm's commands on a login node (over
SSH, or here when this machine is the login node), task files on the shared
filesystem. Every service comes in through the constructor; ``wiring.build`` makes
the defaults from the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import TaskStateError, ValidationError
from flow_notebook.core.models import (
    AvailableInstance,
    Instance,
    ProviderCapabilities,
    Task,
    TaskConfig,
    TaskStatus,
    User,
    Volume,
)
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.slurm.cluster import ClusterInfo
from flow_notebook.providers.slurm.code import ICodeShip
from flow_notebook.providers.slurm.jobs import JobService
from flow_notebook.providers.slurm.layout import TaskLayout
from flow_notebook.providers.slurm.offers import OfferCatalog, split_spec
from flow_notebook.providers.slurm.records import RecordStore
from flow_notebook.providers.slurm.remote import SlurmRemoteOperations
from flow_notebook.providers.slurm.settings import SlurmSettings
from flow_notebook.providers.slurm.submission import Submitter
from flow_notebook.providers.slurm.tasks import PROVIDER_NAME, TaskTracker
from flow_notebook.providers.slurm.volumes import ID_PREFIX, SlurmVolumes


class SlurmProvider:
    """Runs tasks as Slurm jobs.

    Args:
        settings: How the cluster is reached.
        cluster: Reads partitions and nodes.
        jobs: Submits, cancels and reads jobs.
        records: Task records of this FLOW_HOME.
        tracker: Builds tasks from records and job states.
        submitter: Writes task files and submits.
        logs: Reads and follows the jobs' output files.
        remote_ops: Commands and files of a task on the login node.
        code: Sends code to a running task's working directory.
        volumes: Volume directories.
        default_max_run_hours: Run-time limit of tasks that set none.
        closers: Called by ``close`` (connections to release).
    """

    def __init__(
        self,
        settings: SlurmSettings,
        *,
        cluster: ClusterInfo,
        jobs: JobService,
        records: RecordStore,
        tracker: TaskTracker,
        submitter: Submitter,
        logs: LogService,
        remote_ops: SlurmRemoteOperations,
        code: ICodeShip,
        volumes: SlurmVolumes,
        default_max_run_hours: float | None = None,
        closers: tuple[Callable[[], None], ...] = (),
    ) -> None:
        self.settings = settings
        self._cluster = cluster
        self._jobs = jobs
        self._records = records
        self._tracker = tracker
        self._submitter = submitter
        self._logs = logs
        self._remote = remote_ops
        self._code = code
        self._volumes = volumes
        self._max_run_hours = default_max_run_hours
        self._closers = closers

    @classmethod
    def from_config(
        cls, config: FlowConfig, environ: Mapping[str, str] | None = None
    ) -> SlurmProvider:
        """Builds the provider from ``FLOW_SLURM_*`` settings (see ``settings``)."""
        from flow_notebook.providers.slurm.wiring import build

        return build(config, environ)

    # --- compute -----------------------------------------------------------------

    def normalize_instance_request(
        self, gpu_count: int, gpu_type: str | None = None
    ) -> tuple[str, int, str | None]:
        """Spreads ``gpu_count`` GPUs over as few nodes as the partition's nodes allow."""
        if not gpu_type or gpu_count < 1:
            return "cpu", 1, None
        catalog = self._catalog()
        partition = catalog.shape(gpu_type, 1).partition
        per_node = self._gpus_per_node(partition, gpu_type.lower())
        nodes = math.ceil(gpu_count / per_node)
        shape = catalog.shape(f"{partition}:{min(gpu_count, per_node)}x{gpu_type}", nodes)
        warning = None
        if nodes * shape.gpus_per_node != gpu_count:
            warning = f"{gpu_count} GPUs rounded up to {nodes} x {shape.instance_type}"
        return shape.instance_type, nodes, warning

    def find_instances(
        self, requirements: dict[str, Any], limit: int = 10
    ) -> list[AvailableInstance]:
        """Lists each partition's GPU types with free nodes and limits (price 0)."""
        return self._catalog().offers(requirements)[: max(0, limit)]

    def resolve_instance_type(self, user_spec: str) -> str:
        """Checks a spec (``a100``, ``2xa100``, ``gpu:a100``) against the partitions.

        Raises:
            ValidationError: Unknown partition or GPU type (one line listing what exists).
        """
        shape = self._catalog().shape(user_spec, 1)
        partition, _ = split_spec(user_spec)
        return f"{partition}:{shape.instance_type}" if partition else shape.instance_type

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Validates ``config`` against the cluster and fills instance type and partition.

        Raises:
            ValidationError: An option Slurm jobs cannot honour (image, volumes to mount,
                keep-alive, SSH keys), an unknown partition or GPU type, more nodes than
                fit, or a run-time limit over the partition's.
        """
        _refuse_unsupported(config)
        hours = config.max_run_time_hours or self._max_run_hours
        shape = self._catalog().shape(
            config.instance_type, config.num_instances, config.region or None, hours
        )
        updates: dict[str, Any] = {"instance_type": shape.instance_type, "region": shape.partition}
        if config.upload_code:
            root = Path(config.code_root or Path.cwd()).resolve()
            if not root.is_dir():
                raise ValidationError(f"code root {root} is not a directory", field="code_root")
            updates["code_root"] = root
        if hours is not None:
            updates["max_run_time_hours"] = hours
        return config.model_copy(update=updates)

    def submit_task(
        self,
        instance_type: str,
        config: TaskConfig,
        volume_ids: list[str] | None = None,
        allow_partial_fulfillment: bool = False,
        chunk_size: int | None = None,
    ) -> Task:
        """Submits the job once (sbatch); returns the task, usually pending.

        Raises:
            ValidationError: Volumes, partial fulfilment or chunks asked for, or Slurm
                refused the job (its reason as one line).
        """
        if volume_ids or allow_partial_fulfillment or chunk_size:
            raise ValidationError(
                "Slurm jobs take no volume ids, partial fulfilment or chunks",
                suggestion="volumes are directories on the shared filesystem; see %flow volumes",
            )
        config = self.prepare_task_config(
            config.model_copy(update={"instance_type": instance_type or config.instance_type})
        )
        shape = self._catalog().shape(
            config.instance_type, config.num_instances, config.region, config.max_run_time_hours
        )
        record = self._submitter.submit(config, shape)
        return self._tracker.task(record)

    def get_task(self, task_id: str) -> Task:
        """Returns the task with its current Slurm state."""
        return self._tracker.task(self._records.get(task_id))

    def get_task_status(self, task_id: str) -> TaskStatus:
        """Returns the task's status (one squeue or scontrol call while it is live)."""
        return self.get_task(task_id).status

    def stop_task(self, task_id: str) -> bool:
        """Cancels the job (scancel); ``False`` when it had already ended."""
        record = self._records.get(task_id)
        if self._tracker.task(record).is_terminal:
            return False
        self._jobs.cancel(record.job_id)
        return True

    def cancel_task(self, task_id: str) -> bool:
        """Alias of ``stop_task``."""
        return self.stop_task(task_id)

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the job's ``stdout`` or ``stderr`` file."""
        return self._logs.get_task_logs(task_id, tail, log_type)

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Follows the job's output file from the first line until the job ends."""
        return self._logs.stream_task_logs(task_id, log_type)

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        """Follows the job's output file from line ``start_line`` over one SSH channel."""
        return self._logs.stream_task_logs_from(task_id, start_line, log_type)

    def list_tasks(
        self,
        status: TaskStatus | None = None,
        limit: int = 100,
        force_refresh: bool = False,
    ) -> list[Task]:
        """Returns the tasks submitted from this FLOW_HOME, newest first."""
        tasks = self._tracker.tasks(self._records.all())
        if status is not None:
            tasks = [task for task in tasks if task.status is status]
        return tasks[: max(0, limit)]

    def list_active_tasks(self, limit: int = 100) -> list[Task]:
        """Returns the tasks that have not ended."""
        live = [r for r in self._records.all() if r.final_status is None]
        tasks = [task for task in self._tracker.tasks(live) if not task.is_terminal]
        return tasks[: max(0, limit)]

    def get_task_instances(self, task_id: str) -> list[Instance]:
        """Returns one instance per node of the job, rank 0 first."""
        task = self.get_task(task_id)
        return [
            Instance(
                instance_id=instance_id,
                task_id=task_id,
                status=str(task.metadata.get("slurm_state", task.status.value)),
                instance_type=task.instance_type,
                region=task.region,
            )
            for instance_id in task.instances
        ]

    def sync_code(self, task_id: str, local_path: Path) -> dict[str, Any]:
        """Sends what changed in ``local_path`` to the task's working directory.

        Raises:
            TaskStateError: The task has ended.
            ValidationError: ``local_path`` is not a directory.
        """
        record = self._records.get(task_id)
        if self._tracker.task(record).is_terminal:
            raise TaskStateError(f"task {task_id} has ended; code syncs only to a live task")
        root = Path(local_path).expanduser()
        if not root.is_dir():
            raise ValidationError(f"code root {root} is not a directory", field="local_path")
        layout = TaskLayout(record.task_dir, record.work_dir)
        return {**self._code.send(task_id, root, layout), "working_dir": record.work_dir}

    # --- storage -----------------------------------------------------------------

    def create_volume(
        self, size_gb: int, name: str | None = None, interface: str = "block"
    ) -> Volume:
        """Creates a directory volume on the shared filesystem (``file`` interface only)."""
        if interface != "file" and interface != "block":
            raise ValidationError(f"unknown volume interface {interface!r}", field="interface")
        if interface == "block":
            raise ValidationError(
                "Slurm volumes are shared directories, not block devices",
                field="interface",
                suggestion="create it with interface 'file'",
            )
        return self._volumes.create(size_gb, name)

    def delete_volume(self, volume_id: str) -> bool:
        """Deletes the volume's directory and its files."""
        return self._volumes.delete(volume_id)

    def list_volumes(self, limit: int = 100) -> list[Volume]:
        """Lists the volume directories."""
        return self._volumes.list(limit)

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None = None) -> bool:
        """Copies a local file into the volume."""
        return self._volumes.upload(volume_id, local_path, remote_path)

    def upload_directory(
        self, volume_id: str, local_path: Path, remote_path: str | None = None
    ) -> bool:
        """Copies a local directory tree into the volume."""
        return self._volumes.upload(volume_id, local_path, remote_path)

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume."""
        return self._volumes.download(volume_id, remote_path, local_path)

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a directory tree out of the volume."""
        return self._volumes.download(volume_id, remote_path, local_path)

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` is a Slurm volume id (``vol-slurm-<name>``)."""
        return identifier.startswith(ID_PREFIX)

    # --- cross-cutting -------------------------------------------------------------

    def get_remote_operations(self) -> SlurmRemoteOperations:
        """Commands and files of a task, on the login node in its working directory."""
        return self._remote

    def get_user(self, user_id: str) -> User:
        """Returns the login user."""
        return User(user_id=self.settings.user, username=self.settings.user)

    def get_capabilities(self) -> ProviderCapabilities:
        """Multi-node jobs, shared directories, code upload; no prices."""
        return ProviderCapabilities(
            name=PROVIDER_NAME,
            supports_multi_node=True,
            supports_shared_storage=True,
            supports_code_upload=True,
            supports_ssh=self.settings.over_ssh,
            supports_gpu=True,
            max_instances_per_task=64,
            supported_regions=[part.name for part in self._cluster.partitions()],
            pricing_model="free",
        )

    def close(self) -> None:
        """Closes the SSH connection to the login node. Safe to call twice."""
        for closer in self._closers:
            closer()

    def _catalog(self) -> OfferCatalog:
        return OfferCatalog(self._cluster.partitions(), self.settings.partition)

    def _gpus_per_node(self, partition: str, gpu_type: str) -> int:
        for part in self._cluster.partitions():
            if part.name == partition:
                return max(1, part.gpu_types().get(gpu_type, 1))
        return 1


def _refuse_unsupported(config: TaskConfig) -> None:
    refusals = {
        "image": (config.image, "Slurm runs commands in the nodes' own environment"),
        "volumes": (
            config.volumes,
            "volumes are directories on the shared filesystem; use their path",
        ),
        "keep_alive": (config.keep_alive, "a Slurm job ends when its command ends"),
        "ssh_keys": (config.ssh_keys, "jobs are reached through the login node"),
    }
    for field, (value, why) in refusals.items():
        if value:
            raise ValidationError(
                f"the slurm provider cannot honour {field}: {why}",
                field=field,
                suggestion=f"drop {field} for Slurm tasks",
            )
