"""A small JSON object in a file, shared by kernels: read whole, changed under a lock.

``update_json_object`` holds an exclusive ``flock`` on a lock file next to the state
file while it reads, changes and replaces it (a temporary file and a rename), so
kernels writing at the same time lose no write. A damaged file is moved aside (kept
for the user as ``NAME.damaged``) with one warning line and reading starts over;
a file that cannot be read or written is one ``ConfigurationError`` line naming it,
the reason (a full disk is called that) and the fix.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flow_notebook.core.fs_errors import file_error

logger = logging.getLogger(__name__)
T = TypeVar("T")


def read_json_object(path: Path) -> dict[str, Any]:
    """Returns the JSON object in ``path``; ``{}`` when missing (or damaged: moved aside).

    Raises:
        ConfigurationError: The file exists but cannot be read.
    """
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise file_error("read", path, exc) from None
    try:
        loaded = json.loads(text.decode("utf-8"))
    except ValueError:
        loaded = None
    if isinstance(loaded, dict):
        return loaded
    _move_aside(path)
    return {}


def write_json_object(path: Path, data: dict[str, Any]) -> None:
    """Replaces ``path`` with ``data`` via a temporary file (mode 0600) and a rename.

    Raises:
        ConfigurationError: The file cannot be written.
    """
    tmp = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise file_error("write", path, exc) from None


def update_json_object(path: Path, change: Callable[[dict[str, Any]], T]) -> T:
    """Reads ``path``, lets ``change`` edit the object in place, writes it; under a lock.

    Returns:
        What ``change`` returned.

    Raises:
        ConfigurationError: The file or its lock cannot be read or written.
    """
    with locked(path):
        data = read_json_object(path)
        result = change(data)
        write_json_object(path, data)
        return result


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds the cross-process lock of ``path`` (``.NAME.lock`` beside it)."""
    lock_path = path.parent / f".{path.name}.lock"
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise file_error("lock", lock_path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _move_aside(path: Path) -> None:
    kept = path.with_name(path.name + ".damaged")
    try:
        os.replace(path, kept)
    except OSError as exc:
        raise file_error("move the damaged file", path, exc) from None
    logger.warning("%s was damaged; moved it to %s and started a new one", path, kept)
