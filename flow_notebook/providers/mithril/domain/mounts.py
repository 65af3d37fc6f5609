"""Turns a task's volumes (``VolumeSpec`` and ``volume_ids``) into bid volumes and mounts.

Checks, each failing with one line before anything is bought:

* a volume named by id or name must exist (a name with ``size_gb`` creates it);
* every existing volume must be in one region, the task's region if it names one;
* a block volume attaches to one instance only, so a multi-instance task refuses it
  (file volumes are shared and fine);
* two volumes cannot share a mount path, nor one volume be listed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from flow_notebook.core.errors import NotFoundError, TaskStateError, ValidationError
from flow_notebook.core.models import VolumeSpec
from flow_notebook.providers.mithril.api.dto import BidModel, UpdateBidRequest, VolumeModel
from flow_notebook.providers.mithril.domain.volumes import VolumeService, validate_volume_name
from flow_notebook.providers.mithril.runtime import paths
from flow_notebook.providers.mithril.runtime.startup_builder import VolumeMount


@dataclass(frozen=True)
class MountPlan:
    """Volumes a task needs, before the region is chosen.

    Attributes:
        existing: Existing volumes with the path each is mounted at.
        new: Volumes to create once the region is known.
        attach_only: Existing volumes attached without a mount path (``volume_ids``);
            they appear at ``/mnt/volumes/<volume_fid>``.
        region: The region the existing volumes pin the task to, if any.
    """

    existing: list[tuple[VolumeModel, str]] = field(default_factory=list)
    new: list[VolumeSpec] = field(default_factory=list)
    attach_only: list[VolumeModel] = field(default_factory=list)
    region: str | None = None


@dataclass(frozen=True)
class Mounts:
    """Volumes ready for the bid.

    Attributes:
        volume_ids: Every volume id for the launch specification.
        mounts: Bind mounts for the startup script.
        created: Ids of volumes created for this task (deleted if the bid fails).
    """

    volume_ids: list[str]
    mounts: list[VolumeMount]
    created: list[str]


class MountPlanner:
    """Resolves and checks volumes, and creates new ones.

    Args:
        volumes: The volume service.
    """

    def __init__(self, volumes: VolumeService) -> None:
        self._volumes = volumes

    def plan(
        self,
        specs: Sequence[VolumeSpec],
        volume_ids: Sequence[str] = (),
        *,
        num_instances: int = 1,
        region: str | None = None,
    ) -> MountPlan:
        """Resolves the volumes and runs every check that needs no region choice.

        Raises:
            NotFoundError: A volume that does not exist (and is not to be created).
            ValidationError: A region mismatch, a block volume on several instances,
                or a duplicate volume or mount path.
        """
        if not specs and not volume_ids:
            return MountPlan(region=region)
        existing: list[tuple[VolumeModel, str]] = []
        new: list[VolumeSpec] = []
        for spec in specs:
            found = self._resolve(spec)
            if found is None:
                new.append(spec)
            else:
                existing.append((found, spec.mount_path))
        attach_only = [self._volumes.find(fid) for fid in volume_ids]
        _check_duplicates(existing, new, attach_only)
        every = [v for v, _ in existing] + attach_only
        if num_instances > 1:
            _check_shareable(every, num_instances)
        pinned = _common_region(every, region)
        return MountPlan(existing, new, attach_only, pinned)

    def materialize(self, plan: MountPlan, region: str, num_instances: int = 1) -> Mounts:
        """Creates the plan's new volumes in ``region`` and returns the bid's volumes.

        New volumes are ``file`` volumes on multi-instance tasks, else ``block``.
        """
        created: list[VolumeModel] = []
        interface = "file" if num_instances > 1 else "block"
        try:
            for spec in plan.new:
                assert spec.size_gb is not None
                created.append(
                    self._volumes.create(spec.size_gb, spec.name, interface, region=region)
                )
        except BaseException:
            self.rollback([v.fid for v in created])
            raise
        mounts = [VolumeMount(v.fid, path) for v, path in plan.existing]
        mounts += [
            VolumeMount(v.fid, spec.mount_path) for v, spec in zip(created, plan.new, strict=True)
        ]
        ids = [m.volume_fid for m in mounts] + [v.fid for v in plan.attach_only]
        return Mounts(list(dict.fromkeys(ids)), mounts, [v.fid for v in created])

    def rollback(self, created: Sequence[str]) -> None:
        """Deletes volumes created for a task whose bid was not placed (best effort)."""
        for fid in created:
            try:
                self._volumes.delete(fid)
            except Exception:  # noqa: BLE001 - the original failure matters more
                continue

    def _resolve(self, spec: VolumeSpec) -> VolumeModel | None:
        if spec.volume_id:
            return self._volumes.find(spec.volume_id)
        assert spec.name is not None or spec.size_gb is not None
        if spec.name is None:
            return None
        try:
            return self._volumes.find(spec.name)
        except NotFoundError:
            if spec.size_gb is None:
                raise
            validate_volume_name(spec.name)
            return None


def _check_duplicates(
    existing: list[tuple[VolumeModel, str]], new: list[VolumeSpec], attach: list[VolumeModel]
) -> None:
    ids = [v.fid for v, _ in existing] + [v.fid for v in attach]
    repeated = sorted({fid for fid in ids if ids.count(fid) > 1})
    if repeated:
        raise ValidationError(f"volume {repeated[0]} is listed twice", field="volumes")
    mount_paths = [path for _, path in existing] + [spec.mount_path for spec in new]
    clashing = sorted({p for p in mount_paths if mount_paths.count(p) > 1})
    if clashing:
        raise ValidationError(
            f"two volumes are mounted at {clashing[0]}",
            field="volumes",
            suggestion="give each volume its own mount_path",
        )


def _check_shareable(volumes: list[VolumeModel], num_instances: int) -> None:
    for volume in volumes:
        if volume.interface == "Block":
            raise ValidationError(
                f"block volume {volume.name} ({volume.fid}) attaches to one instance, but the"
                f" task has {num_instances}",
                field="volumes",
                suggestion="use a file volume to share data between instances",
            )


def _common_region(volumes: list[VolumeModel], region: str | None) -> str | None:
    regions = sorted({v.region for v in volumes})
    if len(regions) > 1:
        raise ValidationError(
            f"the task's volumes are in different regions: {', '.join(regions)}",
            field="volumes",
            suggestion="use volumes of one region",
        )
    if regions and region and regions[0] != region:
        names = ", ".join(v.name for v in volumes if v.region == regions[0])
        raise ValidationError(
            f"volume {names} is in {regions[0]}, but the task asks for region {region}",
            field="region",
            suggestion=f"set region to {regions[0]} or use a volume in {region}",
        )
    return regions[0] if regions else region


class IBidVolumes(Protocol):
    """The bid calls that attach volumes."""

    def get_bid(self, bid_fid: str) -> BidModel:
        """Returns a bid."""
        ...

    def update_bid(self, bid_fid: str, request: UpdateBidRequest) -> BidModel:
        """Changes a bid."""
        ...


class VolumeAttacher:
    """Adds a volume to an existing task's bid.

    The platform attaches a bid's volumes when its instances start, where each
    appears at ``/mnt/volumes/<volume_fid>``; a running task sees it after its
    instances restart (e.g. pause and resume).

    Args:
        volumes: The volume service.
        bids: Bid reads and updates.
    """

    def __init__(self, volumes: VolumeService, bids: IBidVolumes) -> None:
        self._volumes = volumes
        self._bids = bids

    def attach(self, volume_id: str, task_id: str, mount_point: str | None = None) -> None:
        """Adds the volume to the task's bid after the same checks as at submit.

        Raises:
            ValidationError: Custom mount point, region mismatch or block volume on
                several instances.
            TaskStateError: The task has ended.
        """
        if mount_point not in (None, f"{paths.VOLUME_ROOT}/{volume_id}"):
            raise ValidationError(
                "an attached volume appears at /mnt/volumes/<volume_id>",
                field="mount_point",
                suggestion="mount it elsewhere at submit time with TaskConfig.volumes",
            )
        volume = self._volumes.find(volume_id)
        bid = self._bids.get_bid(task_id)
        if bid.status == "Terminated":
            raise TaskStateError(f"task {task_id} has ended; volumes cannot be attached")
        if bid.instance_quantity > 1:
            _check_shareable([volume], bid.instance_quantity)
        _common_region([volume], bid.region)
        current = list(bid.launch_specification.volumes)
        if volume.fid not in current:
            self._bids.update_bid(task_id, UpdateBidRequest(volumes=[*current, volume.fid]))
