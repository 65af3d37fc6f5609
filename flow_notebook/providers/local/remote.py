"""Remote operations for local tasks: commands and files in the task's work directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from flow_notebook.core.errors import RemoteOperationError, ValidationError

_STDERR_TAIL = 500


class LocalRemoteOperations:
    """Runs commands and reads files in a local task's work directory.

    Args:
        work_dir_of: Returns a task's work directory (raises ``TaskNotFoundError``).
        readable_roots: Directories besides the work directory that files may be read
            from (the volumes, which appear in the work directory as symlinks).
        output: Where ``open_shell`` prints a command's output.
    """

    def __init__(
        self,
        work_dir_of: Callable[[str], Path],
        readable_roots: list[Path] | None = None,
        output: Callable[[str], object] = print,
    ) -> None:
        self._work_dir_of = work_dir_of
        self._roots = [root.resolve() for root in readable_roots or []]
        self._output = output

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``bash -c command`` in the task's work directory and returns its stdout.

        Raises:
            RemoteOperationError: It exited non-zero (message ends with its stderr),
                timed out, or could not start.
        """
        work_dir = self._work_dir_of(task_id)
        env = dict(os.environ, FLOW_TASK_ID=task_id)
        try:
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=work_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RemoteOperationError(
                f"command timed out after {timeout}s on task {task_id}"
            ) from exc
        except OSError as exc:
            raise RemoteOperationError(f"cannot run a command: {exc.strerror}") from exc
        if result.returncode != 0:
            tail = " ".join(result.stderr.strip().split())[-_STDERR_TAIL:]
            raise RemoteOperationError(
                f"command exited with code {result.returncode} on task {task_id}: {tail}"
            )
        return result.stdout

    def retrieve_file(self, task_id: str, remote_path: str) -> bytes:
        """Returns a file of the task's work directory (relative or absolute path).

        Raises:
            ValidationError: The path leads outside the work directory and its volumes.
            RemoteOperationError: The file cannot be read.
        """
        work_dir = self._work_dir_of(task_id).resolve()
        candidate = Path(remote_path)
        if ".." in candidate.parts or "\x00" in remote_path:
            raise ValidationError(f"path {remote_path!r} is not allowed", field="remote_path")
        path = candidate if candidate.is_absolute() else work_dir / candidate
        lexical_ok = path == work_dir or work_dir in path.parents
        real = path.resolve()
        roots = [work_dir, *self._roots]
        if not lexical_ok or not any(real == r or r in real.parents for r in roots):
            raise ValidationError(
                f"path {remote_path!r} is outside the task's work directory",
                field="remote_path",
            )
        try:
            return real.read_bytes()
        except OSError as exc:
            raise RemoteOperationError(f"cannot read {remote_path}: {exc.strerror}") from exc

    def open_shell(self, task_id: str, command: str | None = None) -> None:
        """Runs ``command`` in the task's work directory and prints its output.

        Raises:
            RemoteOperationError: No command was given (a notebook cannot host an
                interactive shell), or the command failed.
        """
        if not command:
            self._work_dir_of(task_id)
            raise RemoteOperationError(
                "an interactive shell is not available in a notebook",
                suggestion="pass a command to run, or open a terminal in the work directory",
            )
        self._output(self.execute_command(task_id, command).rstrip("\n"))
