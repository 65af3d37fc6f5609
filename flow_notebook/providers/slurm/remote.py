"""Remote operations of Slurm tasks: commands and files on the login node.

The login node sees the shared filesystem the jobs write, so a task's commands run
there in the task's working directory, and relative paths are read from it.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable, Iterator

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.core.line_streams import StreamCloser
from flow_notebook.providers.slurm.layout import TaskLayout
from flow_notebook.providers.slurm.login import ILogin

LayoutOf = Callable[[str], TaskLayout]
"""Returns the layout of a task id (raises ``TaskNotFoundError``)."""


class SlurmRemoteOperations:
    """``IRemoteOperations`` for Slurm tasks, run on the login node.

    Args:
        login: The login node.
        layout_of: Finds a task's directories.
        shell_line: Returns the ``ssh`` command that logs in (``None`` without SSH).
    """

    def __init__(
        self,
        login: ILogin,
        layout_of: LayoutOf,
        shell_line: Callable[[str | None], str] | None = None,
    ) -> None:
        self._login = login
        self._layout_of = layout_of
        self._shell_line = shell_line

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``command`` on the login node in the task's working directory."""
        work = shlex.quote(self._layout_of(task_id).work_dir)
        return self._login.execute_command(task_id, f"cd {work} && {command}", timeout)

    def retrieve_file(self, task_id: str, remote_path: str) -> bytes:
        """Returns a file of the task (a relative path is read in its working directory).

        Raises:
            RemoteOperationError: The file is missing or cannot be read.
        """
        path = shlex.quote(self._layout_of(task_id).in_work_dir(remote_path))
        text = self._login.execute_command(task_id, f"base64 -w0 < {path}", 120)
        try:
            return base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise RemoteOperationError(f"cannot read {remote_path} of task {task_id}") from exc

    def open_shell(self, task_id: str, command: str | None = None) -> None:
        """Prints the command that opens a shell on the login node (or runs ``command``)."""
        if self._shell_line is None:
            print(command or "this machine is the login node: use a terminal here")
            return
        work = shlex.quote(self._layout_of(task_id).work_dir)
        inner = f"cd {work} && {command}" if command else f"cd {work} && exec $SHELL -l"
        print(self._shell_line(inner))


class TaskDirLogin:
    """The login node with commands run in a task's own directory (for ``LogService``).

    ``LogService`` names log files and the done marker by fixed paths; run here they
    resolve inside the task's directory.

    Args:
        login: The login node.
        layout_of: Finds a task's directories.
    """

    def __init__(self, login: ILogin, layout_of: LayoutOf) -> None:
        self._login = login
        self._layout_of = layout_of

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        """Runs ``command`` in the task's directory."""
        return self._login.execute_command(task_id, self._in_dir(task_id, command), timeout)

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Streams ``command``'s lines, run in the task's directory."""
        in_dir = self._in_dir(task_id, command)
        return self._login.stream_command(task_id, in_dir, pty=pty, closer=closer)

    def _in_dir(self, task_id: str, command: str) -> str:
        return f"cd {shlex.quote(self._layout_of(task_id).task_dir)} && {command}"
