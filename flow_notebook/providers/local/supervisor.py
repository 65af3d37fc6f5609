"""Detached supervisor of one local task: ``python -m <this module> TASK_DIR``.

The provider starts this in a new session, so it outlives the notebook kernel that
launched it. It reads ``DIR/spec.json`` (``argv``, ``cwd``, ``max_seconds``), runs the
command as its child in a process group of its own with output appended to
``DIR/stdout.log`` and ``DIR/stderr.log``, and writes ``DIR/child.json`` (pid, pgid,
start ticks) once the child runs and ``DIR/exit.json`` when it has ended. Both files are
written atomically (temporary file + rename), so readers never see half a record. The
exit record's space is taken before the command starts (``reserve_exit_record``), so a
command that fills the disk cannot cost its exit code.

The environment (including secrets) arrives only in this process's environment and is
passed on to the child; nothing of it is written to disk. When the child exits, any
process left in its group is stopped too, as when a machine's task ends. Standard
library only, so it starts quickly.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from flow_notebook.providers.local import proc

_PR_SET_CHILD_SUBREAPER = 36
STRAGGLER_GRACE_SECONDS = 1.0
TIMEOUT_EXIT_CODE = 124
"""Exit code of a task stopped at its run-time limit (as ``timeout`` and Mithril instances)."""


def write_json_atomic(path: Path, payload: dict[str, object]) -> None:
    """Writes ``payload`` as JSON to ``path`` via a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


EXIT_RECORD_BYTES = 256
"""Space kept for ``exit.json`` from the start (JSON allows the trailing blanks)."""


def reserve_exit_record(task_dir: Path) -> Path | None:
    """Creates the exit record's file now, blank-filled; ``None`` when even that fails."""
    slot = task_dir / ".exit.json.reserved"
    try:
        with _private(slot) as handle:
            handle.write(b" " * EXIT_RECORD_BYTES)
    except OSError:
        return None
    return slot


def write_exit_record(task_dir: Path, slot: Path | None, payload: dict[str, object]) -> None:
    """Writes ``exit.json`` into the reserved space (no new disk space needed), then renames."""
    data = json.dumps(payload).encode("utf-8")
    if slot is None or len(data) > EXIT_RECORD_BYTES:
        write_json_atomic(task_dir / "exit.json", payload)
        return
    with open(slot, "r+b") as handle:
        handle.write(data.ljust(EXIT_RECORD_BYTES))
    os.replace(slot, task_dir / "exit.json")


def _private(path: Path) -> BinaryIO:
    """Opens ``path`` for appending; created mode 0600 (task output may hold secrets)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _become_subreaper() -> None:
    # Orphaned grandchildren are re-parented to us and reaped here, instead of to a
    # container init that may never reap them.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_until(child_pid: int) -> int:
    """Reaps every child (orphans included) until ``child_pid`` exits; returns its status."""
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child_pid:
            return os.waitstatus_to_exitcode(status)


def _reap_available() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _stop_stragglers(pgid: int) -> None:
    """Stops processes the command left running in its group, then reaps them."""
    if not proc.group_alive(pgid):
        return
    proc.signal_group(pgid, signal.SIGTERM)
    proc.signal_group(pgid, signal.SIGCONT)
    stop = threading.Event()
    for _ in range(int(STRAGGLER_GRACE_SECONDS / 0.02)):
        _reap_available()
        if not proc.group_alive(pgid) or stop.wait(0.02):
            break
    proc.signal_group(pgid, signal.SIGKILL)
    for _ in range(100):
        _reap_available()
        if not proc.group_alive(pgid):
            break
        stop.wait(0.01)


def _start_timeout(pgid: int, max_seconds: float | None, flag: threading.Event) -> None:
    if not max_seconds:
        return

    def expire() -> None:
        flag.set()
        proc.signal_group(pgid, signal.SIGTERM)
        proc.signal_group(pgid, signal.SIGCONT)
        threading.Event().wait(STRAGGLER_GRACE_SECONDS)
        proc.signal_group(pgid, signal.SIGKILL)

    timer = threading.Timer(max_seconds, expire)
    timer.daemon = True
    timer.start()


def run(task_dir: Path) -> int:
    """Runs the task described in ``task_dir`` to its end; returns the supervisor's code."""
    spec = json.loads((task_dir / "spec.json").read_text(encoding="utf-8"))
    _become_subreaper()
    slot = reserve_exit_record(task_dir)
    with _private(task_dir / "stdout.log") as out, _private(task_dir / "stderr.log") as err:
        try:
            child = subprocess.Popen(
                spec["argv"],
                cwd=spec["cwd"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            err.write(f"cannot start {spec['argv'][0]!r}: {exc.strerror}\n".encode())
            write_exit_record(
                task_dir, slot, {"exit_code": 127, "ended_at": _now(), "reason": "start_failed"}
            )
            return 0
    pgid = child.pid
    write_json_atomic(
        task_dir / "child.json",
        {
            "pid": child.pid,
            "pgid": pgid,
            "start_ticks": proc.start_ticks(child.pid),
            "started_at": _now(),
        },
    )
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: proc.signal_group(pgid, signal.Signals(signum)))
    timed_out = threading.Event()
    _start_timeout(pgid, spec.get("max_seconds"), timed_out)
    code = _reap_until(child.pid)
    child.returncode = code  # Reaped above; keeps Popen from waiting on it again.
    _stop_stragglers(pgid)
    reason = "timeout" if timed_out.is_set() else "exited"
    if timed_out.is_set():
        code = TIMEOUT_EXIT_CODE
        limit = float(spec["max_seconds"])
        try:
            with _private(task_dir / "stderr.log") as err:
                err.write(
                    f"flow: stopped after reaching the run-time limit ({limit:g}s)\n".encode()
                )
        except OSError:
            pass  # e.g. a full disk: the exit record below matters more than the note
    write_exit_record(task_dir, slot, {"exit_code": code, "ended_at": _now(), "reason": reason})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``supervisor TASK_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m flow_notebook.providers.local.supervisor TASK_DIR", file=sys.stderr)
        return 2
    return run(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
