"""Volumes, SSH keys and quotas behind ``/v2/volumes``, ``/v2/ssh-keys`` and ``/v2/quotas``.

A volume is a directory ``<root>/volumes/<volume_fid>``; every instance of a bid
that names the volume sees it at ``/mnt/volumes/<volume_fid>``, so data written by
one bid is there for the next.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flow_notebook.sandbox.catalog import INSTANCE_TYPES, REGIONS
from flow_notebook.sandbox.errors import Conflict, InvalidField, NotFound, QuotaExceeded
from flow_notebook.sandbox.market import ACTIVE
from flow_notebook.sandbox.reservations import HOLDING
from flow_notebook.sandbox.sshkeys import generate_key_pair
from flow_notebook.sandbox.state import (
    Bid,
    Project,
    Reservation,
    SshKey,
    Store,
    Volume,
    new_fid,
    utcnow,
)

STORAGE_QUOTA = "storage"
"""Key of a project's storage quota (GB) in ``Project.quotas``."""


class ResourceService:
    """Volume, SSH key and quota operations.

    Args:
        store: The records.
        volume_root: Directory that holds one subdirectory per volume.
    """

    def __init__(self, store: Store, volume_root: Path) -> None:
        self._store = store
        self._volume_root = volume_root

    def create_volume(self, project: Project, request: dict[str, Any]) -> Volume:
        """Creates a volume and its directory.

        Args:
            project: The project it belongs to.
            request: A ``CreateVolumeRequest`` body the spec validation accepted.

        Raises:
            InvalidField: Unknown region.
            QuotaExceeded: The project's storage quota would be exceeded.
        """
        if request["region"] not in REGIONS:
            raise InvalidField(("body", "region"), f"Unknown region {request['region']}")
        with self._store.lock:
            limit = project.quotas.get(STORAGE_QUOTA)
            used = self.storage_used(project)
            size_gb = request["size_gb"]
            if limit is not None and used + size_gb > limit:
                raise QuotaExceeded(
                    f"Quota exceeded: {used} of {limit} GB in use, {size_gb} GB asked"
                )
            fid = new_fid("vol")
            path = self._volume_root / fid
            path.mkdir(parents=True)
            path.chmod(0o777)  # both root and ubuntu on an instance write here
            volume = Volume(
                fid=fid,
                name=request["name"],
                region=request["region"],
                created_at=utcnow(),
                capacity_gb=size_gb,
                project=project.fid,
                interface=request["disk_interface"],
                path=path,
            )
            self._store.volumes[fid] = volume
            return volume

    def volumes(self, project: Project, region: str | None, include_deleted: bool) -> list[Volume]:
        """Returns the project's volumes, oldest first."""
        with self._store.lock:
            return [
                v
                for v in self._store.volumes.values()
                if v.project == project.fid
                and region in (None, v.region)
                and (include_deleted or v.deleted_at is None)
            ]

    def volume(self, projects: list[str], fid: str) -> Volume:
        """Returns live volume ``fid`` if it belongs to one of ``projects``.

        Raises:
            NotFound: Otherwise.
        """
        volume = self._store.volumes.get(fid)
        if volume is None or volume.project not in projects or volume.deleted_at:
            raise NotFound(f"Volume {fid} not found")
        return volume

    def delete_volume(self, projects: list[str], fid: str) -> None:
        """Deletes a volume and its data.

        Raises:
            NotFound: Unknown volume.
            Conflict: A bid that is not terminated, or a reservation that has not ended,
                still uses it.
        """
        with self._store.lock:
            volume = self.volume(projects, fid)
            users = self._users("volumes", fid)
            if users:
                raise Conflict(f"Volume {fid} is in use by {', '.join(users)}")
            volume.deleted_at = utcnow()
        shutil.rmtree(volume.path, ignore_errors=True)

    def _users(self, field: str, fid: str) -> list[str]:
        """Returns the live bids and reservations whose launch specification names ``fid``."""
        orders: list[Bid | Reservation] = [
            *(b for b in self._store.bids.values() if b.status in ACTIVE),
            *(r for r in self._store.reservations.values() if r.status in HOLDING),
        ]
        return [o.fid for o in orders if fid in o.launch_specification.get(field, [])]

    def storage_used(self, project: Project) -> int:
        """Returns GB of live volumes in ``project``."""
        return sum(
            v.capacity_gb
            for v in self._store.volumes.values()
            if v.project == project.fid and v.deleted_at is None
        )

    def create_key(self, project: Project, request: dict[str, Any]) -> tuple[SshKey, str | None]:
        """Registers a public key, or generates a pair when none is given.

        Args:
            project: The project it belongs to.
            request: A ``CreateSshKeyRequest`` body the spec validation accepted.

        Returns:
            The key and the private key (``None`` unless generated).
        """
        private = None
        public = request.get("public_key")
        if not public:
            private, public = generate_key_pair(request["name"])
        elif not public.strip().startswith(("ssh-", "ecdsa-", "sk-")):
            raise InvalidField(("body", "public_key"), "Not an OpenSSH public key")
        key = SshKey(
            fid=new_fid("sshkey"),
            name=request["name"],
            project=project.fid,
            public_key=public.strip(),
            created_at=utcnow(),
            required=bool(request.get("required", False)),
        )
        with self._store.lock:
            self._store.ssh_keys[key.fid] = key
        return key, private

    def keys(self, project: Project) -> list[SshKey]:
        """Returns the project's SSH keys, oldest first."""
        with self._store.lock:
            return [k for k in self._store.ssh_keys.values() if k.project == project.fid]

    def key(self, projects: list[str], fid: str) -> SshKey:
        """Returns SSH key ``fid`` if it belongs to one of ``projects``.

        Raises:
            NotFound: Otherwise.
        """
        key = self._store.ssh_keys.get(fid)
        if key is None or key.project not in projects:
            raise NotFound(f"SSH key {fid} not found")
        return key

    def update_key(self, projects: list[str], fid: str, request: dict[str, Any]) -> SshKey:
        """Sets whether the key is required on every instance of its project."""
        with self._store.lock:
            key = self.key(projects, fid)
            key.required = request["required"]
            return key

    def delete_key(self, projects: list[str], fid: str) -> None:
        """Deletes a key.

        Raises:
            NotFound: Unknown key.
            Conflict: An active bid or a reservation that has not ended uses it.
        """
        with self._store.lock:
            self.key(projects, fid)
            users = self._users("ssh_keys", fid)
            if users:
                raise Conflict(f"SSH key {fid} is in use by {', '.join(users)}")
            del self._store.ssh_keys[fid]

    def quotas(self, project: Project) -> list[dict[str, object]]:
        """Returns the ``QuotaModel`` bodies of ``project``."""
        with self._store.lock:
            bodies: list[dict[str, object]] = []
            for itype in INSTANCE_TYPES:
                used = sum(
                    b.instance_quantity
                    for b in self._store.bids.values()
                    if b.project == project.fid
                    and b.instance_type == itype.fid
                    and b.status in ACTIVE
                )
                bodies.append(
                    {
                        "fid": f"quota_{project.fid}_{itype.fid}",
                        "project": project.fid,
                        "instance_type": itype.fid,
                        "product_type": "Spot",
                        "total_quantity": project.quotas.get(itype.fid, 0),
                        "used_quantity": used,
                        "units": "instances",
                        "name": f"{itype.name} spot instances",
                    }
                )
            bodies.append(
                {
                    "fid": f"quota_{project.fid}_storage",
                    "project": project.fid,
                    "instance_type": None,
                    "product_type": "Storage",
                    "total_quantity": project.quotas.get(STORAGE_QUOTA, 0),
                    "used_quantity": self.storage_used(project),
                    "units": "GB",
                    "name": "Storage",
                }
            )
            return bodies
