"""The login node: where Slurm's commands run, over SSH or on this machine.

``SSHLogin`` reuses the Mithril remote layer (paramiko connection pool, SFTP,
line streams, ``ssh`` arguments for rsync) with one endpoint, the login node, for
every task. ``LocalLogin`` runs the same shell commands here, for a kernel that runs
on the login node itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.core.line_streams import StreamCloser
from flow_notebook.providers.mithril.remote import HostKeyStore, MithrilRemoteOperations
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import command_failed
from flow_notebook.providers.mithril.remote.pool import SSHConnectionPool
from flow_notebook.providers.slurm.settings import SlurmSettings

LOGIN_ID = "slurm-login"
"""The name the login node's host key is trusted under."""


class ILogin(Protocol):
    """Runs shell commands on the login node (the ``task_id`` only names the caller)."""

    def execute_command(
        self, task_id: str, command: str, timeout: int | None = None, *, stdin: bytes = b""
    ) -> str:
        """Runs ``command``; returns its stdout; raises ``RemoteCommandError`` on failure."""
        ...

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Yields ``command``'s output lines as they come (ended at once by ``closer``)."""
        ...


class SSHLogin:
    """The login node over SSH: Mithril's remote operations with one fixed endpoint.

    Args:
        endpoint: The login node's SSH server.
        pool: Connection pool (host keys trusted on first use, under ``LOGIN_ID``).
    """

    def __init__(self, endpoint: SSHEndpoint, pool: SSHConnectionPool) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.ops = MithrilRemoteOperations(lambda _task_id: [endpoint], pool)

    @classmethod
    def from_settings(cls, settings: SlurmSettings, host_keys: HostKeyStore) -> SSHLogin:
        """Builds the login from the settings (``settings.host`` must be set)."""
        endpoint = SSHEndpoint(str(settings.host), settings.port, settings.user, LOGIN_ID)
        return cls(endpoint, SSHConnectionPool(settings.key_path, host_keys))

    def execute_command(
        self, task_id: str, command: str, timeout: int | None = None, *, stdin: bytes = b""
    ) -> str:
        """Runs ``command`` on the login node. See ``MithrilRemoteOperations``."""
        return self.ops.execute_command(task_id, command, timeout, stdin=stdin)

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Yields the lines of ``command`` over one channel. See ``MithrilRemoteOperations``."""
        return self.ops.stream_command(task_id, command, pty=pty, closer=closer)

    def files(self, task_id: str) -> AbstractContextManager[Any]:
        """Opens one SFTP session on the login node."""
        return self.ops.files(task_id)

    def ssh_target(self, task_id: str) -> tuple[list[str], str]:
        """Returns ``ssh`` arguments and ``user@host`` of the login node (for rsync)."""
        return self.ops.ssh_target(task_id)

    def shell_command(self, command: str | None = None) -> str:
        """Returns the ``ssh`` command line that logs in to the login node."""
        return self.ops.shell_command(LOGIN_ID, command)

    def close(self) -> None:
        """Closes the SSH connection."""
        self.pool.close()


class LocalLogin:
    """This machine is the login node: commands run in a local shell.

    Args:
        shell: The shell that runs each command line.
    """

    def __init__(self, shell: str = "/bin/bash") -> None:
        self._shell = shell

    def execute_command(
        self, task_id: str, command: str, timeout: int | None = None, *, stdin: bytes = b""
    ) -> str:
        """Runs ``command`` here and returns its stdout.

        Raises:
            RemoteCommandError: It exited non-zero.
            RemoteOperationError: It did not end within ``timeout`` seconds.
        """
        try:
            done = subprocess.run(
                [self._shell, "-c", command],
                input=stdin,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RemoteOperationError(f"command did not end within {timeout} s") from None
        if done.returncode != 0:
            raise command_failed("the login node", done.returncode, done.stderr)
        return done.stdout.decode("utf-8", errors="replace")

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Yields ``command``'s output lines; stopping the iteration (or ``closer``) ends it."""
        process = subprocess.Popen(
            [self._shell, "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if pty else subprocess.DEVNULL,
            start_new_session=True,
        )
        group = _ProcessGroup(process.pid)
        if closer is not None:
            closer.watch(group)
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                yield raw.decode("utf-8", errors="replace").rstrip("\n")
            status = process.wait()
        finally:
            if closer is not None:
                closer.forget(group)
            if process.poll() is None:
                # The whole group: a follow's tail and its watcher go with the shell.
                group.close()
                process.wait()
        if closer is not None and closer.closed.is_set():
            return
        if status != 0:
            raise command_failed("the login node", status, b"")

    def close(self) -> None:
        """Nothing to release."""


class _ProcessGroup:
    """Kills a streamed command's process group (its ``close``, for a ``StreamCloser``)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid

    def close(self) -> None:
        try:
            os.killpg(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone
