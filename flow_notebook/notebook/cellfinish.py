"""What happens when a cell's task ends: pull variables back, warn about stale code."""

from __future__ import annotations

import posixpath
from pathlib import Path

from flow_notebook.core.config import flow_home
from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Task, TaskStatus
from flow_notebook.notebook.cellscript import (
    PULL_MARKER,
    Pulled,
    PullLine,
    join_pull_lines,
    read_pull_line,
    unpack_pulled,
)
from flow_notebook.notebook.follow import PlainFinisher
from flow_notebook.notebook.provenance import Provenance, stale_warning
from flow_notebook.notebook.pull_keys import pull_key
from flow_notebook.notebook.render import RunSummary
from flow_notebook.notebook.session import FlowSession


class CellFinisher(PlainFinisher):
    """Builds a cell's summary; on success brings ``--pull`` variables into the notebook.

    Args:
        session: Supplies the provider and the notebook's variables.
        facts: Lines shown under the status (the code provenance).
        pull_names: Variables to bring back.
        pull_file: Where the task's epilogue saved them (relative to its working dir).
        provenance: The code sent, to warn when local files changed since.
        working_dir: The task's working directory, tried when the provider reads
            relative paths from elsewhere (e.g. an SSH user's home).
    """

    def __init__(
        self,
        session: FlowSession,
        facts: list[str],
        *,
        pull_names: list[str] | None = None,
        pull_file: str | None = None,
        provenance: Provenance | None = None,
        working_dir: str | None = None,
    ) -> None:
        super().__init__(facts)
        self._session = session
        self._pull_names = list(pull_names or [])
        self._pull_file = pull_file
        self._provenance = provenance
        self._working_dir = working_dir
        self.pulled: list[str] = []
        self._from_log: dict[int, PullLine] = {}
        self._key: bytes | None = None
        self.pull_problem: str | None = None

    def ended(self, task: Task, kept: list[str], dropped: int) -> RunSummary:
        """Pulls variables (when asked and the task completed) and adds the outcome."""
        facts = self._current_facts(task.task_id)
        if self._pull_names:
            facts.append(self._pull(task))
        warning = self._stale_warning(task.task_id)
        if warning:
            facts.append(warning)
        return RunSummary(task, kept, dropped, facts)

    def stopped(self, task: Task, kept: list[str], dropped: int, note: str) -> RunSummary:
        """The summary of a task no longer followed; asked-for values did not come back."""
        if self._pull_names:
            wanted = ", ".join(self._pull_names)
            self.pull_problem = f"not pulled ({wanted}): the follow stopped before the task's end"
        return super().stopped(task, kept, dropped, note)

    def _pull(self, task: Task) -> str:
        wanted = ", ".join(self._pull_names)
        if task.status is not TaskStatus.COMPLETED or not self._pull_file:
            self.pull_problem = f"not pulled ({wanted}): the task {task.status.value}"
            return self.pull_problem
        try:
            pulled = self._fetch(task.task_id, self._pull_file)
        except FlowError as exc:
            self.pull_problem = f"could not pull {wanted}: {exc}"
            return self.pull_problem
        self._session.user_ns.update(pulled.values)
        self.pulled = list(pulled.values)
        return self._describe(pulled)

    def consume(self, line: str) -> bool:
        """Collects the signed pull lines the epilogue printed; hides only those.

        A line whose signature does not check is shown like any other.
        """
        if not self._pull_file or not line.startswith(PULL_MARKER):
            return False
        try:
            carried = read_pull_line(self._pull_key(self._pull_file), line)
        except FlowError:
            return False  # No key to check it with: the line is shown.
        if carried is None:
            return False
        self._from_log[carried.index] = carried
        return True

    def _pull_key(self, pull_file: str) -> bytes:
        if self._key is None:
            self._key = pull_key(pull_file)
        return self._key

    def _fetch(self, task_id: str, path: str) -> Pulled:
        key = self._pull_key(path)
        signed = join_pull_lines(self._from_log)
        if signed is not None:
            return unpack_pulled(signed, key)
        ops = self._session.provider_of(task_id).get_remote_operations()
        if ops is None:
            raise FlowError("this provider cannot fetch files from a task")
        try:
            data = ops.retrieve_file(task_id, path)
        except FlowError:
            if not self._working_dir:
                raise
            data = ops.retrieve_file(task_id, posixpath.join(self._working_dir, path))
        return unpack_pulled(data, key)

    def _describe(self, pulled: Pulled) -> str:
        parts = []
        if pulled.values:
            parts.append(f"pulled {', '.join(pulled.values)}")
        if pulled.missing:
            parts.append(f"not defined by the cell: {', '.join(pulled.missing)}")
        for name, reason in pulled.errors.items():
            parts.append(f"cannot pickle {name} ({reason})")
        if pulled.missing or pulled.errors:
            self.pull_problem = "; ".join(parts)
        return "; ".join(parts)

    def _current_facts(self, task_id: str) -> list[str]:
        prov = self._provenance
        record = self._session.tasks.find(task_id) if prov else None
        if prov is None or record is None or record.code_digest in (None, prov.digest):
            return list(self.facts)
        synced = f"code {record.code_digest[:12]} (sent by %flow sync)"
        return [synced if fact == prov.one_line() else fact for fact in self.facts]

    def _stale_warning(self, task_id: str) -> str | None:
        prov = self._provenance
        if prov is None:
            return None
        record = self._session.tasks.find(task_id)
        # A later %flow sync moves the point after which local edits are not remote.
        since = max(prov.synced_at, (record.synced_at or 0.0) if record else 0.0)
        root = Path(record.code_root) if record and record.code_root else Path(prov.code_root)
        return stale_warning(root, since, exclude=[flow_home()])
