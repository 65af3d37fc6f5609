"""Builds the Mithril provider's services from a ``FlowConfig``: the one composition root.

``Wiring`` builds each service on first use; any of them can be replaced by
passing it by name (``Wiring(config, api=my_client)``), and every service built
afterwards uses the replacement. One ``ApiClient`` serves every service, one SSH
connection pool serves every remote operation, and all local state lives under
``<home>/mithril/`` (caches per account, task records, archived logs, host keys).

The builders live in three parts: the API and market (``wiring_market.py``), SSH
and remote work (``wiring_remote.py``) and, here, the task services.
"""

from __future__ import annotations

from typing import Any

from flow_notebook.core.config import FlowConfig, configured_run_limit
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache
from flow_notebook.providers.mithril.domain.code_sync import CodeSync
from flow_notebook.providers.mithril.domain.instances import InstanceService
from flow_notebook.providers.mithril.domain.mounts import MountPlanner, VolumeAttacher
from flow_notebook.providers.mithril.domain.paid_cost import PaidCosts
from flow_notebook.providers.mithril.domain.provisioning import Provisioner
from flow_notebook.providers.mithril.domain.records import TaskRecords
from flow_notebook.providers.mithril.domain.reservations import ReservationService
from flow_notebook.providers.mithril.domain.script_prep import ScriptPreparationService
from flow_notebook.providers.mithril.domain.submission import SubmissionParts, SubmissionService
from flow_notebook.providers.mithril.domain.task_keys import TaskKeys
from flow_notebook.providers.mithril.domain.task_queries import TaskQueries
from flow_notebook.providers.mithril.domain.tasks import TaskService
from flow_notebook.providers.mithril.domain.volumes import VolumeService
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout
from flow_notebook.providers.mithril.runtime.startup_builder import StartupScriptBuilder
from flow_notebook.providers.mithril.wiring_base import Deferred, provided, require_credentials
from flow_notebook.providers.mithril.wiring_market import MarketWiring
from flow_notebook.providers.mithril.wiring_remote import RemoteWiring

__all__ = ["Deferred", "Wiring", "build", "require_credentials"]

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
        built.project  # noqa: B018 - resolves (and caches) the project now, to fail early
    return built


class Wiring(MarketWiring, RemoteWiring):
    """Lazily builds every service of the provider.

    Args:
        config: Configuration (key, project, URL, region, home; ``extra`` may hold
            ``ssh_user``, ``ssh_dir``, ``instance_type``).
        **overrides: Services or collaborators to use instead of the defaults,
            by the names of this class's properties.
    """

    @provided
    def bids(self) -> BidService:
        """Bid placement with dedupe by unique name."""
        return BidService(self.api, self.project)

    @provided
    def instances(self) -> InstanceService:
        """Batched instance lookups."""
        return InstanceService(self.api, self.project, self.catalog.display_name, self.ssh_user)

    @provided
    def task_service(self) -> TaskService:
        """Builds ``Task`` views."""
        return TaskService(
            self.catalog.display_name,
            self.ssh_user,
            spot_price=lambda fid, region: self.pricing.current_price(fid, region),
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
            task_keys=self.task_keys,
            paid_costs=PaidCosts(self.api, lambda: self.project),
        )

    @provided
    def task_keys(self) -> TaskKeys:
        """Per-task API keys of the on-instance watcher."""
        return TaskKeys(
            self.api,
            self.records,
            api_url=self.config.api_url,
            project=lambda: self.project,
            bid_status=self._bid_status_by_name,
        )

    @provided
    def submission(self) -> SubmissionService:
        """The submit flow."""
        parts = SubmissionParts(
            catalog=self.catalog,
            regions=self.regions,
            pricing=self.pricing,
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
        """Background after-boot work."""
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
            self.provisioner,
            lambda task_id: self.records.get(task_id).get("working_dir"),
            exclude=[self._home],
        )

    @provided
    def reservations(self) -> ReservationService:
        """Reservations: quotes, placement, usage, extension, early return."""
        return ReservationService(
            self.api,
            self.project,
            resolve_type=self.catalog.resolve,
            display_name=self.catalog.display_name,
            default_region=self._default_region,
            ssh_key_ids=lambda: list(self.ssh_access.resolve(()).platform_key_ids),
        )

    @provided
    def volume_attacher(self) -> VolumeAttacher:
        """Attaches volumes to tasks that already run."""
        return VolumeAttacher(self.volumes, self.api)

    @provided
    def volumes(self) -> VolumeService:
        """Volume CRUD and transfers through running tasks."""
        return VolumeService(self.api, self.project, self._default_region, self.remote_ops)

    def deferred(self, name: str) -> Any:
        """Returns a stand-in for the service ``name`` that builds it on first use."""
        return Deferred(self, name)

    def close(self) -> None:
        """Stops workers and closes connections of what was built. Safe to call twice."""
        built = dict(self._built)
        names = ("tunnels", "provisioner", "finish_watcher", "ssh_multiplexer", "pool", "api")
        for name in names:
            target = built.get(name)
            closer = getattr(target, "close_all", None) or getattr(target, "close", None)
            if closer is not None:
                closer()
        for name in ("disk_cache", "availability_cache"):
            if name in built:
                built[name].close()

    def _bid_status_by_name(self, name: str) -> str | None:
        found = self.api.list_bids(self.project, name=name, limit=1).data
        return found[0].status if found else None

    def _upload_metadata(self, task_id: str) -> dict[str, Any]:
        if "provisioner" not in self._built:
            return {}
        status = self.provisioner.status(task_id)
        return {"upload": status.as_dict()} if status else {}
