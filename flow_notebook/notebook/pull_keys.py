"""The kernel's keys that authenticate values a task sends back with ``--pull``.

A task's printed output is untrusted text (it may echo a scraped page or a dataset
row), so nothing it prints may ever be unpickled. The epilogue of a ``--pull`` cell
signs what it saves with HMAC-SHA256 under a per-task key, which reaches the task as
a secret environment variable and is never printed; the kernel unpickles only data
whose signature checks. Each task's key is derived from one random master key kept
in ``$FLOW_HOME/notebook/pull.key`` (0600) and the task's unique pull file name, so a
kernel started later on the same ``FLOW_HOME`` (``%flow attach``) can check it too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flow_notebook.core.config import flow_home
from flow_notebook.core.errors import ConfigurationError

KEY_BYTES = 32


def pull_key(pull_file: str, home: Path | None = None) -> bytes:
    """Returns the key that signs the values of the task whose pull file is ``pull_file``.

    Raises:
        ConfigurationError: The master key file cannot be created or read.
    """
    master = _master_key((home or flow_home()) / "notebook" / "pull.key")
    return hmac.new(master, pull_file.encode("utf-8"), hashlib.sha256).digest()


def sign(key: bytes, data: bytes) -> bytes:
    """Returns the HMAC-SHA256 of ``data`` under ``key``."""
    return hmac.new(key, data, hashlib.sha256).digest()


def _master_key(path: Path) -> bytes:
    try:
        if not path.exists():
            _create(path)
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read or create {path}: {exc.strerror}",
            suggestion="make FLOW_HOME writable by you",
        ) from exc
    if len(data) != KEY_BYTES:
        raise ConfigurationError(
            f"{path} is damaged ({len(data)} bytes instead of {KEY_BYTES})",
            suggestion="delete it; tasks already running with --pull then cannot return values",
        )
    return data


def _create(path: Path) -> None:
    """Writes a new master key; two kernels racing both end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # Atomic: fails if another kernel made one first.
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
