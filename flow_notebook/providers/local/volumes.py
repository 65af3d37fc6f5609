"""Local volumes: directories under ``<state>/volumes/<volume_id>/``.

Each volume is ``<id>/volume.json`` (name, size_gb, interface, created_at) plus its
content in ``<id>/data/``. ``size_gb`` is recorded, not enforced. Names follow the
Mithril rule (``^[a-z]([-a-z0-9]*[a-z0-9])?$``, at most 64 characters) and are unique.

How a task sees a volume: the local provider cannot mount anything at ``/data``
without root and namespaces, so a volume with mount path ``/data`` appears as the
symlink ``<work dir>/data`` pointing at the volume's ``data/`` directory, and the
task's environment gets ``FLOW_VOLUME_<NAME>`` (name upper-cased, ``-`` as ``_``)
holding that directory's absolute path. Code that uses the relative path ``data/``
or the variable runs the same way locally and on Mithril. Volumes passed to
``submit_task(volume_ids=...)`` without a spec appear at ``/volumes/<name>``, i.e.
``<work dir>/volumes/<name>``.

Remote paths are relative to the volume root; an absolute path is accepted only
when it lies inside the volume's directory. Paths that escape the volume (``..``,
absolute paths elsewhere, symlinks leading out) are refused, and downloads never
write outside the local target.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from flow_notebook.core.code_tree import atomic_copy_file
from flow_notebook.core.errors import NotFoundError, ValidationError
from flow_notebook.core.models import Volume, VolumeSpec, utcnow

VOLUME_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
VOLUME_ID_RE = re.compile(r"^vol-local-[0-9a-f]{12}$")
INTERFACES = ("block", "file")


def validate_volume_name(name: str) -> str:
    """Returns ``name`` when it is a valid volume name.

    Raises:
        ValidationError: It is longer than 64 characters or breaks the pattern.
    """
    if len(name) > 64 or not VOLUME_NAME_RE.match(name):
        raise ValidationError(
            f"invalid volume name {name!r}",
            field="name",
            suggestion="use lowercase letters, digits and '-', starting with a letter (max 64)",
        )
    return name


def env_name(volume_name: str) -> str:
    """Returns the environment variable that holds a volume's path in a task."""
    return "FLOW_VOLUME_" + re.sub(r"[^A-Z0-9]", "_", volume_name.upper())


@dataclass(frozen=True)
class Mount:
    """A volume as a task sees it.

    Attributes:
        volume: The volume.
        path: Absolute directory holding its content.
        mount_path: Where the task asked to see it (e.g. ``/data``).
    """

    volume: Volume
    path: Path
    mount_path: str


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


class LocalVolumes:
    """Creates, lists and deletes volume directories and moves files in and out.

    Args:
        root: Directory holding every volume.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    def is_volume_id(self, identifier: str) -> bool:
        """Whether ``identifier`` has the shape of a local volume id."""
        return bool(VOLUME_ID_RE.match(identifier))

    def create(self, size_gb: int, name: str | None = None, interface: str = "block") -> Volume:
        """Creates a volume; a name is generated when none is given.

        Raises:
            ValidationError: Bad size, name or interface, or the name is taken.
        """
        if size_gb < 1:
            raise ValidationError("size_gb must be at least 1", field="size_gb")
        if interface not in INTERFACES:
            raise ValidationError(f"unknown volume interface {interface!r}", field="interface")
        volume_id = f"vol-local-{secrets.token_hex(6)}"
        name = validate_volume_name(name) if name else f"volume-{volume_id[-6:]}"
        if self.find_by_name(name) is not None:
            raise ValidationError(f"a volume named {name!r} already exists", field="name")
        volume = Volume(
            volume_id=volume_id,
            name=name,
            size_gb=size_gb,
            interface=interface,
            region="local",
            created_at=utcnow(),
        )
        (self._root / volume_id / "data").mkdir(parents=True)
        meta = self._root / volume_id / "volume.json"
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(volume.model_dump_json(), encoding="utf-8")
        os.replace(tmp, meta)
        return volume

    def delete(self, volume_id: str) -> bool:
        """Deletes a volume and its content; ``False`` when it did not exist."""
        if not self.is_volume_id(volume_id) or not (self._root / volume_id).is_dir():
            return False
        shutil.rmtree(self._root / volume_id)
        return True

    def list(self, limit: int = 100) -> list[Volume]:
        """Returns up to ``limit`` volumes, newest first."""
        found = []
        for meta in self._root.glob("vol-local-*/volume.json"):
            try:
                found.append(Volume.model_validate(json.loads(meta.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue  # Half-deleted volumes are skipped.
        found.sort(key=lambda v: v.created_at or utcnow(), reverse=True)
        return found[:limit]

    def get(self, volume_id: str) -> Volume:
        """Returns the volume ``volume_id``.

        Raises:
            NotFoundError: No such volume.
        """
        meta = self._root / volume_id / "volume.json"
        if not self.is_volume_id(volume_id) or not meta.is_file():
            raise NotFoundError(
                f"no volume {volume_id!r}", suggestion="list volumes to see the ids"
            )
        return Volume.model_validate(json.loads(meta.read_text(encoding="utf-8")))

    def find_by_name(self, name: str) -> Volume | None:
        """Returns the volume named ``name``, or ``None``."""
        return next((v for v in self.list(limit=1_000_000) if v.name == name), None)

    def mount_for(self, spec: VolumeSpec) -> Mount:
        """Resolves a task's volume spec, creating a volume when it asks for a new one.

        Raises:
            NotFoundError: No volume has the given id.
            ValidationError: No volume has the given name and no size was given.
        """
        volume = self._find(spec)
        if volume is None:
            if not spec.size_gb:
                raise ValidationError(f"no volume named {spec.name!r}", field="volumes")
            volume = self.create(spec.size_gb, spec.name)
        return Mount(volume, self.data_dir(volume.volume_id), spec.mount_path)

    def _find(self, spec: VolumeSpec) -> Volume | None:
        if spec.volume_id:
            return self.get(spec.volume_id)
        return self.find_by_name(spec.name) if spec.name else None

    def data_dir(self, volume_id: str) -> Path:
        """Returns the absolute directory holding the volume's content."""
        self.get(volume_id)
        return (self._root / volume_id / "data").resolve()

    def resolve_remote(self, volume_id: str, remote_path: str | None) -> Path:
        """Returns the real path of ``remote_path`` inside the volume.

        Raises:
            ValidationError: The path escapes the volume.
        """
        root = self.data_dir(volume_id)
        if not remote_path or remote_path in (".", "/"):
            return root
        if "\x00" in remote_path or ".." in Path(remote_path).parts:
            raise ValidationError(
                f"remote path {remote_path!r} is not allowed", field="remote_path"
            )
        candidate = Path(remote_path) if remote_path.startswith("/") else root / remote_path
        real = Path(os.path.realpath(candidate))
        if not _inside(root, real):
            raise ValidationError(
                f"remote path {remote_path!r} is outside the volume",
                field="remote_path",
                suggestion="use a path relative to the volume root",
            )
        return real

    def upload_file(self, volume_id: str, local_path: Path, remote_path: str | None) -> bool:
        """Copies a local file into the volume (into a directory keeps its name)."""
        source = Path(local_path)
        if not source.is_file():
            raise ValidationError(f"no local file {source}", field="local_path")
        target = self.resolve_remote(volume_id, remote_path or source.name)
        if target.is_dir():
            target = self.resolve_remote(volume_id, str(target / source.name))
        atomic_copy_file(source, target)
        return True

    def upload_directory(self, volume_id: str, local_path: Path, remote_path: str | None) -> bool:
        """Copies a local directory tree into the volume (default: under its own name)."""
        source = Path(local_path)
        if not source.is_dir():
            raise ValidationError(f"no local directory {source}", field="local_path")
        target = self.resolve_remote(volume_id, remote_path or source.name)
        root = self.data_dir(volume_id)
        target.mkdir(parents=True, exist_ok=True)
        for directory, _dirs, files in os.walk(source):
            for name in files:
                rel = (Path(directory) / name).relative_to(source)
                destination = Path(os.path.realpath(target / rel))
                if not _inside(root, destination):
                    raise ValidationError(f"{rel} would be written outside the volume")
                atomic_copy_file(Path(directory) / name, destination)
        return True

    def download_file(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a file out of the volume (into a directory keeps its name).

        Raises:
            NotFoundError: No such file in the volume.
        """
        source = self.resolve_remote(volume_id, remote_path)
        if not source.is_file():
            raise NotFoundError(f"no file {remote_path!r} in volume {volume_id}")
        target = Path(local_path)
        if target.is_dir():
            target = target / source.name
        atomic_copy_file(source, target)
        return True

    def download_directory(self, volume_id: str, remote_path: str, local_path: Path) -> bool:
        """Copies a directory tree out of the volume into ``local_path``.

        Raises:
            NotFoundError: No such directory in the volume.
            ValidationError: A file would be read or written outside its tree.
        """
        source = self.resolve_remote(volume_id, remote_path)
        if not source.is_dir():
            raise NotFoundError(f"no directory {remote_path!r} in volume {volume_id}")
        root = self.data_dir(volume_id)
        target = Path(local_path)
        target.mkdir(parents=True, exist_ok=True)
        real_target = target.resolve()
        for directory, _dirs, files in os.walk(source):
            for name in files:
                path = Path(directory) / name
                rel = path.relative_to(source)
                if not _inside(root, path.resolve()):
                    raise ValidationError(f"{rel} in the volume links outside it")
                destination = Path(os.path.realpath(target / rel))
                if not _inside(real_target, destination):
                    raise ValidationError(f"{rel} would be written outside {target}")
                atomic_copy_file(path, destination)
        return True
