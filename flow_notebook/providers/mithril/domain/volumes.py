"""Volumes: create, delete and list them; move files in and out through a running task.

Mithril has no file API for volumes: data moves over SSH through an instance that
has the volume attached, where it appears at ``/mnt/volumes/<volume_fid>``. So
uploads and downloads need a running task with the volume; without one the error
says so and what to do, rather than booting a paid instance behind the user's back.
"""

from __future__ import annotations

import posixpath
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from flow_notebook.core.errors import (
    NotFoundError,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)
from flow_notebook.core.models import Volume
from flow_notebook.providers.mithril.adapters.convert import volume_to_core
from flow_notebook.providers.mithril.api import dto
from flow_notebook.providers.mithril.runtime import paths

VOLUME_ID_PREFIX = "vol_"
_NAME_RE = re.compile(dto.VOLUME_NAME_PATTERN)
_INTERFACES: dict[str, dto.DiskInterface] = {"block": "Block", "file": "File"}


class VolumesApi(Protocol):
    """The part of ``ApiClient`` that handles volumes."""

    def list_volumes(
        self, project: str, *, region: str | None = None, include_deleted: bool = False
    ) -> list[dto.VolumeModel]:
        """Returns a project's volumes."""
        ...

    def create_volume(self, request: dto.CreateVolumeRequest) -> dto.VolumeModel:
        """Creates a volume and returns it. A ``POST``: sent once, not retried.

        Raises:
            QuotaExceededError: The project's storage quota would be exceeded.
            ValidationError: The API rejected the request's values.
        """
        ...

    def delete_volume(self, volume_fid: str) -> None:
        """Deletes a volume (a ``DELETE``, retried).

        Raises:
            NotFoundError: No volume has this id (``VolumeService.delete`` maps it to
                ``False``).
        """
        ...


class IVolumeTransfer(Protocol):
    """File transfers to a task's first instance (``MithrilRemoteOperations`` fits)."""

    def upload_file(self, task_id: str, local_path: Path, remote_path: str) -> int:
        """Uploads one file."""
        ...

    def upload_directory(self, task_id: str, local_dir: Path, remote_dir: str) -> int:
        """Uploads a tree."""
        ...

    def download_file(
        self, task_id: str, remote_path: str, local_dir: Path, name: str | None = None
    ) -> Path:
        """Downloads one file into ``local_dir``."""
        ...

    def download_directory(self, task_id: str, remote_dir: str, local_dir: Path) -> list[Path]:
        """Downloads a tree into ``local_dir``."""
        ...


def is_volume_id(identifier: str) -> bool:
    """Whether ``identifier`` is a volume id (``vol_...``) rather than a name."""
    return identifier.startswith(VOLUME_ID_PREFIX) and len(identifier) > len(VOLUME_ID_PREFIX)


def validate_volume_name(name: str) -> str:
    """Returns ``name`` if the API accepts it as a volume name.

    Raises:
        ValidationError: Not lowercase letters, digits and dashes, or too long.
    """
    if len(name) > dto.VOLUME_NAME_MAX_LENGTH or not _NAME_RE.match(name):
        raise ValidationError(
            f"volume name {name!r} is not valid",
            field="name",
            suggestion="use lowercase letters, digits and '-', starting with a letter,"
            f" at most {dto.VOLUME_NAME_MAX_LENGTH} characters",
        )
    return name


class VolumeService:
    """A project's volumes.

    Args:
        api: The volume endpoints.
        project: Project id.
        default_region: Returns the region for new volumes when none is given.
        transfer: Moves files to and from a task's instance.
    """

    def __init__(
        self,
        api: VolumesApi,
        project: str,
        default_region: Callable[[], str],
        transfer: IVolumeTransfer,
    ) -> None:
        self._api = api
        self._project = project
        self._default_region = default_region
        self._transfer = transfer

    def create(
        self,
        size_gb: int,
        name: str | None = None,
        interface: str = "block",
        region: str | None = None,
    ) -> dto.VolumeModel:
        """Creates a volume; the name is checked before any request.

        Raises:
            ValidationError: Bad name, size or interface.
        """
        disk = _INTERFACES.get(interface.lower())
        if disk is None:
            raise ValidationError(
                f"volume interface must be 'block' or 'file', not {interface!r}", field="interface"
            )
        if not 0 < size_gb < dto.VOLUME_SIZE_GB_LIMIT:
            raise ValidationError(f"volume size {size_gb} GB is out of range", field="size_gb")
        chosen = validate_volume_name(name) if name else f"flow-vol-{secrets.token_hex(4)}"
        request = dto.CreateVolumeRequest(
            name=chosen,
            project=self._project,
            disk_interface=disk,
            region=region or self._default_region(),
            size_gb=size_gb,
        )
        return self._api.create_volume(request)

    def delete(self, volume_id: str) -> bool:
        """Deletes a volume; ``False`` when it did not exist."""
        try:
            self._api.delete_volume(volume_id)
        except NotFoundError:
            return False
        return True

    def all(self) -> list[dto.VolumeModel]:
        """Returns the project's live volumes."""
        return self._api.list_volumes(self._project)

    def list(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes as core models."""
        return [volume_to_core(v) for v in self.all()[: max(0, limit)]]

    def find(self, id_or_name: str) -> dto.VolumeModel:
        """Returns the volume with this id or name.

        Raises:
            NotFoundError: No such volume, or the name is ambiguous.
        """
        volumes = self.all()
        key = "fid" if is_volume_id(id_or_name) else "name"
        matches = [v for v in volumes if getattr(v, key) == id_or_name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise NotFoundError(
                f"{len(matches)} volumes are named {id_or_name!r}", suggestion="use the volume id"
            )
        raise NotFoundError(
            f"no volume {id_or_name!r} in project {self._project}",
            suggestion="list volumes to see their ids and names",
        )

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None) -> bool:
        """Copies a local file into the volume through a running task that has it."""
        source = Path(local_path)
        if not source.is_file():
            raise ValidationError(f"no local file {source}", field="local_path")
        target = volume_path(volume_id, remote_path or source.name)
        self._through_task(volume_id, lambda task: self._transfer.upload_file(task, source, target))
        return True

    def upload_directory(self, volume_id: str, local_path: Path, remote_path: str | None) -> bool:
        """Copies a local tree into the volume (default: under its own name)."""
        source = Path(local_path)
        if not source.is_dir():
            raise ValidationError(f"no local directory {source}", field="local_path")
        target = volume_path(volume_id, remote_path or source.name)
        self._through_task(
            volume_id, lambda task: self._transfer.upload_directory(task, source, target)
        )
        return True

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume (into a directory it keeps its name)."""
        source = volume_path(volume_id, remote_path)
        target = Path(local_path)
        directory, name = (target, None) if target.is_dir() else (target.parent, target.name)
        self._through_task(
            volume_id, lambda task: self._transfer.download_file(task, source, directory, name)
        )
        return True

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a tree out of the volume into ``local_path``."""
        source = volume_path(volume_id, remote_path)
        self._through_task(
            volume_id,
            lambda task: self._transfer.download_directory(task, source, Path(local_path)),
        )
        return True

    def _through_task(self, volume_id: str, action: Callable[[str], object]) -> None:
        volume = self.find(volume_id)
        for bid_fid in volume.bids:
            try:
                action(bid_fid)
                return
            except (TaskStateError, TaskNotFoundError):
                continue  # That task has no running instance; try the next one.
        raise TaskStateError(
            f"volume {volume.fid} is not attached to a running task",
            suggestion="start a task with this volume (TaskConfig.volumes) and retry while it runs",
        )


def volume_path(volume_id: str, relative: str) -> str:
    """Returns the instance path of ``relative`` inside the volume.

    Raises:
        ValidationError: ``relative`` is absolute or leaves the volume.
    """
    clean = posixpath.normpath(relative.strip() or ".")
    if relative.startswith("/") or clean == ".." or clean.startswith("../"):
        raise ValidationError(
            f"path {relative!r} must be relative and stay inside the volume", field="remote_path"
        )
    root = f"{paths.VOLUME_ROOT}/{volume_id}"
    return root if clean == "." else f"{root}/{clean}"
