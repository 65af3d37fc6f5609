"""After a bid is placed: the background work that lets its instances start the task.

``Provisioner.start`` runs one worker thread per task, which

1. waits until every instance of the bid runs and has an SSH destination,
2. waits until each accepts SSH and the login user may write the log directory,
3. uploads the deferred startup script to each instance and then its ready marker
   (split strategy only),
4. on multi-instance tasks writes each instance's rank file atomically (rank = the
   instance's position in the bid's ``instances``; main IP = rank 0's private IP),
5. uploads the code (rsync by default) to each instance, which touches the code
   ready marker.

The deferred script goes first because, on a split task, the runner that prepares
the working directory is inside it. Progress is readable at any time through
``status``; ``close`` stops every worker.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.errors import (
    FlowError,
    HostKeyMismatchError,
    RemoteOperationError,
    TaskStateError,
)
from flow_notebook.providers.mithril.api.dto import BidModel, InstanceModel
from flow_notebook.providers.mithril.domain.instances import InstanceService, in_bid_order
from flow_notebook.providers.mithril.runtime import paths
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout, render_rank_file

logger = logging.getLogger(__name__)


class IInstanceRemote(Protocol):
    """Remote operations keyed by instance id (``MithrilRemoteOperations`` fits)."""

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``command`` on the instance."""
        ...

    def files(self, task_id: str) -> AbstractContextManager[Any]:
        """Opens an SFTP session on the instance."""
        ...


class ICodeSync(Protocol):
    """Uploads code to an instance (``CodeUploadService`` fits)."""

    def sync(
        self,
        task_id: str,
        root: Path,
        progress: Callable[[int, int, int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """Uploads ``root`` and touches the code ready marker; returns upload stats."""
        ...


@dataclass(frozen=True)
class ProvisionJob:
    """What a task's instances need after boot.

    Attributes:
        bid_fid: The task's bid.
        num_instances: Instances in the bid.
        deferred_script: Startup script body to upload (split strategy), if any.
        secrets: Body of the secrets file to write (mode 0600), if the task has any.
        code_root: Local code directory to upload, if the code is not embedded.
        working_dir: Where the code goes on the instance.
    """

    bid_fid: str
    num_instances: int = 1
    deferred_script: str | None = field(default=None, repr=False)
    secrets: str | None = field(default=None, repr=False)
    code_root: Path | None = None
    working_dir: str = paths.WORKSPACE

    @property
    def has_work(self) -> bool:
        """Whether anything must be done after boot."""
        uploads = (self.deferred_script, self.secrets)
        return self.num_instances > 1 or any(u is not None for u in uploads) or bool(self.code_root)


@dataclass
class ProvisionStatus:
    """Progress of one task's provisioning (read by ``get_upload_status``).

    Attributes:
        phase: ``waiting_for_instances``, ``connecting``, ``sending_secrets``,
            ``uploading_script``,
            ``writing_ranks``, ``uploading_code``, ``ready``, ``failed`` or ``stopped``.
        message: Why it failed, when it did.
        files_done: Code files uploaded so far.
        files_total: Code files selected.
        bytes_done: Code bytes uploaded so far.
        bytes_total: Size of the selected code files.
        upload: Statistics of the finished code upload of each instance.
    """

    phase: str = "waiting_for_instances"
    message: str | None = None
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    upload: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Whether the worker has ended."""
        return self.phase in ("ready", "failed", "stopped")

    def as_dict(self) -> dict[str, Any]:
        """Returns the status as plain data."""
        return {**asdict(self), "finished": self.finished}


_STEPS = {
    "waiting_for_instances": "waiting for instances",
    "connecting": "connecting to the instances",
    "sending_secrets": "sending secrets",
    "uploading_script": "uploading the startup script",
    "writing_ranks": "writing rank files",
}


def provision_step(status: Mapping[str, Any]) -> str | None:
    """Returns the after-boot step in words for a task's header, or ``None`` once done.

    Args:
        status: ``ProvisionStatus.as_dict()``.
    """
    phase = status.get("phase")
    if phase == "uploading_code":
        done, total = status.get("files_done", 0), status.get("files_total", 0)
        return f"uploading code: {done} of {total} files" if total else "uploading code"
    if phase == "failed":
        return f"setting up the instances failed: {status.get('message')}"
    return _STEPS.get(str(phase))


class Provisioner:
    """Runs the after-boot work of each task in a thread of its own.

    Args:
        instances: Fetches the bid's instances.
        get_bid: Returns a bid by id.
        remote: Remote operations keyed by instance id.
        code_sync: Returns the code uploader for a working directory.
        layout: Instance paths.
        poll_interval: Seconds between checks while waiting.
        timeout: Seconds a worker waits for instances and SSH before failing.
        on_failed: Called with the bid id and the one-line reason when a worker
            fails (``TaskQueries.fail`` ends the task); its errors are logged only.
    """

    def __init__(
        self,
        instances: InstanceService,
        get_bid: Callable[[str], BidModel],
        remote: IInstanceRemote,
        code_sync: Callable[[str], ICodeSync],
        layout: RuntimeLayout | None = None,
        *,
        poll_interval: float = 2.0,
        timeout: float = 1800.0,
        on_failed: Callable[[str, str], None] = lambda bid_fid, reason: None,
    ) -> None:
        self._instances = instances
        self._get_bid = get_bid
        self._remote = remote
        self._code_sync = code_sync
        self._layout = layout or RuntimeLayout()
        self._poll = poll_interval
        self._timeout = timeout
        self._on_failed = on_failed
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._status: dict[str, ProvisionStatus] = {}
        self._lock = threading.Lock()

    def start(self, job: ProvisionJob) -> ProvisionStatus | None:
        """Starts the worker of ``job``; returns its status (``None``: nothing to do)."""
        if not job.has_work:
            return None
        status = ProvisionStatus()
        thread = threading.Thread(
            target=self._run, args=(job, status), name=f"flow-provision-{job.bid_fid}", daemon=True
        )
        with self._lock:
            self._status[job.bid_fid] = status
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return status

    def status(self, bid_fid: str) -> ProvisionStatus | None:
        """Returns the provisioning status of a task started here, or ``None``."""
        with self._lock:
            return self._status.get(bid_fid)

    def upload_status(self, bid_fid: str) -> dict[str, Any] | None:
        """Returns ``status`` as plain data (``ProvisionStatus.as_dict``), or ``None``."""
        status = self.status(bid_fid)
        return status.as_dict() if status else None

    def wait(self, bid_fid: str, timeout: float) -> ProvisionStatus | None:
        """Waits up to ``timeout`` seconds for the worker to finish; returns its status."""
        deadline = time.monotonic() + timeout
        status = self.status(bid_fid)
        while status is not None and not status.finished and time.monotonic() < deadline:
            time.sleep(0.05)
        return status

    def sync_code(
        self, bid_fid: str, root: Path, working_dir: str = paths.WORKSPACE
    ) -> list[dict[str, Any]]:
        """Uploads ``root`` to every running instance of the task now (only what changed).

        Returns:
            The upload statistics of each instance.

        Raises:
            TaskStateError: The task has no running instance.
            FlowError: An upload failed.
        """
        bid = self._get_bid(bid_fid)
        found = in_bid_order(bid.instances, self._instances.for_bid(bid_fid))
        ready = [i for i in found if self._instances.endpoint(i) is not None]
        if bid.status == "Terminated":
            raise TaskStateError(
                f"task {bid_fid} has ended; code syncs only to a running task",
                suggestion="start a new task to run new code",
            )
        if bid.status != "Allocated" or not ready:
            raise TaskStateError(
                f"task {bid_fid} has no running instance to upload code to",
                suggestion="wait until it is running",
            )
        sync = self._code_sync(working_dir)
        return [{"instance": i.fid, **stats_dict(sync.sync(i.fid, Path(root)))} for i in ready]

    def close(self, timeout: float = 10.0) -> None:
        """Stops every worker and waits (bounded) for them. Safe to call twice."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, job: ProvisionJob, status: ProvisionStatus) -> None:
        try:
            ordered = self._wait_for_instances(job, status)
            status.phase = "connecting"
            for instance in ordered:
                self._wait_writable(instance.fid, [self._layout.log_dir])
            if job.secrets is not None:
                status.phase = "sending_secrets"
                for instance in ordered:
                    with self._remote.files(instance.fid) as files:
                        data = job.secrets.encode("utf-8")
                        files.write_bytes(self._layout.secrets_file, data, mode=0o600)
            if job.deferred_script is not None:
                status.phase = "uploading_script"
                for instance in ordered:
                    self._upload_deferred(instance.fid, job.deferred_script)
            if job.num_instances > 1:
                status.phase = "writing_ranks"
                self._write_ranks(ordered)
            if job.code_root:
                status.phase = "uploading_code"
                self._upload_code(job, ordered, status)
            status.phase = "ready"
        except _Stopped:
            status.phase = "stopped"
        except FlowError as exc:
            self._failed(job, status, str(exc))
        except Exception as exc:  # noqa: BLE001 - a dead worker would leave the phase forever
            self._failed(job, status, f"{type(exc).__name__}: {exc}")

    def _failed(self, job: ProvisionJob, status: ProvisionStatus, reason: str) -> None:
        message = f"setting up task {job.bid_fid} failed ({status.phase}): {reason}"
        try:
            self._on_failed(job.bid_fid, message)
        except Exception as exc:  # noqa: BLE001 - the status below must still be set
            logger.warning("could not end task %s after its setup failed: %s", job.bid_fid, exc)
        status.phase, status.message = "failed", message

    def _wait_for_instances(self, job: ProvisionJob, status: ProvisionStatus) -> list[Any]:
        deadline = time.monotonic() + self._timeout
        while True:
            bid = self._get_bid(job.bid_fid)
            if bid.status == "Terminated":
                raise _Stopped()
            found = in_bid_order(bid.instances, self._instances.for_bid(job.bid_fid))
            if any(i.status == "STATUS_ERROR" for i in found):
                raise RemoteOperationError(f"an instance of task {job.bid_fid} failed to start")
            ready = self._instances.endpoints(found)
            if len(found) >= job.num_instances and len(ready) == len(found):
                return found
            self._pause(deadline, f"instances of task {job.bid_fid} did not start")

    def _wait_writable(self, instance_fid: str, directories: list[str]) -> None:
        checks = " && ".join(f"[ -w {shlex.quote(d)} ]" for d in directories)
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                answer = self._remote.execute_command(
                    instance_fid, f"if {checks}; then echo ok; fi", timeout=30
                )
                if answer.strip() == "ok":
                    return
            except HostKeyMismatchError:
                raise
            except FlowError:
                pass  # sshd or the startup script is not up yet.
            self._pause(deadline, f"instance {instance_fid} did not accept SSH writes")

    def _upload_deferred(self, instance_fid: str, script: str) -> None:
        path = self._layout.deferred_script
        with self._remote.files(instance_fid) as files:
            files.write_bytes(path, script.encode("utf-8"))
        # The body carries the task's secrets: only its owner (and root) may read it.
        self._remote.execute_command(instance_fid, f"chmod 600 {shlex.quote(path)}", timeout=30)
        with self._remote.files(instance_fid) as files:
            files.write_bytes(self._layout.deferred_ready_marker, b"")

    def _write_ranks(self, ordered: list[InstanceModel]) -> None:
        main_ip = ordered[0].private_ip
        if not main_ip:
            raise RemoteOperationError("the first instance has no private IP for the rank file")
        for rank, instance in enumerate(ordered):
            body = render_rank_file(rank, len(ordered), main_ip)
            with self._remote.files(instance.fid) as files:
                files.write_bytes(self._layout.rank_file, body.encode("ascii"))

    def _upload_code(
        self, job: ProvisionJob, ordered: list[InstanceModel], status: ProvisionStatus
    ) -> None:
        assert job.code_root is not None
        workdir = self._layout.at(job.working_dir)

        def progress(files_done: int, files_total: int, bytes_done: int, total: int) -> None:
            status.files_done, status.files_total = files_done, files_total
            status.bytes_done, status.bytes_total = bytes_done, total

        for instance in ordered:
            self._wait_writable(instance.fid, [workdir])
            if self._stop.is_set():
                raise _Stopped()
            stats = self._code_sync(job.working_dir).sync(
                instance.fid, job.code_root, progress, self._stop
            )
            status.upload.append({"instance": instance.fid, **stats_dict(stats)})

    def _pause(self, deadline: float, why: str) -> None:
        if time.monotonic() >= deadline:
            raise RemoteOperationError(f"{why} within {self._timeout:.0f}s")
        if self._stop.wait(self._poll):
            raise _Stopped()


class _Stopped(Exception):
    """The provider is closing, or the task ended while the worker waited."""


def stats_dict(stats: Any) -> dict[str, Any]:
    """Returns an upload's statistics as a dict (empty when they are not a dataclass)."""
    try:
        return asdict(stats)
    except TypeError:
        return {}
