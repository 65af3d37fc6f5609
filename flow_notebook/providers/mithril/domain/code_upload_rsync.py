"""``RsyncStrategy``: code upload by rsync over ssh, sending only the delta.

Only the selected files are listed (``--files-from``); files selected last time and
gone now are deleted (``--delete-missing-args``), so outputs the task wrote into the
working directory are never touched.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.providers.mithril.domain.upload_job import (
    MANIFEST_PATH,
    IUploadRemote,
    UploadJob,
    UploadStats,
    manifest_entries,
    read_manifest,
    write_manifest,
)


class RsyncStrategy:
    """rsync over ssh, with delta transfer and resumable partial files.

    Args:
        remote: Remote operations (commands, SFTP, ssh arguments).
        rsync: The local rsync program.
        manifest_path: File on the instance listing the files last sent.
        timeout: Seconds allowed for one rsync run.
        ssh_options: Returns extra ``ssh`` options for each run, e.g. connection
            sharing (``remote.multiplex.SSHMultiplexer.options``).
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
        ssh_options: Callable[[], list[str]] | None = None,
    ) -> None:
        self._remote = remote
        self._rsync = rsync
        self._manifest = manifest_path
        self._timeout = timeout
        self._ssh_options = ssh_options

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
        previous = read_manifest(self._remote, job, self._manifest)
        listed = sorted(set(job.files) | set(previous))
        ssh_args, target = self._remote.ssh_target(job.task_id)
        if self._ssh_options is not None:
            ssh_args = [ssh_args[0], *self._ssh_options(), *ssh_args[1:]]
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
                # Compare mtimes to the nanosecond: with whole seconds, a same-size edit
                # made within a second of the last sync was skipped as unchanged.
                "--modify-window=-1",
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
        entries = manifest_entries(job, sizes, previous)
        write_manifest(self._remote, job, self._manifest, entries)
        return UploadStats(
            strategy=self.name,
            files_total=len(job.files),
            files_sent=stats.get("Number of regular files transferred", 0),
            bytes_total=sum(sizes.values()),
            bytes_sent=stats.get("Total bytes sent", 0),
            seconds=time.monotonic() - started,
            files_deleted=len(set(previous) - set(job.files)),
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
