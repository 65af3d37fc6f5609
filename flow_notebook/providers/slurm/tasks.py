"""Task records and Slurm's job states combined into ``Task`` objects.

A record's final state is stored once seen, so ended tasks cost no command. One
``squeue`` answers for every queued or running job of a listing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import datetime, timezone

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.core.models import Task, TaskStatus, utcnow
from flow_notebook.providers.slurm.jobs import JobService, JobState
from flow_notebook.providers.slurm.layout import DONE_MARKER, EXIT_CODE_FILE
from flow_notebook.providers.slurm.records import RecordStore, SlurmTaskRecord
from flow_notebook.providers.slurm.states import base_state, state_message, task_status

PROVIDER_NAME = "slurm"
_ENDED_BY_ITSELF = frozenset({"COMPLETED", "FAILED", "OUT_OF_MEMORY"})
LOST = "LOST"
"""State of a job Slurm no longer knows and that wrote no exit code."""


class TaskTracker:
    """Builds tasks from records and the cluster's answers.

    Args:
        records: The task records.
        jobs: Slurm's commands.
        run: Runs a command on the login node (reads exit code files, marks ends).
    """

    def __init__(self, records: RecordStore, jobs: JobService, run: Callable[[str], str]) -> None:
        self._records = records
        self._jobs = jobs
        self._run = run

    def task(self, record: SlurmTaskRecord, queued: dict[str, JobState] | None = None) -> Task:
        """Returns the task of ``record`` as it is now.

        Args:
            record: The task record.
            queued: ``JobService.queued()`` when already fetched for a listing.
        """
        if record.final_status is None:
            record = self._refresh(record, self._jobs.queued() if queued is None else queued)
        return to_task(record)

    def tasks(self, records: list[SlurmTaskRecord]) -> list[Task]:
        """Returns the tasks of ``records`` with one ``squeue`` for all that are live."""
        live = any(r.final_status is None for r in records)
        queued = self._jobs.queued() if live else {}
        return [self.task(record, queued) for record in records]

    def _refresh(self, record: SlurmTaskRecord, queued: dict[str, JobState]) -> SlurmTaskRecord:
        state = queued.get(record.job_id) or self._jobs.ended(record.job_id)
        if state is None:
            state = self._from_files(record)
        status = task_status(state.state)
        updates: dict[str, object] = {
            "message": state_message(state.state, state.reason),
            "metadata": {**record.metadata, "slurm_state": base_state(state.state)},
        }
        if state.nodes:
            updates["metadata"] = {**updates["metadata"], "nodes": state.nodes}  # type: ignore[dict-item]
        if status is not TaskStatus.PENDING and record.started_at is None:
            updates["started_at"] = _parse_time(state.start_time) or utcnow()
        if status.is_terminal:
            code = state.exit_code if state.exit_code is not None else self._exit(record)
            if base_state(state.state) not in _ENDED_BY_ITSELF:
                code = None  # Ended by Slurm (cancel, limit, node failure): no code of its own.
            updates.update(
                final_state=base_state(state.state),
                final_status=status,
                exit_code=code,
                completed_at=_parse_time(state.end_time) or utcnow(),
            )
            self._mark_done(record)
        record = record.model_copy(update=updates)
        if status.is_terminal or updates.get("started_at"):
            self._records.save(record)
        return record

    def _from_files(self, record: SlurmTaskRecord) -> JobState:
        code = self._exit(record)
        if code is None:
            return JobState(record.job_id, LOST, "Slurm no longer knows the job")
        return JobState(record.job_id, "COMPLETED" if code == 0 else "FAILED", exit_code=code)

    def _exit(self, record: SlurmTaskRecord) -> int | None:
        path = shlex.quote(f"{record.task_dir}/{EXIT_CODE_FILE}")
        try:
            text = self._run(f"cat {path} 2>/dev/null || true").strip()
        except RemoteOperationError:
            return None
        return int(text) if text.lstrip("-").isdigit() else None

    def _mark_done(self, record: SlurmTaskRecord) -> None:
        # A job ended by Slurm may never have run its own end (NODE_FAIL, SIGKILL): the
        # done marker ends log follows all the same.
        try:
            self._run(f"touch {shlex.quote(f'{record.task_dir}/{DONE_MARKER}')}")
        except RemoteOperationError:
            pass


def to_task(record: SlurmTaskRecord) -> Task:
    """Returns the ``Task`` a record describes (status from its latest state)."""
    slurm_state = str(record.metadata.get("slurm_state") or "PENDING")
    status = record.final_status or task_status(slurm_state)
    return Task(
        task_id=record.task_id,
        name=record.name,
        status=status,
        provider=PROVIDER_NAME,
        instance_type=record.instance_type,
        num_instances=record.num_nodes,
        region=record.partition or None,
        cost_per_hour=0.0,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        exit_code=record.exit_code,
        message=record.message,
        instances=[f"{record.task_id}-node{rank}" for rank in range(record.num_nodes)],
        command=record.command,
        metadata={**record.metadata, "job_id": record.job_id, "work_dir": record.work_dir},
    )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Slurm prints the controller's local time without a zone.
    return parsed.astimezone(timezone.utc) if parsed.tzinfo is None else parsed
