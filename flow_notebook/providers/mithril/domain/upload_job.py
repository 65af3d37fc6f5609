"""What every code upload strategy shares: the job, its statistics and the manifest.

The manifest (``MANIFEST_PATH`` on the instance) lists the files the last upload
sent with size, mtime and sha256, so the next upload knows what changed and which
files it sent before and must now delete.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.providers.mithril.runtime import paths

MANIFEST_PATH = f"{paths.LOG_DIR}/code_manifest.json"
"""Where the instance keeps the list of files the last sync sent."""
ProgressCallback = Callable[[int, int, int, int], None]
"""Called with ``(files_done, files_total, bytes_done, bytes_total)``."""


class IUploadRemote(Protocol):
    """What uploads need from remote operations (``MithrilRemoteOperations`` fits)."""

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``command`` on the task's first instance."""
        ...

    def files(self, task_id: str) -> AbstractContextManager[Any]:
        """Opens an SFTP session (``RemoteFiles``) on the task's first instance."""
        ...

    def ssh_target(self, task_id: str) -> tuple[list[str], str]:
        """Returns ``ssh`` arguments and the ``user@host`` destination."""
        ...


@dataclass(frozen=True)
class UploadStats:
    """What one upload did.

    Attributes:
        strategy: Name of the strategy used.
        files_total: Files selected.
        files_sent: Files actually transferred.
        bytes_total: Size of the selected files.
        bytes_sent: Bytes that went over the wire (as the strategy measures them).
        seconds: Wall time of the upload.
        files_deleted: Files an earlier upload sent that were removed as no longer selected.
    """

    strategy: str
    files_total: int = 0
    files_sent: int = 0
    bytes_total: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    files_deleted: int = 0


@dataclass
class UploadJob:
    """One upload: which files go where, and how progress is reported.

    Attributes:
        task_id: The task whose instance receives the files.
        root: Local code directory.
        files: Selected files, relative POSIX paths.
        remote_root: Absolute destination directory on the instance.
        progress: Progress callback.
        cancel: Set to ask the upload to stop as soon as possible.
    """

    task_id: str
    root: Path
    files: list[str]
    remote_root: str
    progress: ProgressCallback = lambda *counts: None
    cancel: threading.Event = field(default_factory=threading.Event)

    def sizes(self) -> dict[str, int]:
        """Returns each selected file's size."""
        return {rel: (self.root / rel).stat().st_size for rel in self.files}

    def check_cancelled(self) -> None:
        """Raises ``RemoteOperationError`` when the upload was cancelled."""
        if self.cancel.is_set():
            raise RemoteOperationError(f"code upload to task {self.task_id} was cancelled")


class ICodeUploadStrategy(Protocol):
    """A way to get the selected files onto the instance."""

    name: str

    def is_available(self, task_id: str) -> bool:
        """Whether this strategy can upload to the task's instance now."""
        ...

    def upload(self, job: UploadJob) -> UploadStats:
        """Sends the job's files; raises ``FlowError`` subclasses on failure."""
        ...


def manifest_entries(
    job: UploadJob, sizes: dict[str, int], previous: dict[str, Any] | None = None
) -> dict[str, list[Any]]:
    """Returns ``[size, mtime_ns, sha256]`` of each selected file.

    Args:
        job: The upload.
        sizes: Each selected file's size.
        previous: The entries of the last upload; an unchanged file keeps its entry.

    Returns:
        The entries by relative path.
    """
    entries: dict[str, list[Any]] = {}
    for rel in job.files:
        mtime = (job.root / rel).stat().st_mtime_ns
        old = (previous or {}).get(rel)
        if old and old[0] == sizes[rel] and old[1] == mtime:
            entries[rel] = old  # Same size and mtime: trust the recorded hash.
            continue
        digest = hashlib.sha256((job.root / rel).read_bytes()).hexdigest()
        # Only the mtime moved: keep the old entry so the file is not resent.
        if old and old[0] == sizes[rel] and old[2] == digest:
            entries[rel] = old
        else:
            entries[rel] = [sizes[rel], mtime, digest]
    return entries


def read_manifest(remote: IUploadRemote, job: UploadJob, path: str) -> dict[str, Any]:
    """Returns the entries the last upload to ``job.remote_root`` recorded (or none)."""
    with remote.files(job.task_id) as files:
        if not files.exists(path):
            return {}
        try:
            loaded = json.loads(files.read_bytes(path))
        except ValueError:
            return {}  # A damaged manifest only costs a full upload.
    if not isinstance(loaded, dict) or loaded.get("root") != job.remote_root:
        return {}
    found = loaded.get("files")
    return found if isinstance(found, dict) else {}


def write_manifest(
    remote: IUploadRemote, job: UploadJob, path: str, entries: dict[str, Any]
) -> None:
    """Records ``entries`` as what the instance now holds under ``job.remote_root``."""
    body = json.dumps({"version": 1, "root": job.remote_root, "files": entries})
    with remote.files(job.task_id) as files:
        files.write_bytes(path, body.encode())
