"""Slurm job states as task statuses, and Slurm's exit codes as one number."""

from __future__ import annotations

from flow_notebook.core.models import TaskStatus

_STATUS = {
    "PENDING": TaskStatus.PENDING,
    "REQUEUED": TaskStatus.PENDING,
    "REQUEUE_FED": TaskStatus.PENDING,
    "REQUEUE_HOLD": TaskStatus.PENDING,
    "RESV_DEL_HOLD": TaskStatus.PENDING,
    "CONFIGURING": TaskStatus.PROVISIONING,
    "RUNNING": TaskStatus.RUNNING,
    "COMPLETING": TaskStatus.RUNNING,
    "RESIZING": TaskStatus.RUNNING,
    "STAGE_OUT": TaskStatus.RUNNING,
    "SIGNALING": TaskStatus.RUNNING,
    "SUSPENDED": TaskStatus.PAUSED,
    "STOPPED": TaskStatus.PAUSED,
    "COMPLETED": TaskStatus.COMPLETED,
    "CANCELLED": TaskStatus.CANCELLED,
    "FAILED": TaskStatus.FAILED,
    "TIMEOUT": TaskStatus.FAILED,
    "PREEMPTED": TaskStatus.FAILED,
    "NODE_FAIL": TaskStatus.FAILED,
    "BOOT_FAIL": TaskStatus.FAILED,
    "DEADLINE": TaskStatus.FAILED,
    "OUT_OF_MEMORY": TaskStatus.FAILED,
    "SPECIAL_EXIT": TaskStatus.FAILED,
    "REVOKED": TaskStatus.CANCELLED,
}
_WHY = {
    "TIMEOUT": "reached its time limit (--max-run-time)",
    "PREEMPTED": "preempted by a higher-priority job",
    "NODE_FAIL": "a node of the job failed",
    "BOOT_FAIL": "a node failed to boot",
    "OUT_OF_MEMORY": "ran out of memory",
    "DEADLINE": "reached its deadline",
}


def task_status(state: str) -> TaskStatus:
    """Maps a Slurm job state (``RUNNING``, ``CANCELLED by 0`` ...) to a task status."""
    return _STATUS.get(base_state(state), TaskStatus.FAILED)


def base_state(state: str) -> str:
    """Returns the state word alone: ``CANCELLED by 0`` gives ``CANCELLED``."""
    return (state.split() or ["UNKNOWN"])[0].rstrip("+").upper()


def state_message(state: str, reason: str | None) -> str:
    """Returns the one-line detail shown with a status (the state and Slurm's reason)."""
    word = base_state(state)
    if word == "PENDING":
        return f"PENDING ({reason})" if reason and reason != "None" else "PENDING"
    if word in _WHY:
        return f"{word}: {_WHY[word]}"
    if reason and reason not in ("None", "(null)"):
        return f"{word} ({reason})"
    return word


def exit_code(text: str) -> int | None:
    """Parses Slurm's ``code:signal`` (``3:0``, ``0:15``) into a shell-style exit code."""
    code, _, sig = text.partition(":")
    if not code.isdigit():
        return None
    if int(code) == 0 and sig.isdigit() and int(sig):
        return 128 + int(sig)
    return int(code)
