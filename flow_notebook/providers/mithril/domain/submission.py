"""The submit flow: from a ``TaskConfig`` to a placed bid, returned at once.

Steps, in order, each failing with one line before money is spent:
resolve the instance type -> plan the volumes (existence, region, sharing) ->
choose a region with capacity and a limit price -> resolve SSH keys -> decide how
code travels (embedded when the archive is small, else uploaded after boot) ->
build the startup script and fit it under the size limit (inline, compressed or
split) -> create new volumes -> place the bid (deduplicated by its unique name) ->
start the background provisioning (rank files, deferred script, code upload).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from flow_notebook.core.errors import ValidationError
from flow_notebook.core.models import Task, TaskConfig
from flow_notebook.providers.mithril.api.dto import BidModel, CreateBidRequest
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.code_upload import EmbeddedStrategy
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog
from flow_notebook.providers.mithril.domain.mounts import MountPlanner
from flow_notebook.providers.mithril.domain.pricing import PricingService
from flow_notebook.providers.mithril.domain.provisioning import Provisioner, ProvisionJob
from flow_notebook.providers.mithril.domain.records import TaskRecords
from flow_notebook.providers.mithril.domain.region import RegionSelector
from flow_notebook.providers.mithril.domain.reserved_tasks import ReservedTasks
from flow_notebook.providers.mithril.domain.script_prep import ScriptPreparationService
from flow_notebook.providers.mithril.domain.ssh_keys import ResolvedSSHKeys
from flow_notebook.providers.mithril.domain.task_keys import TaskKeys
from flow_notebook.providers.mithril.domain.tasks import TaskService
from flow_notebook.providers.mithril.errors.messages import enhance_price_error
from flow_notebook.providers.mithril.runtime.container import check_image, check_registry_secrets
from flow_notebook.providers.mithril.runtime.startup_builder import (
    StartupScriptBuilder,
    render_secrets,
)

DEFAULT_INSTANCE_TYPE = "a100"


@dataclass(frozen=True)
class SubmissionParts:
    """The collaborators of ``SubmissionService``.

    Attributes:
        catalog: Instance types.
        regions: Region selection.
        pricing: Limit prices.
        bids: Bid placement.
        mounts: Volume planning.
        ssh_keys: Resolves the keys a bid carries (requested names -> ids and key).
        builder: Startup script builder.
        script_prep: Fits the script under the size limit.
        embedder: Packs small code trees into the script.
        provisioner: After-boot work.
        records: Local task records.
        tasks: Builds ``Task`` views.
        task_keys: Mints the task key of the on-instance watcher; ``None`` leaves
            tasks unwatched (they end when a kernel notices).
        reserved: Starts tasks that name a reservation (no bid).
    """

    catalog: InstanceTypeCatalog
    regions: RegionSelector
    pricing: PricingService
    bids: BidService
    mounts: MountPlanner
    ssh_keys: Callable[[Sequence[str]], ResolvedSSHKeys]
    builder: StartupScriptBuilder
    script_prep: ScriptPreparationService
    embedder: EmbeddedStrategy
    provisioner: Provisioner
    records: TaskRecords
    tasks: TaskService
    task_keys: TaskKeys | None = None
    reserved: ReservedTasks | None = None


class SubmissionService:
    """Prepares configs and submits tasks.

    Args:
        parts: The collaborators.
        default_region: Region used when a task names none (``None``: any).
        default_instance_type: Instance type used when a task names none.
        default_max_run_hours: Run-time limit of tasks that set none (config file's
            ``max_run_time``), if any.
    """

    def __init__(
        self,
        parts: SubmissionParts,
        *,
        default_region: str | None = None,
        default_instance_type: str = DEFAULT_INSTANCE_TYPE,
        default_max_run_hours: float | None = None,
    ) -> None:
        self._p = parts
        self._region = default_region
        self._instance_type = default_instance_type
        self._max_run_hours = default_max_run_hours

    def prepare_task_config(self, config: TaskConfig) -> TaskConfig:
        """Returns a copy with the instance type (as an id), region and code root filled.

        Raises:
            ValidationError: Unknown instance type, an image name that is not a Docker
                reference, registry credentials half given or without an image, or a
                code root that is not a directory.
        """
        if config.image is not None:
            check_image(config.image)
        check_registry_secrets(config)
        prepared = config.model_copy(deep=True)
        prepared.instance_type = self._p.catalog.resolve(
            config.instance_type or self._instance_type
        )
        prepared.region = config.region or self._region
        if prepared.max_run_time_hours is None:
            prepared.max_run_time_hours = self._max_run_hours
        if prepared.upload_code:
            root = Path(prepared.code_root or Path.cwd())
            if not root.is_dir():
                raise ValidationError(f"code root {root} is not a directory", field="code_root")
            prepared.code_root = root
        return prepared

    def submit(
        self, instance_type: str, config: TaskConfig, volume_ids: Sequence[str] | None = None
    ) -> Task:
        """Places the task's bid and returns the task at once (``pending``).

        Raises:
            FlowError: Any check or API refusal; nothing is left behind.
        """
        config = self.prepare_task_config(
            config.model_copy(update={"instance_type": instance_type or config.instance_type})
        )
        if config.reservation_id and self._p.reserved is not None:
            return self._p.reserved.submit(config)
        fid = config.instance_type or ""
        quantity = config.num_instances
        plan = self._p.mounts.plan(
            config.volumes, volume_ids or (), num_instances=quantity, region=config.region
        )
        offer = self._p.regions.select(
            fid, quantity=quantity, region=plan.region, max_price=config.max_price_per_hour
        )
        fid = offer.instance_type_fid  # a twin of the asked type when that one had room
        limit = self._p.pricing.recommended_limit_price(
            fid,
            offer.region,
            max_price=config.max_price_per_hour,
            display_name=self._p.catalog.display_name(fid),
        )
        keys = self._p.ssh_keys(config.ssh_keys)
        code, upload_root = self._p.embedder.plan(config)
        mounts = self._p.mounts.materialize(plan, offer.region, quantity)
        bid_name = self._p.bids.unique_name(config.name)
        watch = None
        try:
            if self._p.task_keys is not None:
                watch = self._p.task_keys.mint(config, bid_name, limit)
            script = self._p.builder.build(config, volumes=mounts.mounts, code=code, watch=watch)
            prepared = self._p.script_prep.prepare(script)
            request = self._p.bids.build_request(
                name=bid_name,
                region=offer.region,
                instance_type_fid=fid,
                limit_price=limit,
                quantity=quantity,
                startup_script=prepared.startup_script,
                ssh_key_ids=keys.platform_key_ids,
                volume_ids=mounts.volume_ids,
            )
            bid = self._place(request, fid, offer.region)
        except BaseException:
            self._p.mounts.rollback(mounts.created)
            if watch is not None and self._p.task_keys is not None:
                self._p.task_keys.revoke(watch.key_fid)
            raise
        if watch is not None and self._p.task_keys is not None:
            self._p.task_keys.remember(bid.fid, watch)
        self._p.records.update(
            bid.fid,
            command=config.command_line(),
            name=config.name,
            working_dir=config.working_dir,
            keep_alive=config.keep_alive,
            image=config.image,
        )
        job = ProvisionJob(
            bid_fid=bid.fid,
            num_instances=quantity,
            deferred_script=prepared.deferred_script,
            secrets=render_secrets(config) if config.secrets else None,
            code_root=upload_root,
            working_dir=config.working_dir,
        )
        status = self._p.provisioner.start(job)
        task = self._p.tasks.build_task(bid, [], command=config.command_line())
        task.name = config.name
        task.metadata.update(
            bid_name=bid.name,
            startup_script_strategy=prepared.strategy,
            code=code.mode,
            image=config.image,
            upload=status.as_dict() if status else None,
        )
        return task

    def _place(self, request: CreateBidRequest, fid: str, region: str) -> BidModel:
        try:
            return self._p.bids.place(request)
        except ValidationError as exc:
            # A refused limit price is more useful with today's price next to it.
            current = self._p.pricing.current_price(fid, region)
            enhanced = enhance_price_error(exc, current, self._p.catalog.display_name(fid), region)
            if enhanced is exc:
                raise
            raise enhanced from exc
