"""``IRemoteOperations`` for Mithril: commands, streams and files on a task's instance."""

from __future__ import annotations

import os
import posixpath
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from flow_notebook.core.errors import (
    HostKeyMismatchError,
    RemoteOperationError,
    TaskStateError,
    ValidationError,
)
from flow_notebook.core.line_streams import StreamCloser
from flow_notebook.providers.mithril.remote import channels
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.remote.errors import (
    LinkUnansweredError,
    command_failed,
    ssh_errors,
)
from flow_notebook.providers.mithril.remote.files import RemoteFiles

EndpointResolver = Callable[[str], list[SSHEndpoint]]
"""Returns the SSH endpoints of a task's instances, first instance first."""


class IConnectionPool(Protocol):
    """Connections per instance (``SSHConnectionPool`` and ``LazyKeyPool`` fit)."""

    def client(self, endpoint: SSHEndpoint) -> Any:
        """Returns a connected ``paramiko.SSHClient`` for ``endpoint``."""
        ...

    def discard(self, endpoint: SSHEndpoint) -> None:
        """Closes and forgets the connection to ``endpoint``."""
        ...

    def discard_if_dead(self, endpoint: SSHEndpoint) -> None:
        """Forgets the connection to ``endpoint`` if it is no longer usable."""
        ...

    def mark_unanswered(self, endpoint: SSHEndpoint) -> None:
        """Records that ``endpoint`` stopped answering; closes its connection."""
        ...

    def ssh_args(self, endpoint: SSHEndpoint, *, batch: bool = True) -> list[str]:
        """Returns ``ssh`` arguments that log in to ``endpoint`` as the pool does."""
        ...


class MithrilRemoteOperations:
    """Runs commands and moves files on a task's first instance over SSH.

    Args:
        resolve: Maps a task id to its instances' endpoints. It raises
            ``TaskStateError``/``TaskNotFoundError`` for tasks without instances, or
            returns an empty list, which is reported as "no instance yet".
        pool: The connection pool (one SSH connection per instance, reused).
    """

    def __init__(self, resolve: EndpointResolver, pool: IConnectionPool) -> None:
        self._resolve = resolve
        self.pool = pool

    def endpoint(self, task_id: str) -> SSHEndpoint:
        """Returns the endpoint of the task's first instance.

        Raises:
            TaskStateError: The task has no reachable instance yet.
        """
        endpoints = self._resolve(task_id)
        if not endpoints:
            raise TaskStateError(
                f"task {task_id} has no instance with SSH yet",
                suggestion="wait until the task is running",
            )
        return endpoints[0]

    def execute_command(
        self, task_id: str, command: str, timeout: int | None = None, *, stdin: bytes = b""
    ) -> str:
        """Runs a shell command on the task's first instance.

        Args:
            task_id: The task.
            command: A shell command line.
            timeout: Seconds to wait; ``None`` waits for the command to end.
            stdin: The command's standard input (kept off its command line).

        Returns:
            The command's standard output, decoded as UTF-8.

        Raises:
            RemoteCommandError: The command exited non-zero (status and stderr tail).
            RemoteOperationError: The command could not be run, timed out, or the
                connection was lost.
        """
        endpoint = self.endpoint(task_id)
        wait = None if timeout is None else float(timeout)
        channel = self._open_channel(endpoint, wait)
        with self._connection_errors("run command", endpoint):
            status, out, err = channels.run_command(channel, command, wait, stdin)
        if status == -1:
            self.pool.discard(endpoint)
            raise RemoteOperationError(f"run command on {endpoint} failed: no exit status")
        if status != 0:
            raise command_failed(f"task {task_id}", status, err)
        return out.decode("utf-8", errors="replace")

    def stream_command(
        self, task_id: str, command: str, *, pty: bool = True, closer: StreamCloser | None = None
    ) -> Iterator[str]:
        """Yields the output lines of ``command`` as they come, over one channel.

        Args:
            task_id: The task.
            command: A shell command line.
            pty: Run on a pseudo-terminal, so stopping the iteration ends the remote
                command (stderr is then merged into the output).
            closer: Closing it closes the channel: the iteration ends at once.

        Yields:
            Lines without their newline.

        Raises:
            RemoteCommandError: The command exited non-zero.
            RemoteOperationError: The connection failed or was lost mid-stream.
        """
        endpoint = self.endpoint(task_id)
        channel = self._open_channel(endpoint, None)
        with self._connection_errors("stream command", endpoint):
            yield from channels.stream_lines(channel, command, pty=pty, closer=closer)

    def retrieve_file(self, task_id: str, remote_path: str) -> bytes:
        """Returns the content of a file on the task's first instance.

        Raises:
            RemoteOperationError: The file is missing or cannot be read.
        """
        with self.files(task_id) as files:
            return files.read_bytes(remote_path)

    def shell_command(self, task_id: str, command: str | None = None) -> str:
        """Returns the ``ssh`` command line that opens a shell (or runs ``command``).

        It works as pasted into a terminal: port, login key and the trusted host-key
        file are named, and it may prompt (e.g. for a key's passphrase).
        """
        endpoint = self.endpoint(task_id)
        args = self.pool.ssh_args(endpoint, batch=False) + [f"{endpoint.user}@{endpoint.host}"]
        if command:
            args.append(command)
        return shlex.join(args)

    def ssh_target(self, task_id: str) -> tuple[list[str], str]:
        """Returns ``ssh`` arguments (trusted host-key file, key) and ``user@host``.

        For ``rsync -e`` and other command-line tools.
        """
        endpoint = self.endpoint(task_id)
        return self.pool.ssh_args(endpoint), f"{endpoint.user}@{endpoint.host}"

    def open_shell(self, task_id: str, command: str | None = None) -> None:
        """Prints the ``ssh`` command to run in a terminal.

        A notebook cell cannot host an interactive terminal, so this gives the
        command (with the trusted host-key file) instead of opening one.
        """
        print(self.shell_command(task_id, command))

    @contextmanager
    def files(self, task_id: str) -> Iterator[RemoteFiles]:
        """Opens one SFTP session on the task's first instance.

        Yields:
            The file operations; the session closes when the block ends.
        """
        endpoint = self.endpoint(task_id)
        with self._connection_errors("open SFTP", endpoint):
            sftp = self.pool.client(endpoint).open_sftp()
        with RemoteFiles(sftp, endpoint) as files:
            yield files

    def upload_file(self, task_id: str, local_path: Path, remote_path: str) -> int:
        """Uploads one file atomically; returns the bytes sent."""
        with self.files(task_id) as files:
            return files.put(Path(local_path), remote_path)

    def upload_directory(
        self,
        task_id: str,
        local_dir: Path,
        remote_dir: str,
        *,
        follow_external_symlinks: bool = False,
    ) -> int:
        """Uploads a directory tree; returns the bytes sent.

        Args:
            task_id: The task.
            local_dir: The directory to send.
            remote_dir: Absolute destination directory.
            follow_external_symlinks: Send the targets of symlinks that leave
                ``local_dir``; by default such links are refused.

        Raises:
            ValidationError: A symlink leaves ``local_dir`` and was not allowed.
            RemoteOperationError: A transfer failed.
        """
        local = Path(local_dir)
        selected = list(iter_tree(local, follow_external_symlinks=follow_external_symlinks))
        sent = 0
        with self.files(task_id) as files:
            files.makedirs(remote_dir)
            for rel in selected:
                sent += files.put(local / rel, posixpath.join(remote_dir, rel))
        return sent

    def download_file(
        self, task_id: str, remote_path: str, local_dir: Path, name: str | None = None
    ) -> Path:
        """Downloads one file into ``local_dir`` (as ``name`` or its own name).

        Raises:
            RemoteOperationError: The name would escape ``local_dir``, or the
                transfer failed.
        """
        with self.files(task_id) as files:
            return files.get(remote_path, Path(local_dir), name or posixpath.basename(remote_path))

    def download_directory(self, task_id: str, remote_dir: str, local_dir: Path) -> list[Path]:
        """Downloads the regular files under ``remote_dir`` into ``local_dir``.

        Returns:
            The local paths written.

        Raises:
            RemoteOperationError: A remote name would escape ``local_dir``, or a
                transfer failed.
        """
        with self.files(task_id) as files:
            return [
                files.get(posixpath.join(remote_dir, rel), Path(local_dir), rel)
                for rel in list(files.walk_files(remote_dir))
            ]

    def _open_channel(self, endpoint: SSHEndpoint, timeout: float | None) -> Any:
        # A pooled connection may have died unnoticed; nothing was sent on it yet, so
        # one retry on a fresh connection cannot run a command twice. A fresh connection
        # that fails is not tried again here: each try may wait the connect timeout.
        for attempt in range(2):
            client = self.pool.client(endpoint)
            try:
                with ssh_errors("open channel", endpoint):
                    return channels.open_channel(client, timeout)
            except HostKeyMismatchError:
                raise
            except RemoteOperationError:
                self.pool.discard(endpoint)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _connection_errors(self, action: str, endpoint: SSHEndpoint) -> Iterator[None]:
        # A failed connection is dropped from the pool so the next call reconnects.
        try:
            with ssh_errors(action, endpoint):
                yield
        except LinkUnansweredError:
            self.pool.mark_unanswered(endpoint)
            raise
        except RemoteOperationError:
            self.pool.discard_if_dead(endpoint)
            raise


def iter_tree(root: Path, *, follow_external_symlinks: bool = False) -> Iterator[str]:
    """Yields every regular file under ``root`` as a relative POSIX path, sorted.

    File symlinks inside ``root`` are sent as their content; directory symlinks
    inside it are skipped (their files are sent once, under their real place).
    Symlinks to files or directories outside ``root`` are refused, or followed when
    ``follow_external_symlinks`` is true.

    Raises:
        ValidationError: A symlink leaves ``root`` and ``follow_external_symlinks``
            is false.
    """
    real_root = root.resolve()
    found = []
    visited = {real_root}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        for name in list(dirnames):
            path = Path(dirpath) / name
            real = path.resolve()
            inside = _inside(real, real_root)
            if path.is_symlink() and (inside or real in visited):
                dirnames.remove(name)  # a duplicate of files sent elsewhere, or a loop
            elif path.is_symlink():
                _check_external(path, root, follow_external_symlinks)
            visited.add(real)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() and not _inside(path.resolve(), real_root):
                _check_external(path, root, follow_external_symlinks)
            if path.is_file():
                found.append(path.relative_to(root).as_posix())
    yield from sorted(found)


def _inside(real: Path, real_root: Path) -> bool:
    return real == real_root or real_root in real.parents


def _check_external(path: Path, root: Path, allowed: bool) -> None:
    if not allowed:
        raise ValidationError(
            f"symlink {path} points outside {root}",
            suggestion="remove it or allow external symlinks",
        )
