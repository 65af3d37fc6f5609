"""Checks and one-time preparation of the host for real sandbox instances.

Real instances need root (for mount namespaces), ``/usr/sbin/sshd``, ``unshare``
and ``rsync``. The mount points every instance overlays must exist on the host, and
an ``ubuntu`` user must exist so that ``ubuntu@`` logins work.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

SSHD = "/usr/sbin/sshd"
MOUNT_POINTS: tuple[str, ...] = (
    "/workspace",
    "/var/log/flow",
    "/var/log/foundry",
    "/home/ubuntu",
    "/root",
    "/mnt/volumes",
)
"""Paths each instance sees privately (its own directory is bound over each)."""


def missing_prerequisites(sshd: str = SSHD) -> str | None:
    """Returns why real instances cannot run here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    if not Path(sshd).is_file():
        return f"{sshd} is not installed"
    for tool in ("unshare", "rsync", "ssh-keygen", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def prepare_host() -> None:
    """Creates the shared mount points, sshd's run directory and the ``ubuntu`` user."""
    for path in MOUNT_POINTS:
        Path(path).mkdir(parents=True, exist_ok=True)
    run_dir = Path("/run/sshd")
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o755)
    try:
        pwd.getpwnam("ubuntu")
    except KeyError:
        subprocess.run(
            ["useradd", "-m", "-s", "/bin/bash", "ubuntu"],
            check=True,
            capture_output=True,
        )
    if _password_field("ubuntu") in ("!", "!!", "!*"):
        # Without PAM, sshd refuses key logins to a locked account; "*" means
        # "no password" without the lock, so only keys can get in.
        subprocess.run(["usermod", "-p", "*", "ubuntu"], check=True, capture_output=True)


def _password_field(user: str) -> str | None:
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == user:
                return rest.split(":", 1)[0]
    except OSError:
        return None
    return None


def ubuntu_ids() -> tuple[int, int]:
    """Returns the uid and gid of the ``ubuntu`` user."""
    entry = pwd.getpwnam("ubuntu")
    return entry.pw_uid, entry.pw_gid
