"""Real sandbox instances: one OpenSSH server per instance in a private mount namespace.

Each instance runs ``unshare -m -p -f --kill-child --mount-proc`` around a small
shell script that binds the instance's own directories over ``/workspace``,
``/var/log/flow``, ``/var/log/foundry``, ``/home/ubuntu``, ``/root`` and
``/mnt/volumes`` (each attached volume at ``/mnt/volumes/<volume_fid>``), starts
the bid's startup script in the background and then execs ``sshd``. sshd is
PID 1 of the namespace, so stopping it ends every process of the instance and
drops its mounts. This separates paths, not security.

``VirtualLauncher`` stands in when real instances are off or impossible.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from flow_notebook.sandbox.hostprep import SSHD, ubuntu_ids
from flow_notebook.sandbox.procs import (
    STOP_TIMEOUT,
    children,
    pid_namespace,
    send_signal,
    wait_for_child,
    wait_until_empty,
)
from flow_notebook.sandbox.sshkeys import generate_host_key

HOST = "127.0.0.1"
READY_TIMEOUT = 15.0


class LaunchError(Exception):
    """An instance's sshd did not come up."""


@dataclass(frozen=True)
class LaunchSpec:
    """What an instance boots with.

    Attributes:
        fid: Instance fid (also the name of its directory).
        env: Variables for the startup script (``MITHRIL_INSTANCE_FID`` ...).
        authorized_keys: Public keys allowed to log in as root and ubuntu.
        startup_script: Script run as root at boot, or ``None``.
        volumes: ``(volume_fid, host_directory)`` pairs to mount.
    """

    fid: str
    env: dict[str, str]
    authorized_keys: list[str]
    startup_script: str | None = None
    volumes: list[tuple[str, Path]] = field(default_factory=list)


class Launcher(Protocol):
    """Starts and stops instances; every method may block for a few seconds."""

    reachable: bool

    def start(self, spec: LaunchSpec) -> str | None:
        """Boots the instance; returns its ``ssh_destination`` (``None`` if unreachable)."""

    def stop(self, fid: str) -> None:
        """Stops the instance; does nothing if it is not running."""

    def stop_all(self) -> None:
        """Stops every instance this launcher started."""

    def erase(self, fid: str) -> None:
        """Deletes a stopped instance's disk; its next start begins from a fresh one."""


class VirtualLauncher:
    """Instances without processes: they run but no one can log in."""

    reachable = False

    def start(self, spec: LaunchSpec) -> str | None:
        """Returns ``None``: there is nothing to connect to."""
        return None

    def stop(self, fid: str) -> None:
        """Does nothing."""

    def stop_all(self) -> None:
        """Does nothing."""

    def erase(self, fid: str) -> None:
        """Does nothing: a virtual instance has no disk."""


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    namespace: str | None


class SshdLauncher:
    """Real instances (see the module docstring). Needs root, sshd, unshare and rsync.

    Args:
        root: Directory under which each instance gets ``<fid>/``.
        sshd: Path of the sshd binary.
    """

    reachable = True

    def __init__(self, root: Path, sshd: str = SSHD) -> None:
        self._root = root
        self._sshd = sshd
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()

    def start(self, spec: LaunchSpec) -> str | None:
        """Boots the instance and waits until its sshd answers.

        Raises:
            LaunchError: When sshd does not answer within ``READY_TIMEOUT`` seconds.
        """
        self.stop(spec.fid)
        home = self._root / spec.fid
        port = free_port()
        script = self._prepare(home, spec, port)
        log = open(home / "sshd.log", "ab")  # noqa: SIM115 - handed to the child
        with log:
            process = subprocess.Popen(
                [
                    "unshare",
                    "-m",
                    "-p",
                    "-f",
                    "--kill-child",
                    "--mount-proc",
                    "--propagation",
                    "private",
                    "/bin/sh",
                    str(script),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        running = _Running(process, None)
        with self._lock:
            self._running[spec.fid] = running
        child = wait_for_child(process.pid)
        running.namespace = pid_namespace(child) if child else None
        if running.namespace:
            (home / "pidns").write_text(running.namespace + "\n")
        if not _wait_for_banner(port, process):
            self.stop(spec.fid)
            raise LaunchError(f"sshd of {spec.fid} did not start; see {home / 'sshd.log'}")
        return f"{HOST}:{port}"

    def stop(self, fid: str) -> None:
        """Stops sshd (PID 1 of the namespace), which ends every process of the instance."""
        with self._lock:
            running = self._running.pop(fid, None)
        if running is None:
            return
        process = running.process
        # unshare ignores SIGTERM; its child (sshd) does not, and with it the namespace dies.
        for child in children(process.pid):
            send_signal(child, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            send_signal(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)
        if running.namespace:
            wait_until_empty(running.namespace)

    def stop_all(self) -> None:
        """Stops every running instance."""
        with self._lock:
            fids = list(self._running)
        for fid in fids:
            self.stop(fid)

    def erase(self, fid: str) -> None:
        """Stops the instance if it runs, then deletes its directory (its whole disk)."""
        self.stop(fid)
        shutil.rmtree(self._root / fid, ignore_errors=True)

    def _prepare(self, home: Path, spec: LaunchSpec, port: int) -> Path:
        etc = home / "etc"
        for sub in (
            "etc",
            "workspace",
            "var_log_flow",
            "var_log_foundry",
            "home_ubuntu",
            "root_home",
            "mnt_volumes",
        ):
            (home / sub).mkdir(parents=True, exist_ok=True)
        etc.chmod(0o700)
        uid, gid = ubuntu_ids()
        for sub in ("home_ubuntu", "workspace"):
            os.chown(home / sub, uid, gid)
        # sshd reads authorized_keys as the user logging in, through the bind mounts,
        # so the keys live in each user's own (per-instance) home as on a real VM.
        keys = "".join(k.strip() + "\n" for k in spec.authorized_keys)
        for sub, owner in (("root_home", (0, 0)), ("home_ubuntu", (uid, gid))):
            _write_authorized_keys(home / sub, keys, owner)
        host_key = etc / "ssh_host_ed25519_key"
        if not host_key.exists():
            generate_host_key(host_key)
        (etc / "sshd_config").write_text(_sshd_config(port, etc))
        if spec.startup_script is not None:
            (home / "startup_script.sh").write_text(spec.startup_script)
        script = home / "boot.sh"
        script.write_text(_boot_script(home, spec, self._sshd))
        return script


def _sshd_config(port: int, etc: Path) -> str:
    return "\n".join(
        [
            f"Port {port}",
            f"ListenAddress {HOST}",
            f"HostKey {etc / 'ssh_host_ed25519_key'}",
            f"PidFile {etc / 'sshd.pid'}",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            # Instance directories may sit under a world-writable temp dir.
            "StrictModes no",
            "PrintMotd no",
            "MaxStartups 100",
            "MaxSessions 100",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _boot_script(home: Path, spec: LaunchSpec, sshd: str) -> str:
    q = shlex.quote
    binds = [
        ("workspace", "/workspace"),
        ("var_log_flow", "/var/log/flow"),
        ("var_log_foundry", "/var/log/foundry"),
        ("home_ubuntu", "/home/ubuntu"),
        ("root_home", "/root"),
        ("mnt_volumes", "/mnt/volumes"),
    ]
    lines = ["set -e"]
    lines += [f"mount --bind {q(str(home / src))} {dst}" for src, dst in binds]
    for volume_fid, path in spec.volumes:
        target = f"/mnt/volumes/{volume_fid}"
        lines += [f"mkdir -p {q(target)}", f"mount --bind {q(str(path))} {q(target)}"]
    if spec.startup_script is not None:
        exports = " ".join(f"{k}={q(v)}" for k, v in sorted(spec.env.items()))
        startup = q(str(home / "startup_script.sh"))
        lines.append(
            f"( cd / && env {exports} HOME=/root setsid /bin/bash {startup}"
            " >>/var/log/foundry/startup_script.log 2>&1 </dev/null & )"
        )
    lines.append(f"exec {sshd} -D -e -f {q(str(home / 'etc' / 'sshd_config'))}")
    return "\n".join(lines) + "\n"


def _write_authorized_keys(user_home: Path, keys: str, owner: tuple[int, int]) -> None:
    ssh_dir = user_home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    path = ssh_dir / "authorized_keys"
    path.write_text(keys)
    path.chmod(0o600)
    for item in (ssh_dir, path):
        os.chown(item, *owner)


def _wait_for_banner(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return True
        except OSError:
            time.sleep(0.05)
    return False
