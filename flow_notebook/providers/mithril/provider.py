"""``MithrilProvider``: the thin facade over the Mithril services.

Every method delegates to one service of its ``Wiring`` (the composition root,
``wiring.py``), which builds each service on first use; ``from_config`` passes
overrides to it by name, so a test swaps any service. The facade implements
``IProvider`` and these extensions: ``IActiveTasks``, ``IPausable``,
``IResumableLogs``, ``ILogStreams``, ``IVolumeMounting``, ``IProjects``, ``IInstanceCatalog``,
``ISSHKeyManagement``, ``IInitInterface``, ``ISSHTunnels``, ``ICodeSync``,
``IPriceHistory``, ``IReservations`` (``reservations_facade.py``), ``ISetupProgress``
and ``IClosable``.
``from_config`` needs only the API key: until a project is chosen, the setup
interface, the remote operations and the tunnel manager exist (and pass
``isinstance`` checks); every call that needs the project raises ``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig
from flow_notebook.core.contracts import refuse_partial_placement
from flow_notebook.core.models import (
    AvailableInstance,
    Instance,
    PricePoint,
    ProviderCapabilities,
    Task,
    TaskConfig,
    TaskStatus,
    User,
    Volume,
)
from flow_notebook.core.provider_interfaces import (
    ILogStream,
    IProviderInit,
    IRemoteOperations,
    ITunnelManager,
)
from flow_notebook.providers.mithril.adapters.convert import volume_to_core
from flow_notebook.providers.mithril.domain.volumes import is_volume_id
from flow_notebook.providers.mithril.reservations_facade import ReservationsFacade
from flow_notebook.providers.mithril.wiring import Wiring

CAPABILITIES = ProviderCapabilities(
    name="mithril",
    supports_spot_instances=True,
    supports_on_demand=False,
    supports_multi_node=True,
    supports_attached_storage=True,
    supports_shared_storage=True,
    supports_pause=True,
    supports_code_upload=True,
    supports_ssh=True,
    supports_gpu=True,
    max_instances_per_task=64,
    max_storage_per_instance_gb=15_360,
    requires_payment_method=True,
    pricing_model="spot",
)


class MithrilProvider(ReservationsFacade):
    """Runs tasks as Mithril spot bids. Build it with ``from_config``.

    Args:
        wiring: Builds the services (each on first use) and closes them.
    """

    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring

    @classmethod
    def from_config(cls, config: FlowConfig, **overrides: Any) -> MithrilProvider:
        """Builds the provider with one pooled API client and default services.

        Services are built on first use, so a provider without a project still lists
        the key's projects (``get_init_interface``).

        Args:
            config: Needs ``api_key``; ``project`` (name or id) for tasks and volumes.
            **overrides: Services or collaborators by their ``Wiring`` names
                (e.g. ``api=ApiClient(...)``, ``bids=...``).

        Raises:
            AuthenticationError: No API key, or the API rejected it.
            ConfigurationError: No project of the configured name or id.
            TypeError: An override names no service.
        """
        from flow_notebook.providers.mithril import wiring

        return cls(wiring.build(config, **overrides))

    # --- compute ---------------------------------------------------------------------

    def normalize_instance_request(
        self, gpu_count: int, gpu_type: str | None = None
    ) -> tuple[str, int, str | None]:
        """Turns a GPU request into ``(instance_type, num_instances, warning)``."""
        return self._w.market.offers.normalize(gpu_count, gpu_type)

    def find_instances(
        self, requirements: dict[str, Any], limit: int = 10
    ) -> list[AvailableInstance]:
        """Returns offers with capacity matching ``requirements``, cheapest first."""
        return self._w.market.offers.find(requirements, limit)

    def submit_task(
        self,
        instance_type: str,
        config: TaskConfig,
        volume_ids: list[str] | None = None,
        allow_partial_fulfillment: bool = False,
        chunk_size: int | None = None,
    ) -> Task:
        """Places the task's bid (never twice) and returns at once.

        Raises:
            ValidationError: ``allow_partial_fulfillment`` or ``chunk_size`` given: a
                spot bid allocates all its instances or none, in one request.
        """
        refuse_partial_placement("mithril", allow_partial_fulfillment, chunk_size)
        return self._w.submission.submit(instance_type, config, volume_ids)

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Returns ``config`` with instance type id, region and code root filled in."""
        return self._w.submission.prepare_task_config(config)

    def get_task(self, task_id: str) -> Task:
        """Returns the task; reads its exit code over SSH once it may have ended."""
        return self._w.task_queries.get(task_id)

    def get_task_status(self, task_id: str) -> TaskStatus:
        """Returns the task's status, read as ``get_task`` reads it.

        May block on SSH: once every instance runs, the exit code is read, and a task
        whose command ended has its bid terminated (when auto-terminate is on).

        Raises:
            TaskNotFoundError: No bid has this id.
        """
        return self._w.task_queries.status(task_id)

    def stop_task(self, task_id: str) -> bool:
        """Terminates the task's bid (and revokes its task key); ``False`` when it had ended."""
        return self._w.task_queries.cancel(task_id)

    def cancel_task(self, task_id: str) -> bool:
        """Alias of ``stop_task``."""
        return self.stop_task(task_id)

    def pause_task(self, task_id: str) -> bool:
        """Pauses the bid; ``False`` when it was already paused."""
        return self._w.bids.set_paused(task_id, True)

    def resume_task(self, task_id: str) -> bool:
        """Resumes the bid; ``False`` when it was not paused."""
        return self._w.bids.set_paused(task_id, False)

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the task's log."""
        return self._w.logs.get_task_logs(task_id, tail, log_type)

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Yields log lines as written; ends when the task ends."""
        return self._w.logs.stream_from(task_id, 0, log_type)

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        """Yields log lines from ``start_line`` on; ends when the task ends."""
        return self._w.logs.stream_from(task_id, start_line, log_type)

    def open_log_stream(
        self,
        task_id: str,
        start: Mapping[str, int] | None = None,
        log_types: Sequence[str] = ("stdout", "stderr"),
    ) -> ILogStream:
        """Opens a closable follow of the task's logs; ``close`` ends its SSH reads at once."""
        return self._w.logs.open_log_stream(task_id, start, log_types)

    def list_tasks(
        self,
        status: TaskStatus | None = None,
        limit: int = 100,
        force_refresh: bool = False,
    ) -> list[Task]:
        """Returns up to ``limit`` tasks, newest first (never cached, no SSH).

        Listings are never cached, so every one is fresh and ``force_refresh`` changes
        nothing.

        Running tasks are checked for an exit code in the background, so a task whose
        command ended shows ``completed``/``failed`` in a later listing.
        """
        return self._w.task_queries.list_tasks(status, limit)

    def list_active_tasks(self, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks that have not ended."""
        return self._w.task_queries.list_active(limit)

    def get_task_instances(self, task_id: str) -> list[Instance]:
        """Returns the task's instances in rank order."""
        return self._w.task_queries.instances(task_id)

    def get_upload_status(self, task_id: str) -> dict[str, Any] | None:
        """Returns the after-boot progress of a task submitted here, or ``None``."""
        return self._w.provisioner.upload_status(task_id)

    def sync_code(self, task_id: str, local_path: Path) -> dict[str, Any]:
        """Sends what changed in ``local_path`` to every instance of the running task.

        Returns ``files``/``bytes`` sent, ``files_total``, ``deleted``, ``digest``,
        ``strategy`` and the per-instance reports under ``instances``.
        """
        return self._w.task_code_sync.sync_code(task_id, local_path)

    def get_price_history(
        self,
        instance_type: str,
        region: str | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        num_samples: int = 100,
    ) -> list[PricePoint]:
        """Returns spot prices per instance-hour, in dollars, oldest first."""
        return self._w.market.price_history.history(
            instance_type, region, start=start, end=end, num_samples=num_samples
        )

    # --- storage ---------------------------------------------------------------------

    def create_volume(
        self, size_gb: int, name: str | None = None, interface: str = "block"
    ) -> Volume:
        """Creates a volume in the default region."""
        return volume_to_core(self._w.volumes.create(size_gb, name, interface))

    def delete_volume(self, volume_id: str) -> bool:
        """Deletes a volume; ``False`` when it did not exist."""
        return self._w.volumes.delete(volume_id)

    def list_volumes(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes."""
        return self._w.volumes.list(limit)

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None = None) -> bool:
        """Copies a file into the volume through a running task that has it."""
        return self._w.volumes.upload_file(volume_id, local_path, remote_path)

    def upload_directory(
        self, volume_id: str, local_path: Path, remote_path: str | None = None
    ) -> bool:
        """Copies a tree into the volume through a running task that has it."""
        return self._w.volumes.upload_directory(volume_id, local_path, remote_path)

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume through a running task that has it."""
        return self._w.volumes.download_file(volume_id, remote_path, local_path)

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a tree out of the volume through a running task that has it."""
        return self._w.volumes.download_directory(volume_id, remote_path, local_path)

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` is a volume id (``vol_...``)."""
        return is_volume_id(identifier)

    def mount_volume(self, volume_id: str, task_id: str, mount_point: str | None = None) -> None:
        """Attaches a volume to a task's bid (see ``VolumeAttacher.attach``)."""
        self._w.volume_attacher.attach(volume_id, task_id, mount_point)

    # --- cross-cutting ---------------------------------------------------------------

    def get_remote_operations(self) -> IRemoteOperations | None:
        """Returns SSH operations on a task's first instance (built without a project)."""
        return self._w.remote_ops

    def resolve_instance_type(self, user_spec: str) -> str:
        """Turns ``h100``, ``8xa100``, a catalogue name or an id into an instance type id."""
        return self._w.market.catalog.resolve(user_spec)

    def get_user(self, user_id: str) -> User:
        """Returns the caller (``me``) or a teammate; cached for a few minutes."""
        return self._w.market.account.get_user(user_id)

    def get_capabilities(self) -> ProviderCapabilities:
        """Returns what Mithril offers."""
        return CAPABILITIES.model_copy(deep=True)

    def get_projects(self) -> list[dict[str, Any]]:
        """Returns the account's projects."""
        return self._w.market.account.projects()

    def get_instance_types(self, region: str | None = None) -> list[dict[str, Any]]:
        """Returns the catalogue, optionally only types offered in ``region``."""
        return self._w.market.offers.instance_types(region)

    def get_ssh_keys(self) -> list[dict[str, Any]]:
        """Returns the project's registered keys (public parts only)."""
        return self._w.market.account.ssh_keys()

    def create_ssh_key(self, name: str, public_key: str | None = None) -> dict[str, Any]:
        """Registers a key, or generates a pair saved under ``FLOW_HOME/keys``."""
        return self._w.market.account.create_ssh_key(name, public_key)

    def delete_ssh_key(self, key_id: str) -> bool:
        """Deletes a key; ``False`` when it did not exist."""
        return self._w.market.account.delete_ssh_key(key_id)

    def get_init_interface(self) -> IProviderInit:
        """Returns the setup helpers."""
        return self._w.market.init_interface

    def get_ssh_tunnel_manager(self) -> ITunnelManager:
        """Returns the port-forward manager (built without a project)."""
        return self._w.tunnels

    def close(self) -> None:
        """Stops background work, tunnels and connections. Safe to call twice."""
        self._w.close()
