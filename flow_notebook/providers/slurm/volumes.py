"""Volumes on Slurm: directories under ``<root>/volumes/`` on the shared filesystem.

A volume's id is ``vol-slurm-<name>``; its size is recorded, not enforced (the
filesystem's quota rules). Every node of every job sees it at the same path.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from flow_notebook.core.errors import NotFoundError, RemoteOperationError, ValidationError
from flow_notebook.core.models import Volume
from flow_notebook.providers.mithril.remote.errors import RemoteCommandError
from flow_notebook.providers.slurm.login import ILogin

ID_PREFIX = "vol-slurm-"
_INFO = ".flow-volume.json"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$")
_CALLER = "slurm-volumes"


class IFileTransfer(Protocol):
    """Copies files between this machine and the login node."""

    def upload(self, local_path: Path, remote_path: str) -> None:
        """Copies a local file or directory tree to ``remote_path``."""
        ...

    def download(self, remote_path: str, local_path: Path) -> None:
        """Copies a remote file or directory tree to ``local_path``."""
        ...


class SlurmVolumes:
    """Creates, lists and fills volume directories.

    Args:
        login: The login node.
        root: The Slurm root directory (absolute) provider.
        transfer: Copies files in and out.
    """

    def __init__(self, login: ILogin, root: Callable[[], str], transfer: IFileTransfer) -> None:
        self._login = login
        self._root = root
        self._transfer = transfer

    def path(self, volume_id: str) -> str:
        """Returns the directory of a volume (id or name)."""
        name = volume_id.removeprefix(ID_PREFIX)
        if not _NAME.match(name):
            raise ValidationError(f"{volume_id!r} is not a volume id or name", field="volume_id")
        return posixpath.join(self._root(), "volumes", name)

    def create(self, size_gb: int, name: str | None) -> Volume:
        """Creates the volume's directory; refuses a name in use."""
        if not name:
            raise ValidationError("a Slurm volume needs a name", field="name")
        path = shlex.quote(self.path(name))
        info = shlex.quote(json.dumps({"size_gb": size_gb}))
        try:
            self._run(f"mkdir -p $(dirname {path}) && mkdir {path} && echo {info} > {path}/{_INFO}")
        except RemoteCommandError:
            raise ValidationError(f"volume {name!r} already exists", field="name") from None
        return Volume(volume_id=ID_PREFIX + name, name=name, size_gb=size_gb, interface="file")

    def delete(self, volume_id: str) -> bool:
        """Deletes the directory and everything in it; ``False`` when it did not exist."""
        path = shlex.quote(self.path(volume_id))
        return self._run(f"[ -d {path} ] && rm -rf {path} && echo yes || true").strip() == "yes"

    def list(self, limit: int) -> list[Volume]:
        """Returns the volumes, by name."""
        base = shlex.quote(posixpath.join(self._root(), "volumes"))
        out = self._run(
            f'for d in {base}/*/; do [ -d "$d" ] || continue; n=$(basename "$d");'
            f' printf \'%s\\t%s\\n\' "$n" "$(cat "$d{_INFO}" 2>/dev/null)"; done'
        )
        volumes = []
        for line in out.splitlines()[: max(0, limit)]:
            name, _, info = line.partition("\t")
            size = _size(info)
            volumes.append(
                Volume(volume_id=ID_PREFIX + name, name=name, size_gb=size, interface="file")
            )
        return volumes

    def upload(self, volume_id: str, local_path: Path, remote_path: str | None) -> bool:
        """Copies a local file or tree into the volume."""
        target = self._inside(volume_id, remote_path or Path(local_path).name)
        self._transfer.upload(Path(local_path), target)
        return True

    def download(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file or tree out of the volume."""
        self._transfer.download(self._inside(volume_id, remote_path), Path(local_path))
        return True

    def _inside(self, volume_id: str, relative: str) -> str:
        base = self.path(volume_id)
        target = posixpath.normpath(posixpath.join(base, relative.lstrip("/")))
        if target != base and not target.startswith(base + "/"):
            raise ValidationError(f"path {relative!r} leaves the volume", field="remote_path")
        self._require(base)
        return target

    def _require(self, base: str) -> None:
        quoted = shlex.quote(base)
        if self._run(f"[ -d {quoted} ] && echo yes || true").strip() != "yes":
            raise NotFoundError(f"no volume at {base}")

    def _run(self, command: str) -> str:
        try:
            return self._login.execute_command(_CALLER, command, 60)
        except RemoteCommandError:
            raise
        except RemoteOperationError as exc:
            raise RemoteOperationError(f"volume operation failed: {exc.message}") from None


def _size(info: str) -> int:
    try:
        return int(json.loads(info).get("size_gb", 1))
    except (ValueError, AttributeError, TypeError):
        return 1
