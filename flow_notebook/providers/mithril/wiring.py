"""Builds the Mithril provider's services from a ``FlowConfig``: the one composition root.

``Wiring`` builds each service on first use; any of them can be replaced by
passing it by name (``Wiring(config, api=my_client)``), and every service built
afterwards uses the replacement. One ``ApiClient`` serves every service, one SSH
connection pool serves every remote operation, and all local state lives under
``<home>/mithril/`` (caches per account, task records, archived logs, host keys).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import AuthenticationError
from flow_notebook.providers.mithril.adapters.convert import DEFAULT_SSH_USER
from flow_notebook.providers.mithril.api.client import ApiClient
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.domain.account import AccountService, resolve_project
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache, TtlCache
from flow_notebook.providers.mithril.domain.code_sync import CodeSync
from flow_notebook.providers.mithril.domain.finish_watch import FinishWatcher
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.instances import InstanceService
from flow_notebook.providers.mithril.domain.log_archive import LogArchive, TaskLogs
from flow_notebook.providers.mithril.domain.logs import LogService
from flow_notebook.providers.mithril.domain.mounts import MountPlanner, VolumeAttacher
from flow_notebook.providers.mithril.domain.offers import OfferService
from flow_notebook.providers.mithril.domain.price_history import PriceHistoryService
from flow_notebook.providers.mithril.domain.pricing import AuctionPricingSource, PricingService
from flow_notebook.providers.mithril.domain.provisioning import Provisioner
from flow_notebook.providers.mithril.domain.records import TaskRecords
from flow_notebook.providers.mithril.domain.region import CapacityThenPricePolicy, RegionSelector
from flow_notebook.providers.mithril.domain.script_prep import ScriptPreparationService
from flow_notebook.providers.mithril.domain.ssh_keys import SSHKeyResolver
from flow_notebook.providers.mithril.domain.submission import SubmissionParts, SubmissionService
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader, TaskQueries
from flow_notebook.providers.mithril.domain.tasks import TaskService
from flow_notebook.providers.mithril.domain.volumes import VolumeService
from flow_notebook.providers.mithril.init_interface import MithrilInit
from flow_notebook.providers.mithril.remote import HostKeyStore, MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout
from flow_notebook.providers.mithril.runtime.startup_builder import StartupScriptBuilder
from flow_notebook.providers.mithril.ssh_access import LazyKeyPool, SSHAccess
from flow_notebook.providers.mithril.tunnels import SSHTunnelManager

CATALOG_TTL = 6 * 3600.0
AVAILABILITY_TTL = 30.0
RECORD_TTL = 90 * 24 * 3600.0
EMBED_MAX_BYTES = 4096
"""Largest code archive sent inside the startup script; larger trees go by rsync."""


def require_credentials(config: FlowConfig) -> None:
    """Fails fast, with one line, when the API key is missing.

    A missing project is not an error here: setup lists the key's projects before one
    is chosen, and every call that needs the project says it is missing.

    Raises:
        AuthenticationError: No API key.
    """
    if config.api_key is None or not config.api_key.get_secret_value():
        raise AuthenticationError(
            "no Mithril API key configured",
            suggestion="run %flow setup or set MITHRIL_API_KEY",
        )


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


class Deferred:
    """Stands for a service of a ``Wiring`` and builds it on first use.

    Lets a provider exist before a project is chosen: only calls that need the
    project (and so its services) fail, with ``ConfigurationError``.

    Args:
        wiring: Builds the service.
        name: The service's property name on ``Wiring``.
    """

    def __init__(self, wiring: Wiring, name: str) -> None:
        self._wiring = wiring
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(getattr(self._wiring, self._name), attribute)

    def __repr__(self) -> str:
        return f"Deferred({self._name})"


def _provided(method: Callable[[Wiring], Any]) -> Any:
    """Turns a builder method into a property that honours overrides and builds once."""
    name = method.__name__

    @functools.wraps(method)
    def get(self: Wiring) -> Any:
        with self._lock:
            if name not in self._built:
                built = self._overrides[name] if name in self._overrides else method(self)
                self._built[name] = built
            return self._built[name]

    return property(get)


class Wiring:
    """Lazily builds every service of the provider.

    Args:
        config: Configuration (key, project, URL, region, home; ``extra`` may hold
            ``ssh_user``, ``ssh_dir``, ``instance_type``).
        **overrides: Services or collaborators to use instead of the defaults,
            by the names of this class's properties.
    """

    def __init__(self, config: FlowConfig, **overrides: Any) -> None:
        self.config = config
        self._overrides = overrides
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.state_dir = Path(config.home) / "mithril"
        self.ssh_user = str(config.extra.get("ssh_user") or DEFAULT_SSH_USER)

    # --- HTTP and account ------------------------------------------------------------

    @_provided
    def api(self) -> ApiClient:
        """The one pooled API client."""
        return ApiClient.from_config(self.config)

    @_provided
    def disk_cache(self) -> DiskTtlCache:
        """Long-lived cache of this account (catalogue, projects)."""
        return DiskTtlCache(self._account_dir / "catalog", CATALOG_TTL)

    @_provided
    def availability_cache(self) -> DiskTtlCache:
        """Short-lived cache of spot availability."""
        return DiskTtlCache(self._account_dir / "availability", AVAILABILITY_TTL)

    @_provided
    def project(self) -> str:
        """The project id (the configured name or id, resolved once and cached)."""
        return resolve_project(self.api, self.config.project, self.disk_cache)

    @_provided
    def account(self) -> AccountService:
        """Users, projects and SSH keys."""
        return AccountService(self.api, self.project, self.config.home / "keys")

    # --- market ----------------------------------------------------------------------

    @_provided
    def catalog(self) -> InstanceTypeCatalog:
        """Instance types."""
        return InstanceTypeCatalog(self.api, self.disk_cache)

    @_provided
    def regions(self) -> RegionSelector:
        """Availability and region choice."""
        return RegionSelector(
            self.api, CapacityThenPricePolicy(), self.availability_cache, self.catalog.display_name
        )

    @_provided
    def pricing(self) -> PricingService:
        """Limit prices from the (cached) auctions."""
        return PricingService(AuctionPricingSource(_CachedAuctions(self.regions)))

    @_provided
    def offers(self) -> OfferService:
        """Offer search and GPU request normalization."""
        return OfferService(self.catalog, self.regions)

    # --- tasks -----------------------------------------------------------------------

    @_provided
    def bids(self) -> BidService:
        """Bid placement with dedupe by unique name."""
        return BidService(self.api, self.project)

    @_provided
    def instances(self) -> InstanceService:
        """Batched instance lookups."""
        return InstanceService(self.api, self.project, self.catalog.display_name, self.ssh_user)

    @_provided
    def task_service(self) -> TaskService:
        """Builds ``Task`` views."""
        return TaskService(self.catalog.display_name, self.ssh_user)

    @_provided
    def records(self) -> TaskRecords:
        """Command lines and exit codes kept under home."""
        return TaskRecords(DiskTtlCache(self.state_dir / "records", RECORD_TTL))

    @_provided
    def layout(self) -> RuntimeLayout:
        """Instance paths."""
        return RuntimeLayout(ssh_user=self.ssh_user)

    @_provided
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
        )

    @_provided
    def exit_codes(self) -> ExitCodeReader:
        """Reads the exit code files of instances over SSH."""
        return ExitCodeReader(self.instance_ops, self.layout)

    @_provided
    def finish_watcher(self) -> FinishWatcher:
        """Finds, in the background, listed tasks whose command has ended."""
        return FinishWatcher(self.exit_codes.read, self.task_queries.finish)

    @_provided
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
        )
        instance_type = str(self.config.extra.get("instance_type") or "a100")
        return SubmissionService(
            parts, default_region=self.config.region, default_instance_type=instance_type
        )

    @_provided
    def provisioner(self) -> Provisioner:
        """Background after-boot work."""
        return Provisioner(
            self.instances, self.bids.get, self.instance_ops, self.code_sync, self.layout
        )

    @_provided
    def task_code_sync(self) -> CodeSync:
        """``%flow sync``: code to every instance of a running task."""
        return CodeSync(
            self.provisioner,
            lambda task_id: self.records.get(task_id).get("working_dir"),
            exclude=[self._home],
        )

    @_provided
    def price_history(self) -> PriceHistoryService:
        """Past spot prices."""
        return PriceHistoryService(self.api, self.catalog.resolve, self.catalog.display_name)

    @_provided
    def volume_attacher(self) -> VolumeAttacher:
        """Attaches volumes to tasks that already run."""
        return VolumeAttacher(self.volumes, self.api)

    @_provided
    def volumes(self) -> VolumeService:
        """Volume CRUD and transfers through running tasks."""
        return VolumeService(self.api, self.project, self._default_region, self.remote_ops)

    # --- SSH -------------------------------------------------------------------------

    @_provided
    def ssh_access(self) -> SSHAccess:
        """SSH key resolution, done once, lazily."""
        ssh_dir = self.config.extra.get("ssh_dir")
        resolver = SSHKeyResolver(
            self.api, self.project, self.config, Path(ssh_dir) if ssh_dir else None
        )
        return SSHAccess(resolver)

    @_provided
    def pool(self) -> LazyKeyPool:
        """One SSH connection per instance, host keys trusted per instance."""
        return LazyKeyPool(self.ssh_access.private_key_path, HostKeyStore.under_home(self._home))

    @_provided
    def ssh_multiplexer(self) -> SSHMultiplexer:
        """Shared ssh connections for rsync runs (no handshake per re-sync); ended on close."""
        return SSHMultiplexer()

    @_provided
    def remote_ops(self) -> MithrilRemoteOperations:
        """Remote operations on a task's first instance (keyed by task id)."""
        return MithrilRemoteOperations(
            lambda task_id: self.task_queries.endpoints(task_id),
            self.pool,  # type: ignore[arg-type]
        )

    @_provided
    def instance_ops(self) -> MithrilRemoteOperations:
        """Remote operations on one instance (keyed by instance id)."""
        return MithrilRemoteOperations(self.instances.known_endpoint, self.pool)  # type: ignore[arg-type]

    @_provided
    def log_archive(self) -> LogArchive:
        """Logs kept after a task's instances are gone."""
        return LogArchive(self.state_dir / "logs", self.remote_ops)

    @_provided
    def logs(self) -> TaskLogs:
        """Task logs: archived or live."""
        live = LogService(self.remote_ops, self.task_queries.status, TtlCache(60.0, 64))
        return TaskLogs(live, self.log_archive, self.task_queries.status)

    @_provided
    def tunnels(self) -> SSHTunnelManager:
        """Local port forwards to instances."""
        return SSHTunnelManager(self.task_queries.endpoints, self.pool)

    @_provided
    def init_interface(self) -> MithrilInit:
        """Setup helpers."""
        return MithrilInit(self.config)

    def code_sync(self, working_dir: str) -> cu.CodeUploadService:
        """Returns the code uploader (rsync, else SFTP) for a working directory."""
        ops = self.instance_ops
        rsync = cu.RsyncStrategy(ops, ssh_options=self.ssh_multiplexer.options)
        strategies = [rsync, cu.SftpStrategy(ops)]
        return cu.CodeUploadService(
            strategies, ops, remote_root=self.layout.at(working_dir), select=self.select_code
        )

    def select_code(self, root: Path) -> Iterator[Path]:
        """Selects the files of ``root`` to send, never those under ``FLOW_HOME``."""
        # FLOW_HOME may sit inside the code directory and holds the API key.
        return iter_code_files(root, exclude=[self._home])

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

    @property
    def _home(self) -> Path:
        return Path(self.config.home)

    @property
    def _account_dir(self) -> Path:
        # Caches are per account, so two keys never see each other's projects.
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        digest = hashlib.sha256(f"{self.config.api_url}\n{key}".encode()).hexdigest()[:16]
        return self.state_dir / "cache" / digest

    def _default_region(self) -> str:
        if self.config.region:
            return self.config.region
        offers = sorted(self.regions.offers(), key=lambda o: (-o.capacity, o.price, o.region))
        return offers[0].region if offers else "us-central1-a"

    def _upload_metadata(self, task_id: str) -> dict[str, Any]:
        if "provisioner" not in self._built:
            return {}
        status = self.provisioner.status(task_id)
        return {"upload": status.as_dict()} if status else {}


class _CachedAuctions:
    """Gives the pricing source the region selector's cached auctions."""

    def __init__(self, regions: RegionSelector) -> None:
        self._regions = regions

    def list_spot_availability(self) -> list[Any]:
        """Returns the cached auctions."""
        return self._regions.auctions()
