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
