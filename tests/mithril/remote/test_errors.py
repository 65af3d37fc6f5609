"""The SSH exception mapping covers every paramiko, socket and SFTP failure."""

from __future__ import annotations

import errno
import inspect

import paramiko
import paramiko.ssh_exception as ssh_exception
import pytest

from flow_notebook.core.errors import FlowError, HostKeyMismatchError, RemoteOperationError
from flow_notebook.providers.mithril.remote import RemoteCommandError, SSHEndpoint, ssh_errors
from flow_notebook.providers.mithril.remote.errors import command_failed, map_ssh_exception

ENDPOINT = SSHEndpoint("10.0.0.1", 2222, "ubuntu", "inst-1")


def _instance(cls: type[BaseException]) -> BaseException:
    """Builds an exception of ``cls`` with plausible constructor arguments."""
    samples = {
        ssh_exception.BadHostKeyException: lambda: cls("h", _FakeKey("AAAA"), _FakeKey("BBBB")),
        ssh_exception.BadAuthenticationType: lambda: cls("no", ["password"]),
        ssh_exception.PartialAuthentication: lambda: cls(["publickey"]),
        ssh_exception.ChannelException: lambda: cls(2, "refused"),
        ssh_exception.NoValidConnectionsError: lambda: cls({("127.0.0.1", 1): OSError("x")}),
        ssh_exception.ProxyCommandFailure: lambda: cls("cmd", "err"),
        ssh_exception.ConfigParseError: lambda: cls("bad"),
        ssh_exception.CouldNotCanonicalize: lambda: cls("host"),
    }
    factory = samples.get(cls, lambda: cls("boom"))
    return factory()


class _FakeKey:
    def __init__(self, data: str) -> None:
        self._data = data

    def get_base64(self) -> str:
        return self._data

    def get_name(self) -> str:
        return "ssh-ed25519"


PARAMIKO_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(ssh_exception, inspect.isclass)
        if issubclass(cls, Exception) and cls.__module__ == ssh_exception.__name__
    ),
    key=lambda cls: cls.__name__,
)
OS_ERRORS = [
    TimeoutError("t"),
    TimeoutError("t"),
    EOFError(),
    ConnectionResetError(errno.ECONNRESET, "reset"),
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    FileNotFoundError(errno.ENOENT, "missing"),
    PermissionError(errno.EACCES, "denied"),
    OSError(errno.EIO, "io"),
    paramiko.SFTPError("sftp"),
]


@pytest.mark.parametrize("cls", PARAMIKO_ERRORS, ids=lambda cls: cls.__name__)
def test_every_paramiko_exception_maps_to_a_remote_error(cls):
    exc = _instance(cls)
    mapped = map_ssh_exception(exc, "connect", ENDPOINT)
    assert isinstance(mapped, RemoteOperationError)
    assert "\n" not in str(mapped)
    expected = HostKeyMismatchError if cls is ssh_exception.BadHostKeyException else None
    if expected:
        assert isinstance(mapped, expected)


@pytest.mark.parametrize("exc", OS_ERRORS, ids=lambda exc: type(exc).__name__)
def test_every_socket_and_sftp_failure_maps_to_a_remote_error(exc):
    mapped = map_ssh_exception(exc, "download /x", ENDPOINT)
    assert isinstance(mapped, RemoteOperationError)
    assert not isinstance(mapped, HostKeyMismatchError)


def test_specific_messages_name_the_cause():
    cases = {
        paramiko.AuthenticationException("x"): "refused",
        paramiko.PasswordRequiredException("x"): "encrypted",
        FileNotFoundError(errno.ENOENT, "x"): "no such file",
        TimeoutError("x"): "timed out",
        EOFError(): "connection was lost",
    }
    for exc, words in cases.items():
        assert words in str(map_ssh_exception(exc, "act", ENDPOINT))


def test_context_manager_chains_the_original_exception():
    original = EOFError()
    with pytest.raises(RemoteOperationError) as caught, ssh_errors("run", ENDPOINT):
        raise original
    assert caught.value.__cause__ is original
    assert "inst-1" in str(caught.value)


def test_flow_errors_and_unrelated_errors_pass_through_unchanged():
    with pytest.raises(HostKeyMismatchError), ssh_errors("run"):
        raise HostKeyMismatchError("changed")
    with pytest.raises(KeyError), ssh_errors("run"):
        raise KeyError("not ssh")
    assert map_ssh_exception(ValueError("x"), "run") is None


def test_command_failure_keeps_status_and_a_short_stderr_tail():
    stderr = b"".join(f"line {i}\n".encode() for i in range(50))
    error = command_failed("task t-1", 2, stderr)
    assert isinstance(error, RemoteCommandError) and isinstance(error, FlowError)
    assert error.exit_status == 2
    assert "line 49" in error.stderr_tail and "line 10" not in error.stderr_tail
    assert "\n" not in str(error)
