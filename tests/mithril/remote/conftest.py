"""A real OpenSSH server on 127.0.0.1 for the remote-operations tests.

Each server has its own host key, authorized key, config and PidFile in a private
temporary directory, runs in the foreground (``-D -e``) and is stopped in teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flow_notebook.providers.mithril.remote import (
    HostKeyStore,
    MithrilRemoteOperations,
    SSHConnectionPool,
    SSHEndpoint,
)

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 5.0

pytestmark = pytest.mark.ssh


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat_fields[1]) == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


@dataclass
class SshServer:
    """One sshd process on 127.0.0.1 with its own keys."""

    directory: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.client_key = _keygen(self.directory / "client_key")
        shutil.copy(self.directory / "client_key.pub", self.directory / "authorized_keys")
        self.new_host_key()

    def new_host_key(self) -> None:
        for name in ("host_key", "host_key.pub"):
            (self.directory / name).unlink(missing_ok=True)
        _keygen(self.directory / "host_key")

    def start(self) -> SshServer:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.directory / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.directory / 'host_key'}",
                    f"PidFile {self.directory / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.directory / 'authorized_keys'}",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    "MaxSessions 50",
                    "MaxStartups 50",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.kill_sessions()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def session_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def kill_sessions(self) -> int:
        """Kills every per-connection sshd process (and what runs under it)."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def endpoint(self, instance_id: str = "inst-1") -> SSHEndpoint:
        return SSHEndpoint(host="127.0.0.1", port=self.port, user="root", instance_id=instance_id)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    if not (os.geteuid() == 0 and Path(SSHD).exists()):
        pytest.fail("these tests need root and /usr/sbin/sshd")
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def own_sshd(tmp_path_factory: pytest.TempPathFactory):
    """A server only this test uses, which it may restart or re-key."""
    server = SshServer(tmp_path_factory.mktemp("own_sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def host_keys(tmp_path: Path) -> HostKeyStore:
    return HostKeyStore(tmp_path / "ssh")


@pytest.fixture
def pool(sshd: SshServer, host_keys: HostKeyStore):
    pool = SSHConnectionPool(sshd.client_key, host_keys, connect_timeout=5)
    yield pool
    pool.close()


@pytest.fixture
def remote_ops(sshd: SshServer, pool: SSHConnectionPool) -> MithrilRemoteOperations:
    return MithrilRemoteOperations(lambda task_id: [sshd.endpoint()], pool)
