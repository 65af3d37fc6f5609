"""Uploads that send nothing after boot: ``EmbeddedStrategy`` and ``NoUpload``."""

from __future__ import annotations

import base64
import io
import shlex
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril.domain.upload_job import UploadJob, UploadStats
from flow_notebook.providers.mithril.runtime import paths
from flow_notebook.providers.mithril.runtime.startup_builder import CodeFetch


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

    def plan(self, config: TaskConfig) -> tuple[CodeFetch, Path | None]:
        """Returns how the task's code reaches it, and the root to upload after boot.

        No code: nothing to fetch. A tree up to ``max_bytes`` compressed: inside the
        script. A larger one: the runner waits for an upload of ``config.code_root``.
        """
        if not config.upload_code or config.code_root is None:
            return CodeFetch.none(), None
        archive = self.archive(config.code_root)
        if archive is not None:
            return CodeFetch.embedded(archive), None
        return CodeFetch.wait_for_upload(), config.code_root

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
