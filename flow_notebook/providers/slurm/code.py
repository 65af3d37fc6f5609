"""Sending the notebook's code to a task's working directory on the shared filesystem.

Over SSH it is Mithril's code upload to the login node: rsync with delta transfer
(SFTP as fallback), a manifest in the task directory, only changed files sent on a
re-sync. On the login node itself it is the local provider's code sync (copies of
changed files, by sha256).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.code_tree import iter_code_files, tree_digest
from flow_notebook.providers.local.codesync import LocalCodeSync
from flow_notebook.providers.mithril.domain import code_upload as cu
from flow_notebook.providers.mithril.remote.multiplex import SSHMultiplexer
from flow_notebook.providers.slurm.layout import CODE_READY_MARKER, MANIFEST_FILE, TaskLayout
from flow_notebook.providers.slurm.login import SSHLogin


class ICodeShip(Protocol):
    """Sends a local tree to a task's working directory."""

    def send(self, task_id: str, root: Path, layout: TaskLayout) -> dict[str, Any]:
        """Sends what changed; returns ``files``, ``bytes``, ``files_total``, ``deleted``."""
        ...


class RsyncCodeShip:
    """rsync (or SFTP) to the login node, by Mithril's ``CodeUploadService``.

    Args:
        login: The login node over SSH.
        multiplexer: Shares one ssh connection between rsync runs.
        exclude: Local directories never sent (``FLOW_HOME``).
    """

    def __init__(self, login: SSHLogin, multiplexer: SSHMultiplexer, exclude: list[Path]) -> None:
        self._login = login
        self._mux = multiplexer
        self._exclude = exclude

    def send(self, task_id: str, root: Path, layout: TaskLayout) -> dict[str, Any]:
        """Uploads ``root``'s selected files to the task's working directory."""
        manifest = layout.path(MANIFEST_FILE)
        strategies: list[cu.ICodeUploadStrategy] = [
            cu.RsyncStrategy(self._login, manifest_path=manifest, ssh_options=self._mux.options),
            cu.SftpStrategy(self._login, manifest_path=manifest),
        ]
        service = cu.CodeUploadService(
            strategies,
            self._login,
            remote_root=layout.work_dir,
            ready_marker=layout.path(CODE_READY_MARKER),
            select=self._select,
        )
        stats = dataclasses.asdict(service.sync(task_id, root))
        return {
            "files": stats["files_sent"],
            "bytes": stats["bytes_sent"],
            "files_total": stats["files_total"],
            "deleted": stats["files_deleted"],
            "strategy": stats["strategy"],
            "digest": tree_digest(root, exclude=self._exclude),
        }

    def _select(self, root: Path) -> Iterator[Path]:
        return iter_code_files(root, exclude=self._exclude)


class LocalCodeShip:
    """Copies changed files when this machine is the login node (the local provider's sync).

    Args:
        exclude: Local directories never sent (``FLOW_HOME``).
    """

    def __init__(self, exclude: list[Path]) -> None:
        self._sync = LocalCodeSync(exclude)

    def send(self, task_id: str, root: Path, layout: TaskLayout) -> dict[str, Any]:
        """Copies what changed into the task's working directory."""
        work = Path(layout.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        report = self._sync.sync(root, work, Path(layout.task_dir))
        return {**report, "strategy": "copy"}
