"""Checks that the host can run real sandbox instances.

Real instances need root (for mount namespaces and overlayfs), ``/usr/sbin/sshd``,
``unshare``, ``pivot_root``, ``rsync`` and ``sudo`` (``ubuntu`` has passwordless sudo
on an instance). Nothing on the host is changed for them: every instance's accounts,
mount points and sshd run directory live in its own root filesystem.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSHD_LOCKDOWN = (
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "PermitRootLogin prohibit-password",
    "PrintMotd no",
    "MaxStartups 100",
    "MaxSessions 100",
    "LogLevel ERROR",
    "Subsystem sftp internal-sftp",
)
"""What every test sshd shares: keys only, no PAM, many sessions, quiet, internal SFTP."""
TOOLS = ("unshare", "pivot_root", "mount", "rsync", "ssh-keygen", "sudo")


def missing_prerequisites(sshd: str = SSHD) -> str | None:
    """Returns why real instances cannot run here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "not running as root"
    if not Path(sshd).is_file():
        return f"{sshd} is not installed"
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def sshd_config(*own: str) -> str:
    """Returns an ``sshd_config``: the server's ``own`` lines, then ``SSHD_LOCKDOWN``."""
    return "\n".join([*own, *SSHD_LOCKDOWN, ""])
