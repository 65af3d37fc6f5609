"""An instance's root filesystem: the host's ``/`` below, a private upper layer on top.

The instance's disk is the overlayfs upper layer ``<instance>/upper``: every file the
instance creates, changes or deletes (as root too) lands there, never on the host, and
booting copies nothing. The layer is prepared from outside before the mount:

- ``/home``, ``/root``, ``/mnt`` and ``/var/log/foundry`` start empty (opaque
  directories), so the host's own homes and mounts stay out of sight;
- ``/tmp`` and ``/run`` start empty on every boot, as on a freshly booted machine;
- top-level entries of the host that are not part of a standard Linux tree (a
  developer's checkouts, say), and the sandbox's own state directory, are hidden by
  whiteouts;
- ``/etc`` gets the ``ubuntu`` account, the sudoers entry, a host name, and the
  instance's own sshd configuration and host key, replacing the host's.

``boot_script`` mounts the overlay in the instance's mount namespace, adds ``/proc``,
a minimal ``/dev``, a read-only ``/sys`` and ``/proc/sys``, binds the directories
that stay on the host side (``/workspace``, ``/var/log/flow``, volumes), and
``pivot_root``s into it. The mounts exist only in that namespace, so they vanish with
its last process.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

from flow_notebook.sandbox.sshkeys import generate_host_key

HOST_ROOT = Path("/")
OPAQUE = "trusted.overlay.opaque"
STANDARD_TOP_LEVEL = frozenset(
    "bin boot dev etc home lib lib32 lib64 libx32 media mnt opt proc root run sbin srv"
    " sys tmp usr var".split()
)
PRIVATE_DIRS: dict[str, int] = {"home": 0o755, "root": 0o700, "mnt": 0o755}
FRESH_EACH_BOOT: dict[str, int] = {"tmp": 0o1777, "run": 0o755}
MOUNT_POINTS = ("/workspace", "/var/log/flow", "/mnt/volumes")
"""Directories bound from the host side; volumes go below ``/mnt/volumes``."""
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
SYSTEMD_TOOLS = ("/usr/bin/systemctl", "/usr/bin/systemd-run", "/bin/systemctl", "/bin/systemd-run")
"""Hidden: with no systemd running they only fail, and scripts that find them (Mithril's SDK
checks ``command -v systemctl``) abort instead of taking their no-systemd path."""
_VISIBLE_TOP_LEVEL = STANDARD_TOP_LEVEL | {p.strip("/").split("/")[0] for p in MOUNT_POINTS}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RootDisk:
    """The directories that make up one instance's root filesystem.

    Args:
        home: The instance's directory on the host.
    """

    def __init__(self, home: Path) -> None:
        self.upper = home / "upper"
        self.work = home / "work"
        self.mount_point = home / "rootfs"

    def inside(self, path: str) -> Path:
        """Returns where the instance's ``path`` lives in the upper layer."""
        return self.upper / path.lstrip("/")

    @property
    def created(self) -> bool:
        """Tells whether the disk exists (it survives pauses, not terminations)."""
        return self.upper.is_dir()

    def create(self, hidden: Sequence[Path] = ()) -> None:
        """Lays out a new disk: private directories, whiteouts, its own sshd host key.

        Args:
            hidden: Host directories the instance must not see (the sandbox's state:
                other instances' disks, volumes).
        """
        for path in (self.upper, self.work, self.mount_point):
            path.mkdir(parents=True, exist_ok=True)
        for name, mode in PRIVATE_DIRS.items():
            _opaque_dir(self.inside(name), mode)
        _opaque_dir(self.inside("/var/log/foundry"), 0o755)
        for entry in os.listdir(HOST_ROOT):
            if entry not in _VISIBLE_TOP_LEVEL:
                _whiteout(self.inside(entry))
        for path in hidden:
            top = path.resolve().parts[1:2]
            # Below a hidden or private top-level directory it is out of sight already.
            if top and top[0] in _VISIBLE_TOP_LEVEL - PRIVATE_DIRS.keys() - FRESH_EACH_BOOT.keys():
                _whiteout(self.inside(str(path.resolve())))
        ssh_dir = HOST_ROOT / "etc" / "ssh"
        for name in os.listdir(ssh_dir) if ssh_dir.is_dir() else []:
            if name.startswith("ssh_host_"):
                _whiteout(self.inside(f"/etc/ssh/{name}"))
        for tool in SYSTEMD_TOOLS:
            if os.path.lexists(tool) and not Path(tool).parent.is_symlink():
                _whiteout(self.inside(tool))
        key = self.inside(HOST_KEY)
        for path in (key, key.with_name(key.name + ".pub")):
            path.unlink(missing_ok=True)
        generate_host_key(key)

    def reset_for_boot(self) -> None:
        """Empties ``/tmp`` and ``/run`` and makes sure every mount point exists."""
        for name, mode in FRESH_EACH_BOOT.items():
            shutil.rmtree(self.inside(name), ignore_errors=True)
            _opaque_dir(self.inside(name), mode)
        _opaque_dir(self.inside("/run/sshd"), 0o755)
        for path in MOUNT_POINTS:
            self.inside(path).mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        """Deletes the disk (the caller made sure it is no longer mounted)."""
        for path in (self.upper, self.work, self.mount_point):
            shutil.rmtree(path, ignore_errors=True)


def unusable_state_directory(path: Path) -> str | None:
    """Returns why instance disks cannot live below ``path``, or ``None`` when they can."""
    # overlayfs separates its mount options with "," and its layers with ":".
    bad = sorted({c for c in str(path.resolve()) if c in ",:"})
    if bad:
        chars = " and ".join(map(repr, bad))
        return f"the state directory {path} holds {chars}, which overlayfs cannot take in a path"
    return None


def boot_script(disk: RootDisk, binds: list[tuple[Path, str]], hostname: str) -> list[str]:
    """Returns the shell lines that mount the instance's root and enter it.

    Args:
        disk: The instance's disk.
        binds: ``(host directory, path inside)`` pairs bound into the new root.
        hostname: The instance's host name (it has its own UTS namespace).
    """
    q = shlex.quote
    root = q(str(disk.mount_point))
    options = f"lowerdir={HOST_ROOT},upperdir={disk.upper},workdir={disk.work}"
    lines = [
        "set -e",
        f"mount -t overlay overlay -o {q(options)} {root}",
        *(f"mount --bind {q(str(src))} {root}{q(dst)}" for src, dst in binds),
        f"mount -t proc proc {root}/proc",
        f"mount -t sysfs -o ro,nosuid,nodev,noexec sysfs {root}/sys",
        # Only harmless devices: no disks of the host.
        f"mount -t tmpfs -o mode=755,nosuid tmpfs {root}/dev",
        f"for d in {' '.join(DEVICES)}; do"
        f" touch {root}/dev/$d; mount --bind /dev/$d {root}/dev/$d; done",
        f"mkdir {root}/dev/pts {root}/dev/shm",
        f"mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts {root}/dev/pts",
        f"mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs {root}/dev/shm",
        f"ln -s pts/ptmx {root}/dev/ptmx",
        f"ln -s /proc/self/fd {root}/dev/fd",
        *(f"ln -s /proc/self/fd/{n} {root}/dev/{name}" for n, name in _STDIO),
        f"cd {root}",
        # pivot_root with the same old and new root stacks the old one on top; the lazy
        # unmount then drops the host's tree from the namespace.
        "pivot_root . .",
        "umount -l .",
        "cd /",
        "mount --bind /proc/sys /proc/sys",
        "mount -o remount,bind,ro /proc/sys",
        f"hostname {q(hostname)}",
    ]
    return lines


_STDIO = ((0, "stdin"), (1, "stdout"), (2, "stderr"))


def _opaque_dir(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    os.setxattr(path, OPAQUE, b"y")


def _whiteout(path: Path) -> None:
    """Hides the lower layer's ``path`` (a 0/0 character device is overlayfs' whiteout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
