"""One-line reasons for failures of files under ``FLOW_HOME``: full, read-only, damaged."""

from __future__ import annotations

import errno
from pathlib import Path

from flow_notebook.core.errors import ConfigurationError

_REASONS = {
    errno.ENOSPC: ("the disk is full", "free space on that disk, or set FLOW_HOME elsewhere"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space, or set FLOW_HOME elsewhere"),
    errno.EROFS: ("the file system is read-only", "set FLOW_HOME to a writable directory"),
    errno.EACCES: ("permission denied", "make it writable by you, or set FLOW_HOME elsewhere"),
    errno.EPERM: ("permission denied", "make it writable by you, or set FLOW_HOME elsewhere"),
}


def file_error(action: str, path: Path, exc: OSError) -> ConfigurationError:
    """Returns ``cannot ACTION PATH: REASON`` with the fix, for a failed file operation."""
    reason, fix = _REASONS.get(exc.errno or 0, (exc.strerror or type(exc).__name__, None))
    return ConfigurationError(f"cannot {action} {path}: {reason}", suggestion=fix)
