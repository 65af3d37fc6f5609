"""Real sandbox instances: whole machines, each with its own root and its own sshd.

Each instance runs ``unshare -m -p -f -u -i --kill-child`` around a small shell
script (``rootfs.boot_script``) that mounts the instance's root filesystem (an
overlay of the host's ``/`` with the instance's private upper layer), binds the
instance's ``/workspace``, ``/var/log/flow`` and volumes (``/mnt/volumes/<fid>``),
``pivot_root``s into it, starts the bid's startup script in the background as root
and then execs ``sshd``. sshd is PID 1 of the namespace, so stopping it ends every
process of the instance and drops its mounts. Nothing the instance writes, as root
or not, reaches the host's files; it shares the host's kernel and network.

``VirtualLauncher`` stands in when real instances are off or impossible.
"""

from __future__ import annotations

import json
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

from flow_notebook.sandbox.accounts import ensure_ubuntu
from flow_notebook.sandbox.hostprep import SSHD, sshd_config
from flow_notebook.sandbox.procs import (
    STOP_TIMEOUT,
    children,
    pid_namespace,
    send_signal,
    wait_for_child,
    wait_until_empty,
)
from flow_notebook.sandbox.rootfs import HOST_KEY, HOST_ROOT, PATH, RootDisk, boot_script

HOST = "127.0.0.1"
PUBLISHED_HOST = "localhost"
"""The host name in ``ssh_destination`` (clients take a bare IP for "not published yet")."""
STARTUP_SCRIPT = "/var/lib/foundry/startup_script.sh"
STARTUP_LOG = "/var/log/foundry/startup_script.log"
DOCKER = "/usr/local/bin/docker"
"""Where the emulated ``docker`` (``docker_emulator.py``) goes on each instance."""
REGISTRIES = "/etc/docker-emulation/registries.json"
EMULATOR_SOURCE = Path(__file__).with_name("docker_emulator.py")
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
        registries: Private image registries the emulated ``docker`` checks logins
            against: host -> SHA-256 of ``user:password``.
    """

    fid: str
    env: dict[str, str]
    authorized_keys: list[str]
    startup_script: str | None = None
    volumes: list[tuple[str, Path]] = field(default_factory=list)
    registries: dict[str, str] = field(default_factory=dict)


class Launcher(Protocol):
    """Starts and stops instances; every method may block for a few seconds."""

    reachable: bool

    def start(self, spec: LaunchSpec) -> str | None:
        """Boots the instance; returns its ``ssh_destination`` (``None`` if unreachable)."""

    def stop(self, fid: str, discard: bool = False) -> None:
        """Stops the instance (if running); with ``discard`` its disk goes too."""

    def stop_all(self) -> None:
        """Stops every instance this launcher started."""


class VirtualLauncher:
    """Instances without processes: they run but no one can log in."""

    reachable = False

    def start(self, spec: LaunchSpec) -> str | None:
        """Returns ``None``: there is nothing to connect to."""
        return None

    def stop(self, fid: str, discard: bool = False) -> None:
        """Does nothing."""

    def stop_all(self) -> None:
        """Does nothing."""


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    namespace: str | None


class SshdLauncher:
    """Real instances (see the module docstring). Needs root, sshd, unshare and rsync.

    Args:
        root: Directory under which each instance gets ``<fid>/``.
        sshd: Path of the sshd binary.
        hidden: Host directories no instance may see (default: ``root``); the sandbox
            passes its whole state directory, volumes included.
    """

    reachable = True

    def __init__(self, root: Path, sshd: str = SSHD, hidden: tuple[Path, ...] = ()) -> None:
        self._root = root
        self._sshd = sshd
        self._hidden = hidden or (root,)
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
                    "-u",
                    "-i",
                    "--kill-child",
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
        return f"{PUBLISHED_HOST}:{port}"

    def stop(self, fid: str, discard: bool = False) -> None:
        """Stops sshd (PID 1 of the namespace), which ends every process of the instance.

        Args:
            fid: The instance.
            discard: Also delete its disk (on termination; a paused instance keeps it).
        """
        with self._lock:
            running = self._running.pop(fid, None)
        if running is not None:
            self._halt(running)
        if discard:
            RootDisk(self._root / fid).remove()
            shutil.rmtree(self._root / fid / "workspace", ignore_errors=True)

    def _halt(self, running: _Running) -> None:
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
        """Stops every running instance and deletes its disk."""
        with self._lock:
            fids = list(self._running)
        for fid in fids:
            self.stop(fid, discard=True)

    def _prepare(self, home: Path, spec: LaunchSpec, port: int) -> Path:
        disk = RootDisk(home)
        for sub in ("workspace", "var_log_flow"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        if not disk.created:
            disk.create(hidden=self._hidden)
        uid, gid = ensure_ubuntu(HOST_ROOT / "etc", disk.inside("/etc"))
        disk.reset_for_boot()
        os.chown(home / "workspace", uid, gid)
        ubuntu_home = disk.inside("/home/ubuntu")
        if not ubuntu_home.exists():
            _copy_owned(HOST_ROOT / "etc" / "skel", ubuntu_home, (uid, gid))
        keys = "".join(k.strip() + "\n" for k in spec.authorized_keys)
        for user_home, owner in (("/root", (0, 0)), ("/home/ubuntu", (uid, gid))):
            _write_authorized_keys(disk.inside(user_home), keys, owner)
        etc = disk.inside("/etc")
        hostname = _hostname(spec.fid)
        (etc / "hostname").write_text(hostname + "\n")
        hosts = (HOST_ROOT / "etc" / "hosts").read_text()
        (etc / "hosts").write_text(f"{hosts.rstrip()}\n127.0.1.1 {hostname}\n")
        (etc / "ssh" / "sshd_config").write_text(_sshd_config(port))
        install_docker(disk, spec.registries)
        if spec.startup_script is not None:
            script = disk.inside(STARTUP_SCRIPT)
            script.parent.mkdir(parents=True, exist_ok=True)
            # Created private: the script may carry secrets; never readable by others.
            fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(spec.startup_script)
            script.chmod(0o700)
        binds = [(home / "workspace", "/workspace"), (home / "var_log_flow", "/var/log/flow")]
        for volume_fid, path in spec.volumes:
            disk.inside(f"/mnt/volumes/{volume_fid}").mkdir(parents=True, exist_ok=True)
            binds.append((path, f"/mnt/volumes/{volume_fid}"))
        lines = boot_script(disk, binds, hostname)
        lines += _run_inside(spec, self._sshd)
        path = home / "boot.sh"
        path.write_text("\n".join(lines) + "\n")
        return path


def install_docker(disk: RootDisk, registries: dict[str, str]) -> None:
    """Puts the emulated ``docker`` on the instance's PATH, with the private registries.

    It shadows any ``docker`` of the host (the lower layer) at ``DOCKER``.
    """
    program = disk.inside(DOCKER)
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(EMULATOR_SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    program.chmod(0o755)
    accounts = disk.inside(REGISTRIES)
    accounts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(registries, handle)


def _hostname(fid: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in fid.lower())[:63]


def _sshd_config(port: int) -> str:
    return sshd_config(
        f"Port {port}",
        f"ListenAddress {HOST}",
        f"HostKey {HOST_KEY}",
        "PidFile /run/sshd.pid",
        "AuthorizedKeysFile .ssh/authorized_keys",
    )


def _run_inside(spec: LaunchSpec, sshd: str) -> list[str]:
    """Lines run in the new root: the startup script in the background, then sshd."""
    q = shlex.quote
    lines = []
    if spec.startup_script is not None:
        # A clean environment, as on a booted machine: nothing of the host's leaks in.
        env = {"PATH": PATH, "HOME": "/root", "USER": "root", "LANG": "C.UTF-8", **spec.env}
        exports = " ".join(f"{k}={q(v)}" for k, v in sorted(env.items()))
        lines.append(
            f"( cd / && env -i {exports} setsid /bin/bash {STARTUP_SCRIPT}"
            f" >>{STARTUP_LOG} 2>&1 </dev/null & )"
        )
    lines.append(f"exec {sshd} -D -e")
    return lines


def _copy_owned(source: Path, target: Path, owner: tuple[int, int]) -> None:
    """Copies the skeleton home ``source`` to ``target``, everything owned by ``owner``."""
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    target.mkdir(mode=0o750, exist_ok=True)
    for path in [target, *target.rglob("*")]:
        os.lchown(path, *owner)


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
