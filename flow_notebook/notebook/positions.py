"""How many log lines of each task this notebook has shown, kept across kernels.

A follow that stops (interrupt, timeout, kernel restart) records the number of lines
it printed; a later ``%flow logs TASK --follow`` resumes from there, so nothing is
shown twice and nothing is lost when the provider supports ``IResumableLogs``.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from flow_notebook.core.config import flow_home
from flow_notebook.core.errors import ConfigurationError


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
        with self._lock:
            data = self._read()
            data[_key(task_id, log_type)] = int(lines)
            self._write(data)

    def _read(self) -> dict[str, int]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged file only costs the resume point; start over rather than fail.
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write(self, data: dict[str, int]) -> None:
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".positions-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, sort_keys=True)
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from exc


def _key(task_id: str, log_type: str) -> str:
    return f"{task_id}:{log_type}"
