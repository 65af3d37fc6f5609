"""``SftpStrategy``: the fallback upload, changed files only, each atomically.

A file is changed when its size, mtime and hash differ from the manifest kept on
the instance; each goes to a temporary name and is renamed into place.
"""

from __future__ import annotations

import posixpath
import shlex
import time

from flow_notebook.providers.mithril.domain.upload_job import (
    MANIFEST_PATH,
    IUploadRemote,
    UploadJob,
    UploadStats,
    manifest_entries,
    read_manifest,
    write_manifest,
)


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
        previous = read_manifest(self._remote, job, self._manifest)
        entries = manifest_entries(job, sizes, previous)
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
        gone = sorted(set(previous) - set(entries))
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
            for rel in gone:
                files.remove(posixpath.join(job.remote_root, rel))
        write_manifest(self._remote, job, self._manifest, entries)
        return UploadStats(
            self.name,
            files_total=len(job.files),
            files_sent=len(changed),
            bytes_total=total,
            bytes_sent=sent,
            seconds=time.monotonic() - started,
            files_deleted=len(gone),
        )
