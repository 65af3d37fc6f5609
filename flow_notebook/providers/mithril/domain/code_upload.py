"""Code upload to Mithril instances: the service that picks a strategy and runs it.

Strategies, tried in order by ``CodeUploadService``:

* ``RsyncStrategy`` (``code_upload_rsync``): rsync over ssh with delta transfer,
  when rsync exists on both ends; the default.
* ``SftpStrategy`` (``code_upload_sftp``): the fallback; changed files only.
* ``EmbeddedStrategy`` (``code_upload_embedded``): small trees travel inside the
  startup script instead; ``NoUpload``: nothing to send.

The job, statistics and manifest they share live in ``upload_job``. Files are
selected by ``core.code_tree`` (``.gitignore``/``.flowignore`` honoured).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.errors import (
    FlowError,
    HostKeyMismatchError,
    RemoteOperationError,
    TaskStateError,
)
from flow_notebook.providers.mithril.domain.code_upload_embedded import EmbeddedStrategy, NoUpload
from flow_notebook.providers.mithril.domain.code_upload_rsync import RsyncStrategy
from flow_notebook.providers.mithril.domain.code_upload_sftp import SftpStrategy
from flow_notebook.providers.mithril.domain.upload_job import (
    MANIFEST_PATH,
    ICodeUploadStrategy,
    IUploadRemote,
    ProgressCallback,
    UploadJob,
    UploadStats,
)
from flow_notebook.providers.mithril.runtime import paths

__all__ = [
    "MANIFEST_PATH",
    "CodeUploadService",
    "EmbeddedStrategy",
    "ICodeUploadStrategy",
    "IUploadRemote",
    "NoUpload",
    "ProgressCallback",
    "RsyncStrategy",
    "SftpStrategy",
    "UploadHandle",
    "UploadJob",
    "UploadStats",
]


def describe_os_error(exc: OSError) -> str:
    """Returns ``file: reason`` of a failed file operation, on one line."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{exc.filename}: {reason}" if exc.filename else reason


class UploadHandle:
    """A background upload: wait for it, look at its outcome, or cancel it.

    Attributes:
        task_id: The task receiving the code.
    """

    def __init__(self, task_id: str, cancel: threading.Event) -> None:
        self.task_id = task_id
        self._cancel = cancel
        self._finished = threading.Event()
        self._stats: UploadStats | None = None
        self._error: FlowError | None = None

    @property
    def done(self) -> bool:
        """Whether the upload has finished, successfully or not."""
        return self._finished.is_set()

    @property
    def error(self) -> FlowError | None:
        """The error that ended the upload, or ``None``."""
        return self._error

    @property
    def stats(self) -> UploadStats | None:
        """What the upload sent, once it succeeded."""
        return self._stats

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the upload finished or ``timeout`` passed; returns ``done``."""
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        """Asks the upload to stop; the next sync completes what is missing."""
        self._cancel.set()

    def _finish(self, stats: UploadStats | None, error: FlowError | None) -> None:
        self._stats, self._error = stats, error
        self._finished.set()


class CodeUploadService:
    """Picks an upload strategy and syncs a code directory to a task's instance.

    After a successful upload it touches the ready marker, which the startup
    script waits for before running the task.

    Args:
        strategies: Strategies in order of preference; the first available wins.
        remote: Remote operations used for readiness checks and the marker.
        remote_root: Destination directory on the instance.
        ready_marker: File touched once the code is in place.
        ready_timeout: Seconds a background upload waits for SSH to come up.
        retry_interval: Seconds between readiness attempts.
        select: File selection (defaults to ``core.code_tree.iter_code_files``).
    """

    def __init__(
        self,
        strategies: list[ICodeUploadStrategy],
        remote: IUploadRemote,
        *,
        remote_root: str = paths.WORKSPACE,
        ready_marker: str = paths.CODE_READY_MARKER,
        ready_timeout: float = 900.0,
        retry_interval: float = 5.0,
        select: Callable[[Path], Iterator[Path]] = iter_code_files,
    ) -> None:
        self._strategies = list(strategies)
        self._remote = remote
        self._remote_root = remote_root
        self._marker = ready_marker
        self._ready_timeout = ready_timeout
        self._retry = retry_interval
        self._select = select

    def choose(self, task_id: str) -> ICodeUploadStrategy:
        """Returns the first available strategy for the task's instance.

        Raises:
            RemoteOperationError: No strategy is available.
        """
        for strategy in self._strategies:
            if strategy.is_available(task_id):
                return strategy
        raise RemoteOperationError(f"no code upload strategy can reach task {task_id}")

    def sync(
        self,
        task_id: str,
        root: Path,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> UploadStats:
        """Uploads ``root``'s selected files now and touches the ready marker.

        Running it again sends only what changed; it also completes an upload that
        was interrupted.

        Raises:
            ValidationError: ``root`` is not a directory or a symlink leaves it.
            RemoteOperationError: The upload failed or was cancelled, or a file could
                not be read (e.g. deleted while the upload ran); the file and the
                reason are in the message.
        """
        job = UploadJob(
            task_id=task_id,
            root=Path(root),
            files=[rel.as_posix() for rel in self._select(Path(root))],
            remote_root=self._remote_root,
            progress=progress or (lambda *counts: None),
            cancel=cancel or threading.Event(),
        )
        strategy = self.choose(task_id)
        self._remote.execute_command(task_id, f"mkdir -p {shlex.quote(job.remote_root)}", 60)
        try:
            stats = strategy.upload(job)
        except OSError as exc:
            raise RemoteOperationError(
                f"code upload to task {task_id} failed: {describe_os_error(exc)}",
                suggestion="run the upload again (%flow sync) once the files stay put",
            ) from None
        marker = shlex.quote(self._marker)
        self._remote.execute_command(
            task_id, f"mkdir -p $(dirname {marker}) && touch {marker}", timeout=60
        )
        return stats

    def start(
        self, task_id: str, root: Path, progress: ProgressCallback | None = None
    ) -> UploadHandle:
        """Starts ``sync`` in a background thread, once the instance accepts SSH.

        Returns:
            The handle; its ``error`` holds any ``FlowError`` that ended the upload.
        """
        handle = UploadHandle(task_id, threading.Event())

        def run() -> None:
            try:
                self._wait_until_reachable(task_id, handle._cancel)
                handle._finish(self.sync(task_id, root, progress, handle._cancel), None)
            except FlowError as exc:
                handle._finish(None, exc)

        threading.Thread(target=run, name=f"code-upload-{task_id}", daemon=True).start()
        return handle

    def _wait_until_reachable(self, task_id: str, cancel: threading.Event) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while True:
            try:
                self._remote.execute_command(task_id, "true", timeout=30)
                return
            except HostKeyMismatchError:
                raise
            except (TaskStateError, RemoteOperationError):
                # A just-submitted task has no instance or no sshd yet.
                if time.monotonic() >= deadline:
                    raise
            if cancel.wait(self._retry):
                raise RemoteOperationError(f"code upload to task {task_id} was cancelled")
