"""How many log lines of each task this notebook has shown, kept across kernels.

A follow that stops (interrupt, timeout, kernel restart) records the number of lines
it printed; a later ``%flow logs TASK --follow`` resumes from there, so nothing is
shown twice and nothing is lost when the provider supports ``IResumableLogs``.
Kernels share the file: every change is made under its cross-process lock. Only the
``MAX_POSITIONS`` most recently set entries are kept, so the file stays small.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flow_notebook.core.config import flow_home
from flow_notebook.notebook.state_file import read_json_object, update_json_object

MAX_POSITIONS = 2000


class LogPositions:
    """A small JSON file mapping ``task_id:log_type`` to lines shown, written atomically.

    Args:
        path: The file; ``None`` means ``$FLOW_HOME/notebook/positions``, resolved on
            first use so a changed ``FLOW_HOME`` is respected.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The file the positions live in."""
        return self._path or flow_home() / "notebook" / "positions"

    def get(self, task_id: str, log_type: str = "stdout") -> int:
        """Returns the number of lines shown so far; 0 when none were recorded."""
        with self._lock:
            return int(self._read().get(_key(task_id, log_type), 0))

    def set(self, task_id: str, lines: int, log_type: str = "stdout") -> None:
        """Records that ``lines`` lines of the task's log have been shown.

        Raises:
            ConfigurationError: The file cannot be written.
        """
        key = _key(task_id, log_type)

        def record(data: dict[str, int]) -> None:
            data.pop(key, None)  # re-inserted last: the dict keeps the order of use
            data[key] = int(lines)
            for old in list(data)[:-MAX_POSITIONS]:
                del data[old]

        with self._lock:
            update_json_object(self.path, record)

    def _read(self) -> dict[str, int]:
        return read_json_object(self.path)


def _key(task_id: str, log_type: str) -> str:
    return f"{task_id}:{log_type}"
