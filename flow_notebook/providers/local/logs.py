"""Reading and following a task's ``stdout.log`` / ``stderr.log``.

Following polls the file every ``poll_interval`` seconds (10 ms by default, so a line
reaches the reader within about that much of being written) and stops by itself once
the task is terminal and the file is drained. Lines are yielded without their newline;
a last line without a newline is yielded only when the task has ended. Line numbers
count every newline-terminated line, so resuming from ``start_line = lines seen``
loses and repeats nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from flow_notebook.core.errors import ValidationError

LOG_TYPES = ("stdout", "stderr")
DEFAULT_POLL_INTERVAL = 0.01
_CHUNK = 1 << 16


def log_path(task_dir: Path, log_type: str) -> Path:
    """Returns the path of the ``stdout`` or ``stderr`` log of a task.

    Raises:
        ValidationError: ``log_type`` is neither ``stdout`` nor ``stderr``.
    """
    if log_type not in LOG_TYPES:
        raise ValidationError(
            f"unknown log type {log_type!r}", field="log_type", suggestion="use stdout or stderr"
        )
    return task_dir / f"{log_type}.log"


def read_tail(path: Path, tail: int) -> str:
    """Returns the last ``tail`` lines of ``path`` (empty when it does not exist).

    Reads backwards in blocks, so a large log costs only what is returned.
    """
    if tail <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            data = b""
            while position > 0 and data.count(b"\n") <= tail:
                step = min(_CHUNK, position)
                position -= step
                handle.seek(position)
                data = handle.read(step) + data
    except FileNotFoundError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-tail:])


def follow(
    path: Path,
    is_done: Callable[[], bool],
    *,
    start_line: int = 0,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    wait: Callable[[float], object] | None = None,
) -> Iterator[str]:
    """Yields lines of ``path`` from ``start_line`` on, until ``is_done()`` and drained.

    Args:
        path: The log file; it may not exist yet.
        is_done: Whether the writer has finished for good.
        start_line: 0-based index of the first line to yield.
        poll_interval: Seconds between checks for new data.
        wait: Sleeps for the given seconds (injectable for tests).

    Yields:
        Lines without their trailing newline.
    """
    sleep = wait or threading.Event().wait
    handle = None
    skip, pending = max(0, start_line), b""
    try:
        while True:
            done = is_done()  # Checked before reading: a read after "done" drains all.
            if handle is None:
                handle = _open_or_none(path)
            chunk = handle.read(_CHUNK) if handle is not None else b""
            if chunk:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if skip:
                        skip -= 1
                        continue
                    yield line.decode("utf-8", errors="replace")
                continue
            if done:
                if pending and not skip:
                    yield pending.decode("utf-8", errors="replace")
                return
            sleep(poll_interval)
    finally:
        if handle is not None:
            handle.close()


def _open_or_none(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by follow()'s finally.
    except FileNotFoundError:
        return None
