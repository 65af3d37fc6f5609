"""A copy of a log written under ``FLOW_HOME`` while it is followed.

A preempted or lost instance takes its log files with it, and nothing can archive
them then. While a follow reads a log, every line it reads is appended to
``<archive>/<task_id>/<log_type>.followed`` (0600 in a 0700 directory), so what the
task had produced up to then is kept. The copy holds lines ``0 .. n-1`` with no gap:
a follow that starts after line ``n`` reads from line ``n`` and keeps the lines it
does not show in the copy only. One follow at a time writes a copy (an exclusive
``flock``); another follow of the same task, in this kernel or another, reads on
without copying.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

SUFFIX = ".followed"


class FollowedCopy:
    """The copy of one log that this follow writes (it holds the copy's lock).

    Use ``claim`` to get one; ``close`` releases it.

    Attributes:
        lines: How many lines the copy holds.
    """

    def __init__(self, handle: io.FileIO, lines: int) -> None:
        self._file = handle
        self.lines = lines
        self._lock = threading.Lock()
        self._broken = False

    @classmethod
    def claim(cls, path: Path) -> FollowedCopy | None:
        """Opens the copy at ``path`` for appending; ``None`` when another follow writes it.

        A last line cut short (the disk filled, the kernel died mid-write) is dropped.
        """
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            logger.warning("cannot keep a copy of the followed log at %s: %s", path, exc)
            return None
        handle = io.FileIO(fd, "r+")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None  # Another follow writes this copy.
        data = handle.read()
        whole = data.rfind(b"\n") + 1
        if whole != len(data):
            handle.truncate(whole)
        handle.seek(whole)
        return cls(handle, data.count(b"\n", 0, whole))

    def tee(self, lines: Iterator[str], read_from: int, show_from: int) -> Iterator[str]:
        """Copies lines numbered from ``read_from`` on; yields those from ``show_from`` on."""
        number = read_from
        for line in lines:
            self._add(number, line)
            if number >= show_from:
                yield line
            number += 1

    def close(self) -> None:
        """Releases the copy (and its lock); later lines are not copied."""
        with self._lock:
            self._broken = True
            self._file.close()

    def _add(self, number: int, line: str) -> None:
        with self._lock:
            if self._broken or number != self.lines:
                return  # Already held, or a gap: the copy stays whole from line 0.
            try:
                self._file.write(line.encode("utf-8", errors="replace") + b"\n")
            except (OSError, ValueError) as exc:
                self._broken = True  # A full disk must not end the follow.
                logger.warning("stopped copying a followed log: %s", exc)
                return
            self.lines += 1


def read_lines(path: Path) -> list[str] | None:
    """Returns the lines of a followed copy, or ``None`` when there is none."""
    if not path.is_file():
        return None
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        text = handle.read()
    lines = text.split("\n")
    return lines[:-1]
