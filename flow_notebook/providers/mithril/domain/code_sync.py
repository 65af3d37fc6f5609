"""``%flow sync`` for Mithril: send what changed to every instance of a running task.

``CodeSync.sync_code`` implements ``core.provider_interfaces.ICodeSync``: it sends
the task's working directory the files of a local tree that changed (rsync delta,
SFTP fallback) to each running instance and sums the per-instance reports into one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.code_tree import tree_digest
from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.runtime import paths


class IInstanceSync(Protocol):
    """Uploads to every running instance of a task (``Provisioner`` fits)."""

    def sync_code(
        self, bid_fid: str, root: Path, working_dir: str = paths.WORKSPACE
    ) -> list[dict[str, Any]]:
        """Returns one upload report per instance."""
        ...


class CodeSync:
    """Sends local code to a running task and reports what it sent.

    Args:
        instances: Uploads to each running instance.
        working_dir_of: Returns the working directory the task was submitted with,
            or ``None`` when unknown (then ``/workspace``).
        exclude: Local directories never sent (``FLOW_HOME``, which may hold the key).
    """

    def __init__(
        self,
        instances: IInstanceSync,
        working_dir_of: Callable[[str], str | None],
        exclude: Iterable[Path] = (),
    ) -> None:
        self._instances = instances
        self._working_dir_of = working_dir_of
        self._exclude = [Path(p) for p in exclude]

    def sync_code(
        self, task_id: str, local_path: Path, working_dir: str | None = None
    ) -> dict[str, Any]:
        """Makes each instance's working directory hold the selected files of ``local_path``.

        Args:
            task_id: A running task.
            local_path: The local directory to send.
            working_dir: Directory on the instances; default the task's own.

        Returns:
            ``files`` and ``bytes`` sent (summed over instances), ``files_total``,
            ``deleted``, ``digest``, ``strategy`` and the per-instance reports under
            ``instances``.

        Raises:
            TaskNotFoundError: No task has that id.
            TaskStateError: The task has ended or has no running instance.
            ValidationError: ``local_path`` is not a directory.
            RemoteOperationError: An upload failed.
        """
        root = Path(local_path).expanduser()
        if not root.is_dir():
            raise ValidationError(f"code root {root} is not a directory", field="local_path")
        target = working_dir or self._working_dir_of(task_id) or paths.WORKSPACE
        reports = self._instances.sync_code(task_id, root, target)
        return {
            **summarize(reports),
            "digest": tree_digest(root, exclude=self._exclude),
            "working_dir": target,
        }


def summarize(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums per-instance upload reports (``UploadStats`` as dicts) into one report.

    Returns:
        ``files``/``bytes`` sent and ``deleted`` summed over instances, ``files_total``
        and ``strategy`` of the first instance, and ``instances``: the reports.
    """
    first = reports[0] if reports else {}
    return {
        "files": sum(int(r.get("files_sent") or 0) for r in reports),
        "bytes": sum(int(r.get("bytes_sent") or 0) for r in reports),
        "deleted": sum(int(r.get("files_deleted") or 0) for r in reports),
        "files_total": int(first.get("files_total") or 0),
        "strategy": first.get("strategy"),
        "instances": list(reports),
    }
