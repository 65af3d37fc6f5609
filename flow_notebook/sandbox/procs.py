"""Process helpers for instances: PID namespaces, children, signals and bounded waits."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

STOP_TIMEOUT = 5.0


def pid_namespace(pid: int) -> str | None:
    """Returns the PID namespace of ``pid`` (``"pid:[4026...]"``), or ``None`` if gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def pids_in_namespace(namespace: str) -> list[int]:
    """Returns every live process whose PID namespace is ``namespace``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_namespace(int(entry.name)) == namespace:
            found.append(int(entry.name))
    return found


def namespace_init(pids: list[int]) -> int | None:
    """Returns the one of ``pids`` that is PID 1 of its own namespace, or ``None``."""
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            # NSpid lists the pid in each nested namespace, the innermost last.
            if line.startswith("NSpid:") and line.split()[-1] == "1":
                return pid
    return None


def cmdline_names(pid: int, path: Path) -> bool:
    """Tells whether an argument of ``pid`` is ``path`` or a path below it."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    exact = str(path).encode()
    # The trailing slash keeps ".../sandbox1" from matching ".../sandbox12/...".
    below = exact + b"/"
    return any(arg == exact or below in arg for arg in args)


def children(pid: int) -> list[int]:
    """Returns the direct children of ``pid`` (empty when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def send_signal(pid: int, sig: signal.Signals) -> None:
    """Sends ``sig`` to ``pid``; a process already gone is fine."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_for_child(pid: int, timeout: float = 5.0) -> int | None:
    """Returns the first child of ``pid`` once it exists, or ``None`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = children(pid)
        if found:
            return found[0]
        time.sleep(0.01)
    return None


def wait_until_empty(namespace: str, timeout: float = STOP_TIMEOUT) -> None:
    """Waits (at most ``timeout`` seconds) until no process is left in ``namespace``."""
    deadline = time.monotonic() + timeout
    while pids_in_namespace(namespace) and time.monotonic() < deadline:
        time.sleep(0.02)
