"""Commands over one SSH channel each: run to completion, or stream lines as they come."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flow_notebook.core.errors import RemoteOperationError

if TYPE_CHECKING:
    import paramiko

    from flow_notebook.core.line_streams import StreamCloser

_READ_SIZE = 65_536
_EXIT_STATUS_WAIT = 5.0
IDLE_PROBE_SECONDS = 8.0
"""A stream silent this long checks that the server still answers (a log may be idle)."""
PROBE_TIMEOUT_SECONDS = 4.0
"""How long the server has to answer that check before the link counts as dead."""
# With a pty, output processing would turn "\n" into "\r\n" and echo would add noise.
_RAW_PTY_PREFIX = "stty -opost -echo 2>/dev/null; "


def open_channel(client: paramiko.SSHClient, timeout: float | None) -> paramiko.Channel:
    """Opens a session channel on ``client``'s transport.

    Raises:
        EOFError: The transport is not connected.
        paramiko.SSHException: The server refused or the link failed.
    """
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise EOFError("SSH transport is not connected")
    return transport.open_session(timeout=timeout)


def run_command(
    channel: paramiko.Channel, command: str, timeout: float | None, stdin: bytes = b""
) -> tuple[int, bytes, bytes]:
    """Runs ``command`` on a fresh channel and collects its output.

    Args:
        channel: A newly opened session channel; it is closed at the end.
        command: The shell command line.
        timeout: Seconds before giving up; ``None`` waits for the command to end.
        stdin: Sent as the command's standard input (e.g. secrets kept off its
            command line), which then ends.

    Returns:
        ``(exit_status, stdout, stderr)``; ``exit_status`` is -1 when the server sent none.

    Raises:
        TimeoutError: The command did not end within ``timeout`` (the channel is closed).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    try:
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin)
        channel.shutdown_write()
        while not (channel.eof_received and not _pending(channel)):
            _wait_readable(channel, deadline)
            _drain(channel, out, err)
            if channel.closed and not _pending(channel):
                break
        channel.status_event.wait(_EXIT_STATUS_WAIT)
        return channel.exit_status, bytes(out), bytes(err)
    finally:
        channel.close()


def stream_lines(
    channel: paramiko.Channel,
    command: str,
    *,
    pty: bool = True,
    idle_probe: float = IDLE_PROBE_SECONDS,
    probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    closer: StreamCloser | None = None,
) -> Iterator[str]:
    """Yields the output lines of ``command`` as they arrive, over one channel.

    Lines are yielded without their newline. A last line without a newline is
    yielded when the command ends. With ``pty`` the remote process is hung up
    when the caller stops iterating; stderr is then merged into the output.
    No read blocks for ever: after ``idle_probe`` silent seconds the server must
    open (and close) a probe channel within ``probe_timeout``, or the link counts as
    dead (a frozen or vanished instance), the connection is closed and this raises.

    Args:
        channel: A newly opened session channel; it is closed at the end.
        command: The shell command line.
        pty: Whether to run the command on a pseudo-terminal.
        idle_probe: Silent seconds before the server is probed.
        probe_timeout: Seconds the probe may take.
        closer: Closes the channel from another thread; the iteration then ends
            quietly, at once, even while the command is silent.

    Yields:
        Decoded lines (UTF-8, undecodable bytes replaced).

    Raises:
        RemoteOperationError: The connection was lost or stopped answering before
            the command ended.
        RemoteCommandError: The command ended with a non-zero status.
    """
    from flow_notebook.providers.mithril.remote.errors import command_failed

    if closer is not None:
        closer.watch(channel)
    try:
        if pty:
            channel.get_pty(term="dumb", width=1000)
            command = _RAW_PTY_PREFIX + command
        channel.exec_command(command)
        channel.settimeout(idle_probe)
        pending = b""
        while chunk := _recv_or_probe(channel, probe_timeout):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                yield _decode(line)
        if closer is not None and closer.closed.is_set():
            return  # Closed by the reader's owner: no status will come.
        channel.status_event.wait(_EXIT_STATUS_WAIT)
        status = channel.exit_status
        if status == -1 or not channel.get_transport().is_active():
            raise RemoteOperationError("log stream: the SSH connection was lost")
        if pending:
            yield _decode(pending)
        if status != 0:
            err = channel.recv_stderr(_READ_SIZE) if channel.recv_stderr_ready() else b""
            raise command_failed("instance", status, err)
    except Exception:
        if closer is not None and closer.closed.is_set():
            return  # The closed channel failed a call: the stream was closed on purpose.
        raise
    finally:
        if closer is not None:
            closer.forget(channel)
        channel.close()


def _recv_or_probe(channel: paramiko.Channel, probe_timeout: float) -> bytes:
    """Returns the next chunk (``b""`` at the end), probing the server while it is silent."""
    while True:
        try:
            return channel.recv(_READ_SIZE)
        except TimeoutError:
            _probe(channel, probe_timeout)


def _probe(channel: paramiko.Channel, timeout: float) -> None:
    from flow_notebook.providers.mithril.remote.errors import LinkUnansweredError

    transport = channel.get_transport()
    try:
        transport.open_session(timeout=timeout).close()
    except Exception as exc:  # paramiko raises SSHException, EOFError or OSError here
        transport.close()  # so the pool sees it dead and the next use reconnects
        raise LinkUnansweredError(
            f"log stream: the instance stopped answering over SSH (no answer in {timeout:g}s)"
        ) from exc


def _pending(channel: paramiko.Channel) -> bool:
    return channel.recv_ready() or channel.recv_stderr_ready()


def _wait_readable(channel: paramiko.Channel, deadline: float | None) -> None:
    # select() on the channel wakes on stdout, stderr, EOF and close alike.
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise TimeoutError("remote command timed out")
    wait = 0.5 if remaining is None else min(0.5, remaining)
    select.select([channel], [], [], wait)


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    while channel.recv_ready():
        out += channel.recv(_READ_SIZE)
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(_READ_SIZE)


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")
