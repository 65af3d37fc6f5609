"""Process and process-group facts read from ``/proc``, and signals to groups.

Only the standard library is used, so the supervisor can import this module cheaply.
Zombies count as gone: a process that has exited but was not reaped yet runs nothing,
and in a container the parent that should reap it may never do so.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this package uses.

    Attributes:
        pid: Process id.
        state: One-letter state (``R``, ``S``, ``T``, ``Z``, ...).
        pgid: Process group id.
        start_ticks: Start time in clock ticks after boot; tells a reused pid apart.
    """

    pid: int
    state: str
    pgid: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """Returns the process's stat fields, or ``None`` when there is no such process."""
    try:
        data = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    except OSError:
        return None
    # The command name may contain spaces and parentheses; fields follow the last ')'.
    rest = data[data.rindex(")") + 2 :].split()
    return ProcStat(pid=pid, state=rest[0], pgid=int(rest[2]), start_ticks=int(rest[19]))


def start_ticks(pid: int) -> int | None:
    """Returns the process's start time in ticks, or ``None`` when it is gone."""
    stat = read_stat(pid)
    return stat.start_ticks if stat else None


def process_alive(pid: int | None, ticks: int | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if ``ticks`` is given, is the same process."""
    if not pid:
        return False
    if not _PROC.is_dir():
        return _kill_probe(lambda: os.kill(pid, 0))
    stat = read_stat(pid)
    if stat is None or stat.state in ("Z", "X"):
        return False
    return ticks is None or stat.start_ticks == ticks


def group_members(pgid: int) -> list[int]:
    """Returns the live (non-zombie) processes of process group ``pgid``."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None and stat.pgid == pgid and stat.state not in ("Z", "X"):
            members.append(stat.pid)
    return members


def group_alive(pgid: int | None) -> bool:
    """Whether any live process remains in process group ``pgid``."""
    if not pgid:
        return False
    if not _PROC.is_dir():
        return _kill_probe(lambda: os.killpg(pgid, 0))
    return bool(group_members(pgid))


def signal_group(pgid: int | None, sig: signal.Signals) -> bool:
    """Sends ``sig`` to process group ``pgid``; ``False`` when the group is gone."""
    if not pgid or pgid <= 1:
        return False  # Never signal group 0 (our own) or 1 (init) by mistake.
    return _kill_probe(lambda: os.killpg(pgid, sig))


def _kill_probe(call: object) -> bool:
    try:
        call()  # type: ignore[operator]
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # It exists but belongs to someone else.
    return True
