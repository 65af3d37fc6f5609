"""The one place where paramiko, socket and SFTP exceptions become flow errors.

``ssh_errors`` wraps every SSH call of this package. The mapping, most specific
first::

    BadHostKeyException        -> HostKeyMismatchError
    PasswordRequiredException  -> RemoteOperationError  (the key is encrypted)
    AuthenticationException    -> RemoteOperationError  (the key was refused)
    NoValidConnectionsError    -> RemoteOperationError  (nothing listens)
    ChannelException           -> RemoteOperationError  (the server refused a channel)
    SSHException               -> RemoteOperationError  (protocol or transport failure)
    SFTPError                  -> RemoteOperationError  (the SFTP server refused)
    FileNotFoundError          -> RemoteOperationError  (no such remote file)
    PermissionError            -> RemoteOperationError  (remote permission denied)
    TimeoutError               -> RemoteOperationError  (timed out)
    EOFError, ConnectionError  -> RemoteOperationError  (connection lost)
    OSError                    -> RemoteOperationError  (network or SFTP failure)

``FlowError`` passes through unchanged.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from flow_notebook.core.errors import FlowError, HostKeyMismatchError, RemoteOperationError
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint

_STDERR_TAIL_LINES = 5
_STDERR_TAIL_CHARS = 400


class RemoteCommandError(RemoteOperationError):
    """A remote command ran and exited with a non-zero status.

    Attributes:
        exit_status: The command's exit status.
        stderr_tail: The last lines of its standard error, as one line.
    """

    def __init__(self, message: str, *, exit_status: int, stderr_tail: str) -> None:
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail
        super().__init__(message)


class LinkUnansweredError(RemoteOperationError):
    """The server stopped answering on an open connection (a frozen or vanished instance)."""


def command_failed(where: str, exit_status: int, stderr: bytes) -> RemoteCommandError:
    """Builds the error for a command that exited with ``exit_status``.

    Args:
        where: What ran it, e.g. ``"task t-1"``.
        exit_status: The command's exit status.
        stderr: Its standard error.

    Returns:
        The error, with the tail of ``stderr`` in one line.
    """
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    tail = " | ".join(lines[-_STDERR_TAIL_LINES:])[-_STDERR_TAIL_CHARS:]
    detail = f": {tail}" if tail else ""
    return RemoteCommandError(
        f"command on {where} exited with status {exit_status}{detail}",
        exit_status=exit_status,
        stderr_tail=tail,
    )


@contextmanager
def ssh_errors(action: str, endpoint: SSHEndpoint | None = None) -> Iterator[None]:
    """Maps SSH, SFTP and socket exceptions raised inside the block to flow errors.

    Args:
        action: What was being done, e.g. ``"connect"`` or ``"download /x"``.
        endpoint: The server involved, for the message.

    Raises:
        HostKeyMismatchError: The server's host key differs from the recorded one.
        RemoteOperationError: Any other SSH, SFTP or network failure.
    """
    try:
        yield
    except FlowError:
        raise
    except Exception as exc:
        mapped = map_ssh_exception(exc, action, endpoint)
        if mapped is None:
            raise
        raise mapped from exc


def map_ssh_exception(
    exc: BaseException, action: str, endpoint: SSHEndpoint | None = None
) -> FlowError | None:
    """Returns the flow error for an SSH-layer exception, or ``None`` if it is not one.

    Args:
        exc: The exception raised by paramiko, a socket or the file system.
        action: What was being done.
        endpoint: The server involved.

    Returns:
        The mapped error, or ``None`` for exceptions outside the SSH layer.
    """
    import paramiko

    where = f" on {endpoint}" if endpoint else ""
    prefix = f"{action}{where} failed"
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyMismatchError(
            f"{prefix}: the host key changed",
            suggestion="if the instance was rebuilt on purpose, delete its entry in"
            " FLOW_HOME/ssh/host_keys.json and retry; otherwise do not connect to it",
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return RemoteOperationError(
            f"{prefix}: the private key is encrypted",
            suggestion="use an unencrypted key or load it into an ssh-agent",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return RemoteOperationError(
            f"{prefix}: the SSH key was refused",
            suggestion="check that ssh_key names a key registered with the project",
        )
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        return RemoteOperationError(
            f"{prefix}: nothing accepts SSH connections there yet",
            suggestion="the instance may still be starting; try again shortly",
        )
    if isinstance(exc, paramiko.ChannelException):
        return RemoteOperationError(f"{prefix}: the server refused a channel ({exc.text})")
    if isinstance(exc, paramiko.SSHException):
        return RemoteOperationError(f"{prefix}: {_short(exc) or 'SSH protocol error'}")
    if isinstance(exc, paramiko.SFTPError):
        return RemoteOperationError(f"{prefix}: SFTP error {_short(exc)}")
    return _map_os_error(exc, prefix)


def _map_os_error(exc: BaseException, prefix: str) -> FlowError | None:
    if isinstance(exc, FileNotFoundError):
        return RemoteOperationError(f"{prefix}: no such file")
    if isinstance(exc, PermissionError):
        return RemoteOperationError(f"{prefix}: permission denied")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return RemoteOperationError(f"{prefix}: timed out")
    if isinstance(exc, (EOFError, ConnectionError)):
        return RemoteOperationError(f"{prefix}: the connection was lost")
    if isinstance(exc, OSError):
        return RemoteOperationError(f"{prefix}: {exc.strerror or _short(exc) or 'I/O error'}")
    return None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
