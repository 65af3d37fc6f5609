"""Code upload to Mithril instances: strategies and the background sync that runs them.

Strategies, tried in order by ``CodeUploadService``:

* ``RsyncStrategy``: rsync over ssh with delta transfer, when rsync exists on both
  ends. Only the selected files are listed (``--files-from``); files selected last
  time and gone now are deleted (``--delete-missing-args``), so outputs the task
  wrote into the working directory are never touched.
* ``SftpStrategy``: the fallback; sends only files whose size, mtime and hash changed
  against a manifest kept on the instance, each via a temporary file and a rename.
* ``EmbeddedStrategy``: small trees travel inside the startup script instead.
* ``NoUpload``: nothing to send.

Files are selected by ``core.code_tree`` (``.gitignore``/``.flowignore`` honoured).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import posixpath
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.errors import (
    FlowError,
    HostKeyMismatchError,
    RemoteOperationError,
    TaskStateError,
)
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
    """

    strategy: str
    files_total: int = 0
    files_sent: int = 0
    bytes_total: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0


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


class RsyncStrategy:
    """rsync over ssh, with delta transfer and resumable partial files.

    Args:
        remote: Remote operations (commands, SFTP, ssh arguments).
        rsync: The local rsync program.
        manifest_path: File on the instance listing the files last sent.
        timeout: Seconds allowed for one rsync run.
    """

    name = "rsync"
    _STAT = re.compile(r"^(Total bytes sent|Number of regular files transferred): ([\d,]+)")

    def __init__(
        self,
        remote: IUploadRemote,
        *,
        rsync: str = "rsync",
        manifest_path: str = MANIFEST_PATH,
        timeout: float = 3600.0,
    ) -> None:
        self._remote = remote
        self._rsync = rsync
        self._manifest = manifest_path
        self._timeout = timeout

    def is_available(self, task_id: str) -> bool:
        """Whether rsync and ssh exist here and rsync on the instance."""
        if not (shutil.which(self._rsync) and shutil.which("ssh")):
            return False
        found = self._remote.execute_command(task_id, "command -v rsync || true", timeout=30)
        return bool(found.strip())

    def upload(self, job: UploadJob) -> UploadStats:
        """Runs rsync for the selected files plus those to delete."""
        started = time.monotonic()
        sizes = job.sizes()
        previous = _read_manifest(self._remote, job, self._manifest)
        listed = sorted(set(job.files) | set(previous))
        ssh_args, target = self._remote.ssh_target(job.task_id)
        with tempfile.NamedTemporaryFile("wb", suffix=".list") as listing:
            listing.write(b"\0".join(rel.encode() for rel in listed))
            listing.flush()
            command = [
                self._rsync,
                "-az",
                "--copy-links",
                "--no-owner",
                "--no-group",
                "--from0",
                f"--files-from={listing.name}",
                "--delete-missing-args",
                "--partial-dir=.rsync-partial",
                "--stats",
                "--out-format=%i %n",
                "-e",
                shlex.join(ssh_args),
                f"{job.root}/",
                f"{target}:{job.remote_root}/",
            ]
            stats = self._run(command, job, sizes)
        # Reusing the previous entries hashes only files whose size or mtime moved;
        # rehashing the whole tree cost more than the delta transfer itself.
        entries = _manifest_entries(job, sizes, previous)
        _write_manifest(self._remote, job, self._manifest, entries)
        return UploadStats(
            strategy=self.name,
            files_total=len(job.files),
            files_sent=stats.get("Number of regular files transferred", 0),
            bytes_total=sum(sizes.values()),
            bytes_sent=stats.get("Total bytes sent", 0),
            seconds=time.monotonic() - started,
        )

    def _run(self, command: list[str], job: UploadJob, sizes: dict[str, int]) -> dict[str, int]:
        total_bytes, done_files, done_bytes = sum(sizes.values()), 0, 0
        job.progress(0, len(sizes), 0, total_bytes)
        stats: dict[str, int] = {}
        timer = None
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        try:
            timer = threading.Timer(self._timeout, proc.kill)
            timer.start()
            assert proc.stdout is not None
            for line in proc.stdout:
                job.check_cancelled()
                item, _, name = line.rstrip("\n").partition(" ")
                if item.startswith(("<f", ">f")) and name in sizes:
                    done_files += 1
                    done_bytes += sizes[name]
                    job.progress(done_files, len(sizes), done_bytes, total_bytes)
                if match := self._STAT.match(line):
                    stats[match.group(1)] = int(match.group(2).replace(",", ""))
            stderr = proc.stderr.read() if proc.stderr else ""
            status = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if status != 0:
            tail = " | ".join(stderr.strip().splitlines()[-3:])[-300:]
            raise RemoteOperationError(f"rsync to task {job.task_id} exited {status}: {tail}")
        job.progress(len(sizes), len(sizes), total_bytes, total_bytes)
        return stats


class SftpStrategy:
    """SFTP fallback: sends changed files only, each atomically.

    Args:
        remote: Remote operations (commands and SFTP).
        manifest_path: File on the instance recording what was sent.
    """

    name = "sftp"

    def __init__(self, remote: IUploadRemote, *, manifest_path: str = MANIFEST_PATH) -> None:
        self._remote = remote
        self._manifest = manifest_path

    def is_available(self, task_id: str) -> bool:
        """SFTP is part of every OpenSSH server; always available."""
        return True

    def upload(self, job: UploadJob) -> UploadStats:
        """Sends changed files, removes files no longer selected, then the manifest."""
        started = time.monotonic()
        sizes = job.sizes()
        previous = _read_manifest(self._remote, job, self._manifest)
        entries = _manifest_entries(job, sizes, previous)
        changed = [rel for rel in job.files if previous.get(rel) != entries[rel]]
        total, done_bytes, sent = sum(sizes.values()), 0, 0
        unchanged = sum(sizes[rel] for rel in job.files if rel not in changed)
        job.progress(len(job.files) - len(changed), len(job.files), unchanged, total)
        # Part files of an interrupted run are garbage: their files were not recorded.
        self._remote.execute_command(
            job.task_id,
            f"find {shlex.quote(job.remote_root)} -name '*.flow-part' -type f -delete"
            " 2>/dev/null || true",
            timeout=60,
        )
        with self._remote.files(job.task_id) as files:
            for index, rel in enumerate(changed, 1):
                job.check_cancelled()
                sent += files.put(job.root / rel, posixpath.join(job.remote_root, rel))
                done_bytes += sizes[rel]
                job.progress(
                    len(job.files) - len(changed) + index,
                    len(job.files),
                    unchanged + done_bytes,
                    total,
                )
            for rel in sorted(set(previous) - set(entries)):
                files.remove(posixpath.join(job.remote_root, rel))
        _write_manifest(self._remote, job, self._manifest, entries)
        return UploadStats(self.name, len(job.files), len(changed), total, sent,
                           time.monotonic() - started)  # fmt: skip


class EmbeddedStrategy:
    """Small trees travel inside the startup script as a base64 tar.gz.

    This strategy works before submit (``archive``/``embed_section``); after submit
    there is nothing left to send, so it is never picked by ``CodeUploadService``.

    Args:
        max_bytes: Largest compressed archive to embed.
        select: File selection (defaults to ``core.code_tree.iter_code_files``).
    """

    name = "embedded"

    def __init__(
        self,
        max_bytes: int = 64 * 1024,
        select: Callable[[Path], Iterator[Path]] = iter_code_files,
    ) -> None:
        self.max_bytes = max_bytes
        self._select = select

    def archive(self, root: Path) -> bytes | None:
        """Returns the selected files as tar.gz bytes, or ``None`` above ``max_bytes``."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for rel in self._select(Path(root)):
                tar.add(Path(root) / rel, arcname=rel.as_posix(), recursive=False)
                if buffer.tell() > self.max_bytes:
                    return None
        data = buffer.getvalue()
        return data if len(data) <= self.max_bytes else None

    def embed_section(self, root: Path, workdir: str = paths.WORKSPACE) -> str | None:
        """Returns a shell section that unpacks the code into ``workdir``, or ``None``.

        Args:
            root: Local code directory.
            workdir: Directory on the instance to unpack into.

        Returns:
            The section, or ``None`` when the archive exceeds ``max_bytes``.
        """
        data = self.archive(root)
        if data is None:
            return None
        encoded = base64.encodebytes(data).decode("ascii").rstrip("\n")
        target = shlex.quote(workdir)
        return (
            f"mkdir -p {target}\n"
            f"base64 -d <<'FLOW_CODE_EOF' | tar -xzf - -C {target}\n{encoded}\nFLOW_CODE_EOF\n"
        )

    def is_available(self, task_id: str) -> bool:
        """Never available after submit: the code went with the script."""
        return False

    def upload(self, job: UploadJob) -> UploadStats:
        """Sends nothing; the code went with the startup script."""
        return UploadStats(self.name, len(job.files))


class NoUpload:
    """Sends nothing (the task does not upload code)."""

    name = "none"

    def is_available(self, task_id: str) -> bool:
        """Always available."""
        return True

    def upload(self, job: UploadJob) -> UploadStats:
        """Sends nothing."""
        return UploadStats(self.name)


def _manifest_entries(
    job: UploadJob, sizes: dict[str, int], previous: dict[str, Any] | None = None
) -> dict[str, list[Any]]:
    entries: dict[str, list[Any]] = {}
    for rel in job.files:
        mtime = (job.root / rel).stat().st_mtime_ns
        old = (previous or {}).get(rel)
        if old and old[0] == sizes[rel] and old[1] == mtime:
            entries[rel] = old  # Same size and mtime: trust the recorded hash.
            continue
        digest = hashlib.sha256((job.root / rel).read_bytes()).hexdigest()
        same_content = old and old[0] == sizes[rel] and old[2] == digest
        # Only the mtime moved: keep the old entry so the file is not resent.
        entries[rel] = old if same_content else [sizes[rel], mtime, digest]
    return entries


def _read_manifest(remote: IUploadRemote, job: UploadJob, path: str) -> dict[str, Any]:
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


def _write_manifest(
    remote: IUploadRemote, job: UploadJob, path: str, entries: dict[str, Any]
) -> None:
    body = json.dumps({"version": 1, "root": job.remote_root, "files": entries})
    with remote.files(job.task_id) as files:
        files.write_bytes(path, body.encode())


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
            RemoteOperationError: The upload failed or was cancelled.
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
        stats = strategy.upload(job)
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
