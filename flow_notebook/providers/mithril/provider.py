"""``MithrilProvider``: the thin facade over the Mithril services.

Every method delegates to one service; the services are built by ``wiring.Wiring``
(``from_config``) or passed in by keyword, so a test swaps any of them. The facade
implements ``IProvider`` and these extensions: ``IActiveTasks``, ``IPausable``,
``IResumableLogs``, ``IVolumeMounting``, ``IProjects``, ``IInstanceCatalog``,
``ISSHKeyManagement``, ``IInitInterface``, ``ISSHTunnels``, ``ICodeSync``,
``IPriceHistory``, ``IReservations`` and ``IClosable``. ``get_upload_status`` is Mithril-only.
``from_config`` needs only the API key: until a project is chosen, the setup
interface works and every call that needs the project raises ``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flow_notebook.core.config import FlowConfig
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
from flow_notebook.core.provider_interfaces import IProviderInit, IRemoteOperations
from flow_notebook.providers.mithril.adapters.convert import volume_to_core
from flow_notebook.providers.mithril.domain.account import AccountService
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.code_sync import CodeSync
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.log_archive import TaskLogs
from flow_notebook.providers.mithril.domain.mounts import VolumeAttacher
from flow_notebook.providers.mithril.domain.offers import OfferService
from flow_notebook.providers.mithril.domain.price_history import PriceHistoryService
from flow_notebook.providers.mithril.domain.provisioning import Provisioner
from flow_notebook.providers.mithril.domain.reservations import ReservationService
from flow_notebook.providers.mithril.domain.submission import SubmissionService
from flow_notebook.providers.mithril.domain.task_queries import TaskQueries
from flow_notebook.providers.mithril.domain.volumes import VolumeService, is_volume_id
from flow_notebook.providers.mithril.reservations_facade import ReservationsFacade
from flow_notebook.providers.mithril.tunnels import SSHTunnelManager

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
        submission: The submit flow.
        task_queries: Task views, exit codes and auto-termination.
        bids: Cancel, pause and resume.
        logs: Task logs (archived or live).
        offers: Offers, GPU request normalization and the catalogue as dicts.
        catalog: Instance type resolution.
        volumes: Volume CRUD and transfers.
        volume_attacher: Attaches volumes to existing tasks.
        account: Users, projects and SSH keys.
        remote_ops: Commands and files on a task's first instance.
        provisioner: After-boot work and code uploads.
        init_interface: Setup helpers.
        tunnels: Port forwards.
        code_sync: Code to running tasks.
        price_history: Past spot prices.
        reservations: Reserved capacity.
        closer: Releases every resource (threads, connections, caches).
    """

    def __init__(
        self,
        *,
        submission: SubmissionService,
        task_queries: TaskQueries,
        bids: BidService,
        logs: TaskLogs,
        offers: OfferService,
        catalog: InstanceTypeCatalog,
        volumes: VolumeService,
        volume_attacher: VolumeAttacher,
        account: AccountService,
        remote_ops: IRemoteOperations,
        provisioner: Provisioner,
        init_interface: IProviderInit,
        tunnels: SSHTunnelManager,
        code_sync: CodeSync,
        price_history: PriceHistoryService,
        reservations: ReservationService,
        closer: Callable[[], None] = lambda: None,
    ) -> None:
        self._submission = submission
        self._tasks = task_queries
        self._bids = bids
        self._logs = logs
        self._offers = offers
        self._catalog = catalog
        self._volumes = volumes
        self._attacher = volume_attacher
        self._account = account
        self._remote = remote_ops
        self._provisioner = provisioner
        self._init = init_interface
        self._tunnels = tunnels
        self._code_sync = code_sync
        self._prices = price_history
        self._reservations = reservations
        self._closer = closer

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
        """
        from flow_notebook.providers.mithril import wiring

        built = wiring.build(config, **overrides)
        lazy = built.deferred
        return cls(
            submission=lazy("submission"),
            task_queries=lazy("task_queries"),
            bids=lazy("bids"),
            logs=lazy("logs"),
            offers=lazy("offers"),
            catalog=lazy("catalog"),
            volumes=lazy("volumes"),
            volume_attacher=lazy("volume_attacher"),
            account=lazy("account"),
            remote_ops=lazy("remote_ops"),
            provisioner=lazy("provisioner"),
            init_interface=built.init_interface,
            tunnels=lazy("tunnels"),
            code_sync=lazy("task_code_sync"),
            price_history=lazy("price_history"),
            reservations=lazy("reservations"),
            closer=built.close,
        )

    # --- compute ---------------------------------------------------------------------

    def normalize_instance_request(
        self, gpu_count: int, gpu_type: str | None = None
    ) -> tuple[str, int, str | None]:
        """Turns a GPU request into ``(instance_type, num_instances, warning)``."""
        return self._offers.normalize(gpu_count, gpu_type)

    def find_instances(
        self, requirements: dict[str, Any], limit: int = 10
    ) -> list[AvailableInstance]:
        """Returns offers with capacity matching ``requirements``, cheapest first."""
        return self._offers.find(requirements, limit)

    def submit_task(
        self,
        instance_type: str,
        config: TaskConfig,
        volume_ids: list[str] | None = None,
        allow_partial_fulfillment: bool = False,
        chunk_size: int | None = None,
    ) -> Task:
        """Places the task's bid (never twice) and returns at once.

        ``allow_partial_fulfillment`` and ``chunk_size`` do not apply to spot bids,
        which allocate all instances or none.
        """
        return self._submission.submit(instance_type, config, volume_ids)

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Returns ``config`` with instance type id, region and code root filled in."""
        return self._submission.prepare_task_config(config)

    def get_task(self, task_id: str) -> Task:
        """Returns the task; reads its exit code over SSH once it may have ended."""
        return self._tasks.get(task_id)

    def get_task_status(self, task_id: str) -> TaskStatus:
        """Returns the task's status, read as ``get_task`` reads it.

        May block on SSH: once every instance runs, the exit code is read, and a task
        whose command ended has its bid terminated (when auto-terminate is on).

        Raises:
            TaskNotFoundError: No bid has this id.
        """
        return self._tasks.status(task_id)

    def stop_task(self, task_id: str) -> bool:
        """Terminates the task's bid (and revokes its task key); ``False`` when it had ended."""
        return self._tasks.cancel(task_id)

    def cancel_task(self, task_id: str) -> bool:
        """Alias of ``stop_task``."""
        return self.stop_task(task_id)

    def pause_task(self, task_id: str) -> bool:
        """Pauses the bid; ``False`` when it was already paused."""
        return self._bids.set_paused(task_id, True)

    def resume_task(self, task_id: str) -> bool:
        """Resumes the bid; ``False`` when it was not paused."""
        return self._bids.set_paused(task_id, False)

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        """Returns the last ``tail`` lines of the task's log."""
        return self._logs.get_task_logs(task_id, tail, log_type)

    def stream_task_logs(self, task_id: str, log_type: str = "stdout") -> Iterator[str]:
        """Yields log lines as written; ends when the task ends."""
        return self._logs.stream_from(task_id, 0, log_type)

    def stream_task_logs_from(
        self, task_id: str, start_line: int = 0, log_type: str = "stdout"
    ) -> Iterator[str]:
        """Yields log lines from ``start_line`` on; ends when the task ends."""
        return self._logs.stream_from(task_id, start_line, log_type)

    def list_tasks(
        self,
        status: TaskStatus | None = None,
        limit: int = 100,
        force_refresh: bool = False,
    ) -> list[Task]:
        """Returns up to ``limit`` tasks, newest first (never cached, no SSH).

        Running tasks are checked for an exit code in the background, so a task whose
        command ended shows ``completed``/``failed`` in a later listing.
        """
        return self._tasks.list_tasks(status, limit)

    def list_active_tasks(self, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks that have not ended."""
        return self._tasks.list_active(limit)

    def get_task_instances(self, task_id: str) -> list[Instance]:
        """Returns the task's instances in rank order."""
        return self._tasks.instances(task_id)

    def get_upload_status(self, task_id: str) -> dict[str, Any] | None:
        """Returns the after-boot progress of a task submitted here, or ``None``."""
        status = self._provisioner.status(task_id)
        return status.as_dict() if status else None

    def sync_code(self, task_id: str, local_path: Path) -> dict[str, Any]:
        """Sends what changed in ``local_path`` to every instance of the running task.

        Returns ``files``/``bytes`` sent, ``files_total``, ``deleted``, ``digest``,
        ``strategy`` and the per-instance reports under ``instances``.
        """
        return self._code_sync.sync_code(task_id, local_path)

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
        return self._prices.history(
            instance_type, region, start=start, end=end, num_samples=num_samples
        )

    # --- storage ---------------------------------------------------------------------

    def create_volume(
        self, size_gb: int, name: str | None = None, interface: str = "block"
    ) -> Volume:
        """Creates a volume in the default region."""
        return volume_to_core(self._volumes.create(size_gb, name, interface))

    def delete_volume(self, volume_id: str) -> bool:
        """Deletes a volume; ``False`` when it did not exist."""
        return self._volumes.delete(volume_id)

    def list_volumes(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes."""
        return self._volumes.list(limit)

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None = None) -> bool:
        """Copies a file into the volume through a running task that has it."""
        return self._volumes.upload_file(volume_id, local_path, remote_path)

    def upload_directory(
        self, volume_id: str, local_path: Path, remote_path: str | None = None
    ) -> bool:
        """Copies a tree into the volume through a running task that has it."""
        return self._volumes.upload_directory(volume_id, local_path, remote_path)

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume through a running task that has it."""
        return self._volumes.download_file(volume_id, remote_path, local_path)

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a tree out of the volume through a running task that has it."""
        return self._volumes.download_directory(volume_id, remote_path, local_path)

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` is a volume id (``vol_...``)."""
        return is_volume_id(identifier)

    def mount_volume(self, volume_id: str, task_id: str, mount_point: str | None = None) -> None:
        """Attaches a volume to a task's bid (see ``VolumeAttacher.attach``)."""
        self._attacher.attach(volume_id, task_id, mount_point)

    # --- cross-cutting ---------------------------------------------------------------

    def get_remote_operations(self) -> IRemoteOperations | None:
        """Returns SSH operations on a task's first instance."""
        return self._remote

    def resolve_instance_type(self, user_spec: str) -> str:
        """Turns ``h100``, ``8xa100``, a catalogue name or an id into an instance type id."""
        return self._catalog.resolve(user_spec)

    def get_user(self, user_id: str) -> User:
        """Returns the caller (``me``) or a teammate; cached for a few minutes."""
        return self._account.get_user(user_id)

    def get_capabilities(self) -> ProviderCapabilities:
        """Returns what Mithril offers."""
        return CAPABILITIES.model_copy(deep=True)

    def get_projects(self) -> list[dict[str, Any]]:
        """Returns the account's projects."""
        return self._account.projects()

    def get_instance_types(self, region: str | None = None) -> list[dict[str, Any]]:
        """Returns the catalogue, optionally only types offered in ``region``."""
        return self._offers.instance_types(region)

    def get_ssh_keys(self) -> list[dict[str, Any]]:
        """Returns the project's registered keys (public parts only)."""
        return self._account.ssh_keys()

    def create_ssh_key(self, name: str, public_key: str | None = None) -> dict[str, Any]:
        """Registers a key, or generates a pair saved under ``FLOW_HOME/keys``."""
        return self._account.create_ssh_key(name, public_key)

    def delete_ssh_key(self, key_id: str) -> bool:
        """Deletes a key; ``False`` when it did not exist."""
        return self._account.delete_ssh_key(key_id)

    def get_init_interface(self) -> IProviderInit:
        """Returns the setup helpers."""
        return self._init

    def get_ssh_tunnel_manager(self) -> SSHTunnelManager:
        """Returns the port-forward manager (an ``ITunnelManager``)."""
        return self._tunnels

    def close(self) -> None:
        """Stops background work, tunnels and connections. Safe to call twice."""
        self._closer()
