"""Builds the Mithril provider's services from a ``FlowConfig``: the one composition root.

``Wiring`` builds each service on first use, as the real type its property says;
any of them can be replaced by passing it by name (``Wiring(config, api=my_client)``)
and every service built afterwards uses the replacement. One ``ApiClient`` serves
every service, one SSH connection pool serves every remote operation, and all local
state lives under ``<home>/mithril/`` (caches per account, task records, archived
logs, host keys).

The project id: services that need it get it when built, so they are built only
when a call needs them, and that call says a project is missing
(``ConfigurationError``). The services a provider hands out before a project is
chosen (remote operations, the tunnel manager, setup helpers) need none to be
built: they reach the project-bound services through late-bound calls.

Parts: ``market`` (``MarketWiring``: API, caches, project, catalogue, regions and
prices) and, here, the task services and everything that goes over SSH.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.config import FlowConfig, configured_run_limit
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache, TtlCache
from flow_notebook.providers.mithril.domain.code_sync import CodeSync
from flow_notebook.providers.mithril.domain.finish_watch import FinishWatcher
from flow_notebook.providers.mithril.domain.instances import InstanceService
from flow_notebook.providers.mithril.domain.log_archive import LogArchive, TaskLogs
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.domain.mounts import MountPlanner, VolumeAttacher
from flow_notebook.providers.mithril.domain.paid_cost import PaidCosts
from flow_notebook.providers.mithril.domain.provisioning import Provisioner
from flow_notebook.providers.mithril.domain.records import TaskRecords
from flow_notebook.providers.mithril.domain.reservations import ReservationService
from flow_notebook.providers.mithril.domain.reserved_tasks import (
    ReservedTaskParts,
    ReservedTasks,
    TaskSyncRouter,
)
from flow_notebook.providers.mithril.domain.script_prep import ScriptPreparationService
from flow_notebook.providers.mithril.domain.ssh_keys import SSHKeyResolver
from flow_notebook.providers.mithril.domain.submission import SubmissionParts, SubmissionService
from flow_notebook.providers.mithril.domain.task_keys import TaskKeys
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader, TaskQueries
from flow_notebook.providers.mithril.domain.tasks import TaskService
from flow_notebook.providers.mithril.domain.volumes import VolumeService
from flow_notebook.providers.mithril.remote import HostKeyStore, MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout
from flow_notebook.providers.mithril.runtime.startup_builder import StartupScriptBuilder
from flow_notebook.providers.mithril.ssh_access import LazyKeyPool, SSHAccess
from flow_notebook.providers.mithril.tunnels import SSHTunnelManager
from flow_notebook.providers.mithril.wiring_base import WiringBase, provided, require_credentials
from flow_notebook.providers.mithril.wiring_market import MarketWiring

__all__ = ["Wiring", "build", "require_credentials"]

RECORD_TTL = 90 * 24 * 3600.0
EMBED_MAX_BYTES = 4096
"""Largest code archive sent inside the startup script; larger trees go by rsync."""


def build(config: FlowConfig, **overrides: Any) -> Wiring:
    """Returns the wiring of ``config``, its project checked when one is configured.

    Raises:
        AuthenticationError: No API key, or the API rejected it.
        ConfigurationError: No project of the configured name or id.
    """
    require_credentials(config)
    built = Wiring(config, **overrides)
    if config.project:
        built.market.project  # noqa: B018 - resolves (and caches) the project now, to fail early
    return built


class Wiring(WiringBase):
    """Lazily builds every service of the provider.

    Args:
        config: Configuration (key, project, URL, region, home; ``extra`` may hold
            ``ssh_user``, ``ssh_dir``, ``instance_type``).
        **overrides: Services or collaborators to use instead of the defaults, by the
            names of this class's or ``MarketWiring``'s properties.

    Raises:
        TypeError: An override names no service.
    """

    def __init__(self, config: FlowConfig, **overrides: Any) -> None:
        unknown = set(overrides) - self.names() - MarketWiring.names()
        if unknown:
            raise TypeError(f"no Mithril service is named {', '.join(sorted(unknown))}")
        super().__init__(config, overrides)
        self.market = MarketWiring(config, overrides)

    # --- tasks -----------------------------------------------------------------------

    @provided
    def bids(self) -> BidService:
        """Bid placement with dedupe by unique name."""
        return BidService(self.market.api, self.market.project)

    @provided
    def instances(self) -> InstanceService:
        """Batched instance lookups."""
        m = self.market
        return InstanceService(m.api, m.project, m.catalog.display_name, self.ssh_user)

    @provided
    def task_service(self) -> TaskService:
        """Builds ``Task`` views."""
        pricing = self.market.pricing
        return TaskService(
            self.market.catalog.display_name,
            self.ssh_user,
            spot_price=lambda fid, region: pricing.current_price(fid, region),
        )

    @provided
    def records(self) -> TaskRecords:
        """Command lines and exit codes kept under home."""
        return TaskRecords(DiskTtlCache(self.state_dir / "records", RECORD_TTL))

    @provided
    def layout(self) -> RuntimeLayout:
        """Instance paths."""
        return RuntimeLayout(ssh_user=self.ssh_user)

    @provided
    def task_queries(self) -> TaskQueries:
        """Task views, exit codes and auto-termination."""
        return TaskQueries(
            self.bids,
            self.instances,
            self.task_service,
            self.records,
            self.exit_codes,
            # Late-bound: the archive needs remote operations, which need these views.
            before_terminate=lambda task_id: self.log_archive.save(task_id),
            extra_metadata=self._upload_metadata,
            watch_running=lambda running: self.finish_watcher.check(running),
            on_ended=lambda task_id, code: self.finish_watcher.finished(task_id, code),
            task_keys=self.task_keys,
            paid_costs=PaidCosts(self.market.api, lambda: self.market.project),
            reserved=self.reserved_tasks,
        )

    @provided
    def task_keys(self) -> TaskKeys:
        """Per-task API keys of the on-instance watcher."""
        return TaskKeys(
            self.market.api,
            self.records,
            api_url=self.config.api_url,
            project=lambda: self.market.project,
            bid_status=self._bid_status_by_name,
        )

    @provided
    def submission(self) -> SubmissionService:
        """The submit flow."""
        m = self.market
        parts = SubmissionParts(
            catalog=m.catalog,
            regions=m.regions,
            pricing=m.pricing,
            bids=self.bids,
            mounts=MountPlanner(self.volumes),
            ssh_keys=self.ssh_access.resolve,
            builder=StartupScriptBuilder(self.layout),
            script_prep=ScriptPreparationService(),
            embedder=cu.EmbeddedStrategy(max_bytes=EMBED_MAX_BYTES, select=self.select_code),
            provisioner=self.provisioner,
            records=self.records,
            tasks=self.task_service,
            task_keys=self.task_keys,
            reserved=self.reserved_tasks,
        )
        instance_type = str(self.config.extra.get("instance_type") or "a100")
        return SubmissionService(
            parts,
            default_region=self.config.region,
            default_instance_type=instance_type,
            default_max_run_hours=configured_run_limit(self.config),
        )

    @provided
    def provisioner(self) -> Provisioner:
        """Background after-boot work; a failed setup ends its task."""
        return Provisioner(
            self.instances,
            self.bids.get,
            self.instance_ops,
            self.code_sync,
            self.layout,
            on_failed=lambda task_id, reason: self.task_queries.fail(task_id, reason),
        )

    @provided
    def task_code_sync(self) -> CodeSync:
        """``%flow sync``: code to every instance of a running task."""
        return CodeSync(
            TaskSyncRouter(self.provisioner, self.reserved_tasks),
            lambda task_id: self.records.get(task_id).get("working_dir"),
            exclude=[self._home],
        )

    @provided
    def reservations(self) -> ReservationService:
        """Reservations: quotes, placement, usage, extension, early return."""
        m = self.market
        return ReservationService(
            m.api,
            m.project,
            resolve_type=m.catalog.resolve,
            display_name=m.catalog.display_name,
            default_region=m.default_region,
            ssh_key_ids=lambda: list(self.ssh_access.resolve(()).platform_key_ids),
        )

    @provided
    def reserved_tasks(self) -> ReservedTasks:
        """Tasks on reservations' instances (no bid)."""
        parts = ReservedTaskParts(
            reservations=self.reservations,
            instances=self.instances,
            remote=self.instance_ops,
            builder=StartupScriptBuilder(self.layout),
            embedder=cu.EmbeddedStrategy(max_bytes=EMBED_MAX_BYTES, select=self.select_code),
            code_sync=self.code_sync,
            records=self.records,
            exit_codes=self.exit_codes,
            layout=self.layout,
            # Late-bound: the archive reads logs through the task views.
            archive=lambda task_id: self.log_archive.save(task_id),
        )
        return ReservedTasks(parts)

    # --- volumes ---------------------------------------------------------------------

    @provided
    def volume_attacher(self) -> VolumeAttacher:
        """Attaches volumes to tasks that already run."""
        return VolumeAttacher(self.volumes, self.market.api)

    @provided
    def volumes(self) -> VolumeService:
        """Volume CRUD and transfers through running tasks."""
        m = self.market
        return VolumeService(m.api, m.project, m.default_region, self.remote_ops)

    # --- SSH ---------------------------------------------------------------------------

    @provided
    def ssh_access(self) -> SSHAccess:
        """SSH key resolution, done once, lazily."""
        ssh_dir = self.config.extra.get("ssh_dir")
        resolver = SSHKeyResolver(
            self.market.api,
            self.market.project,
            self.config,
            Path(ssh_dir) if ssh_dir else None,
        )
        return SSHAccess(resolver)

    @provided
    def pool(self) -> LazyKeyPool:
        """One SSH connection per instance, host keys trusted per instance.

        Built without the project: the login key is resolved at the first connection.
        """
        return LazyKeyPool(
            lambda: self.ssh_access.private_key_path(), HostKeyStore.under_home(self._home)
        )

    @provided
    def ssh_multiplexer(self) -> SSHMultiplexer:
        """Shared ssh connections for rsync runs (no handshake per re-sync); ended on close."""
        return SSHMultiplexer()

    @provided
    def remote_ops(self) -> MithrilRemoteOperations:
        """Remote operations on a task's first instance (keyed by task id); no project needed."""
        return MithrilRemoteOperations(
            lambda task_id: self.task_queries.endpoints(task_id), self.pool
        )

    @provided
    def instance_ops(self) -> MithrilRemoteOperations:
        """Remote operations on one instance (keyed by instance id)."""
        return MithrilRemoteOperations(self.instances.known_endpoint, self.pool)

    @provided
    def exit_codes(self) -> ExitCodeReader:
        """Reads the exit code files of instances over SSH."""
        return ExitCodeReader(self.instance_ops, self.layout)

    @provided
    def finish_watcher(self) -> FinishWatcher:
        """Finds, in the background, listed tasks whose command has ended."""
        return FinishWatcher(self.exit_codes.read, self.task_queries.finish)

    @provided
    def log_archive(self) -> LogArchive:
        """Logs kept after a task's instances are gone."""
        return LogArchive(self.state_dir / "logs", self.remote_ops)

    @provided
    def logs(self) -> TaskLogs:
        """Task logs: archived or live."""
        status = self.task_queries.status
        live = LogService(self.remote_ops, status, TtlCache(60.0, 64))
        return TaskLogs(live, self.log_archive, status)

    @provided
    def tunnels(self) -> SSHTunnelManager:
        """Local port forwards to instances; no project needed."""
        return SSHTunnelManager(lambda task_id: self.task_queries.endpoints(task_id), self.pool)

    def code_sync(self, working_dir: str) -> cu.CodeUploadService:
        """Returns the code uploader (rsync, else SFTP) for a working directory."""
        ops = self.instance_ops
        rsync = cu.RsyncStrategy(ops, ssh_options=self.ssh_multiplexer.options)
        strategies: list[cu.ICodeUploadStrategy] = [rsync, cu.SftpStrategy(ops)]
        return cu.CodeUploadService(
            strategies, ops, remote_root=self.layout.at(working_dir), select=self.select_code
        )

    def select_code(self, root: Path) -> Iterator[Path]:
        """Selects the files of ``root`` to send, never those under ``FLOW_HOME``."""
        # FLOW_HOME may sit inside the code directory and holds the API key.
        return iter_code_files(root, exclude=[self._home])

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Stops workers and closes connections of what was built. Safe to call twice."""
        tunnels = self.built("tunnels")
        if tunnels is not None:
            tunnels.close_all()
        for name in ("provisioner", "finish_watcher", "ssh_multiplexer", "pool"):
            target = self.built(name)
            if target is not None:
                target.close()
        self.market.close()

    def _bid_status_by_name(self, name: str) -> str | None:
        found = self.market.api.list_bids(self.market.project, name=name, limit=1).data
        return found[0].status if found else None

    def _upload_metadata(self, task_id: str) -> dict[str, Any]:
        provisioner: Provisioner | None = self.built("provisioner")
        status = provisioner.upload_status(task_id) if provisioner else None
        return {"upload": status} if status else {}
