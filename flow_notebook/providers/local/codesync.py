"""Sending local code to a running local task: only changed files, tracked by a manifest.

The manifest (``code_manifest.json`` in the task directory) maps each file sent, by
relative path, to its sha256. The initial upload writes it; every sync compares the
selected local files with what sits in the work directory, copies those that differ,
removes files the manifest lists that are no longer selected, and rewrites it. Files
the task created itself are never in the manifest, so a sync never deletes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flow_notebook.core.code_tree import atomic_copy_file, iter_code_files, tree_digest
from flow_notebook.core.errors import RemoteOperationError

MANIFEST_NAME = "code_manifest.json"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str | None:
    """Returns the hex sha256 of ``path``, or ``None`` when it is not a readable file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return digest.hexdigest()


class LocalCodeSync:
    """Copies what changed from a local directory into a task's work directory.

    Args:
        private_dirs: Directories never sent even when inside the code directory
            (local state such as ``FLOW_HOME``).
    """

    def __init__(self, private_dirs: Iterable[Path] = ()) -> None:
        self._private = [Path(path) for path in private_dirs]

    def record(self, source: Path, task_dir: Path) -> None:
        """Writes the manifest of ``source``'s selected files after the initial upload."""
        files = {
            rel.as_posix(): file_sha256(source / rel)
            for rel in iter_code_files(source, exclude=self._private)
        }
        self._write(task_dir, files)

    def sync(self, source: Path, work_dir: Path, task_dir: Path) -> dict[str, Any]:
        """Brings ``work_dir`` up to date with ``source``.

        Returns:
            ``files``/``bytes`` sent, ``files_total`` selected, ``deleted`` and ``digest``.

        Raises:
            ValidationError: ``source`` is not a directory or a symlink leaves it.
            RemoteOperationError: A file cannot be written or removed.
        """
        previous = self._read(task_dir)
        current: dict[str, str | None] = {}
        sent = sent_bytes = 0
        try:
            for rel in iter_code_files(source, exclude=self._private):
                key = rel.as_posix()
                local_sha = file_sha256(source / rel)
                current[key] = local_sha
                if file_sha256(work_dir / rel) != local_sha:
                    sent_bytes += atomic_copy_file(source / rel, work_dir / rel)
                    sent += 1
            deleted = _remove_gone(work_dir, set(previous) - set(current))
        except OSError as exc:
            raise RemoteOperationError(f"cannot sync code: {exc.strerror}: {exc.filename}") from exc
        self._write(task_dir, current)
        return {
            "files": sent,
            "bytes": sent_bytes,
            "files_total": len(current),
            "deleted": deleted,
            "digest": tree_digest(source, exclude=self._private),
        }

    @staticmethod
    def _read(task_dir: Path) -> dict[str, str | None]:
        try:
            loaded = json.loads((task_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    @staticmethod
    def _write(task_dir: Path, files: dict[str, str | None]) -> None:
        path = task_dir / MANIFEST_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(files, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


def _remove_gone(work_dir: Path, names: set[str]) -> int:
    removed = 0
    for name in sorted(names):
        if ".." in Path(name).parts or Path(name).is_absolute():
            continue  # Never trust a path in the manifest to stay inside the work dir.
        target = work_dir / name
        if target.is_file() and not target.is_symlink():
            target.unlink()
            removed += 1
    return removed
