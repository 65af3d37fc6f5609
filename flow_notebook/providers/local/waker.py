"""Sleeping until a task's directory changes: Linux inotify, or a plain timed sleep.

``DirectoryWaker.wait(timeout)`` returns when a file in the directory was written,
created or moved in, when ``wake()`` is called (from any thread), or after
``timeout`` seconds. A follower of a silent task then costs nothing between its
rare checks, instead of waking several times a second to look. Where inotify is not
available ``wait`` is a timed sleep that ``wake`` cuts short.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import sys
import threading
from pathlib import Path

_IN_MODIFY, _IN_CLOSE_WRITE, _IN_MOVED_TO, _IN_CREATE = 0x2, 0x8, 0x80, 0x100
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_MASK = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 - raises AttributeError when missing
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


class DirectoryWaker:
    """Waits for changes in one directory. Closed by the thread that waits.

    Args:
        directory: The directory to watch (it must exist).
    """

    def __init__(self, directory: Path) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._inotify = -1
        self._pipe: tuple[int, int] | None = None
        if _LIBC is not None:
            fd = _LIBC.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
            if fd >= 0 and _LIBC.inotify_add_watch(fd, os.fsencode(directory), _MASK) >= 0:
                self._inotify = fd
                self._pipe = os.pipe()
            elif fd >= 0:
                os.close(fd)

    @property
    def watching(self) -> bool:
        """Whether changes wake ``wait`` (else it sleeps its whole timeout)."""
        return self._inotify >= 0

    def wait(self, timeout: float) -> set[str]:
        """Returns on a change in the directory, on ``wake()``, or after ``timeout``.

        Returns:
            The names of the files that changed (empty after a timeout or a wake).
        """
        if self._event.is_set():
            return set()
        if not self.watching or self._pipe is None:
            self._event.wait(timeout)
            return set()
        ready, _, _ = select.select([self._inotify, self._pipe[0]], [], [], max(0.0, timeout))
        names: set[str] = set()
        if self._inotify in ready:
            try:
                while data := os.read(self._inotify, 65536):
                    names.update(_names(data))
            except BlockingIOError:
                pass  # Drained.
        return names

    def wake(self) -> None:
        """Ends a ``wait`` in another thread at once, and every later one."""
        self._event.set()
        with self._lock:
            if self._pipe is not None:
                os.write(self._pipe[1], b"x")

    def close(self) -> None:
        """Releases the watch; call it from the thread that waits, once it is done."""
        self._event.set()
        with self._lock:
            pipe, self._pipe = self._pipe, None
            fd, self._inotify = self._inotify, -1
        for descriptor in (fd, *(pipe or ())):
            if descriptor >= 0:
                os.close(descriptor)


def _names(data: bytes) -> set[str]:
    """The file names in a buffer of ``struct inotify_event`` records."""
    names, offset = set(), 0
    while offset + 16 <= len(data):
        length = int.from_bytes(data[offset + 12 : offset + 16], sys.byteorder)
        raw = data[offset + 16 : offset + 16 + length].rstrip(b"\0")
        names.add(os.fsdecode(raw))
        offset += 16 + length
    return names
