"""Task views: one task with its exit code, or many tasks in a constant number of requests.

A task is its bid plus the bid's instances. Reads change nothing outside this
process's records: ``get`` reads the exit code over SSH once the bid is allocated
and every instance runs, and hands a command found ended to ``on_ended`` (the
``FinishWatcher``), which calls ``finish`` in the background: the logs are archived,
the bid terminated (so the user stops paying for idle GPUs), then the exit code
recorded. A task shows ``completed``/``failed`` once that record exists, so never
while its bid is still billed. ``list`` never opens SSH: it pages bids and looks up
the instances of every live bid in one batched request, then hands the running tasks
to ``watch_running`` (the same watcher), which reads their exit codes in the
background; the next listing shows them finished.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flow_notebook.core.errors import FlowError
from flow_notebook.core.models import Instance, Task, TaskStatus, utcnow
from flow_notebook.providers.mithril.api.dto import BidModel, BidStatus, InstanceModel
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.finish_watch import RunningTask
from flow_notebook.providers.mithril.domain.instances import InstanceService, in_bid_order
from flow_notebook.providers.mithril.domain.paid_cost import PaidCosts
from flow_notebook.providers.mithril.domain.provisioning import IInstanceRemote, provision_step
from flow_notebook.providers.mithril.domain.records import TaskRecords, recorded_time
from flow_notebook.providers.mithril.domain.task_keys import TaskKeys
from flow_notebook.providers.mithril.domain.tasks import TaskService
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout

if TYPE_CHECKING:
    from flow_notebook.providers.mithril.domain.reserved_tasks import ReservedTasks

logger = logging.getLogger(__name__)
_SEPARATOR = "--flow-phase--"
_MAX_PHASE = 300

_BID_FILTER: dict[TaskStatus, BidStatus] = {
    TaskStatus.PENDING: "Open",
    TaskStatus.PAUSED: "Paused",
    TaskStatus.PREEMPTING: "Preempting",
    TaskStatus.CANCELLED: "Terminated",
    TaskStatus.RUNNING: "Allocated",
    TaskStatus.PROVISIONING: "Allocated",
}
"""Bid status to ask the API for, per task status (the rest need every bid)."""


@dataclass(frozen=True)
class RemoteState:
    """What a task's instances say about its command.

    Attributes:
        exit_code: The task's exit code once every instance has one, else ``None``.
        phase: The step a runner is in before the command starts (``pulling image
            ...``), if any instance is in one.
    """

    exit_code: int | None = None
    phase: str | None = None


class ExitCodeReader:
    """Reads the exit code file (and the runner's phase) of a task's instances over SSH.

    Args:
        remote: Remote operations keyed by instance id.
        layout: Instance paths.
        timeout: Seconds allowed per instance.
    """

    def __init__(
        self, remote: IInstanceRemote, layout: RuntimeLayout | None = None, timeout: int = 15
    ) -> None:
        self._remote = remote
        layout = layout or RuntimeLayout()
        self._command = (
            # The touch tells the instance's watcher a kernel is watching (see watcher.py).
            f"touch {shlex.quote(layout.kernel_seen_file)} 2>/dev/null;"
            f" cat {shlex.quote(layout.exit_code_file)} 2>/dev/null; echo {_SEPARATOR};"
            f" head -c {_MAX_PHASE} {shlex.quote(layout.phase_file)} 2>/dev/null || true"
        )
        self._timeout = timeout

    def read(self, instances: Sequence[InstanceModel]) -> int | None:
        """Returns the task's exit code once every instance has one, else ``None``.

        The first non-zero code wins; SSH failures count as "not known yet".
        """
        return self.read_state(instances).exit_code

    def read_state(self, instances: Sequence[InstanceModel]) -> RemoteState:
        """Returns the exit code (see ``read``) and the first phase an instance reports.

        One SSH command per instance reads both.
        """
        codes, phase = [], None
        for instance in instances:
            try:
                text = self._remote.execute_command(instance.fid, self._command, self._timeout)
            except FlowError as exc:
                logger.debug("exit code of %s unreadable: %s", instance.fid, exc)
                return RemoteState(phase=phase)
            code_text, _, phase_text = text.partition(_SEPARATOR)
            phase = phase or (" ".join(phase_text.split()) or None)
            code_text = code_text.strip()
            if not code_text.lstrip("-").isdigit():
                return RemoteState(phase=phase)
            codes.append(int(code_text))
        if not codes:
            return RemoteState(phase=phase)
        return RemoteState(next((code for code in codes if code != 0), 0))


class TaskQueries:
    """Builds ``Task`` views and ends bids whose command has ended.

    Args:
        bids: Bid access.
        instances: Instance access.
        tasks: Builds ``Task`` from a bid and its instances.
        records: Locally kept command lines and exit codes.
        exit_codes: Reads exit codes over SSH.
        before_terminate: Called with the bid id before a finished bid is
            terminated (e.g. to archive its logs); failures are logged only.
        extra_metadata: Returns more metadata of a task (e.g. upload progress).
        auto_terminate: Terminate a bid once its command has ended.
        watch_running: Given the running tasks of each listing (bid id and
            instances), to check in the background whether they ended; must not block.
        on_ended: Given the bid id and exit code of a task ``get`` found ended (or
            whose bid a failed termination left up), to ``finish`` it in the
            background; must not block.
        clock: Current time, recorded as the end of a task whose exit code is read.
        task_keys: Settles the task key of an ended bid (revokes it; reads the exit
            code its on-instance watcher left when none is recorded).
        paid_costs: What a bid was charged; ``get`` sets ``Task.cost_paid`` from it
            (and keeps the final figure of an ended bid, which listings then show).
        reserved: Tasks on reservations (``rtask_...`` ids), which have no bid.
    """

    def __init__(
        self,
        bids: BidService,
        instances: InstanceService,
        tasks: TaskService,
        records: TaskRecords,
        exit_codes: ExitCodeReader,
        *,
        before_terminate: Callable[[str], None] = lambda task_id: None,
        extra_metadata: Callable[[str], dict[str, Any]] = lambda task_id: {},
        auto_terminate: bool = True,
        clock: Callable[[], datetime] = utcnow,
        watch_running: Callable[[Sequence[RunningTask]], None] = lambda running: None,
        on_ended: Callable[[str, int], None] = lambda task_id, exit_code: None,
        task_keys: TaskKeys | None = None,
        paid_costs: PaidCosts | None = None,
        reserved: ReservedTasks | None = None,
    ) -> None:
        self._bids = bids
        self._instances = instances
        self._tasks = tasks
        self._records = records
        self._exit_codes = exit_codes
        self._before_terminate = before_terminate
        self._extra = extra_metadata
        self._auto_terminate = auto_terminate
        self._clock = clock
        self._watch_running = watch_running
        self._on_ended = on_ended
        self._task_keys = task_keys
        self._paid_costs = paid_costs
        self._reserved = reserved

    def get(self, task_id: str, *, read_exit_code: bool = True) -> Task:
        """Returns the task, reading its exit code over SSH when it may have ended.

        A read: it archives, terminates and records nothing. A command found ended is
        handed to ``on_ended``; the task shows ended once ``finish`` has run.

        Raises:
            TaskNotFoundError: Unknown task id.
        """
        if self._reserved is not None and self._reserved.owns(task_id):
            return self._reserved.get(task_id)
        bid = self._bids.get(task_id)
        ordered = self._live_instances(bid)
        exit_code, phase = self._records.exit_code(bid.fid), None
        if exit_code is None and read_exit_code and _all_running(bid, ordered):
            state = self._exit_codes.read_state(ordered)
            phase = state.phase
            if state.exit_code is not None:
                self._on_ended(bid.fid, state.exit_code)
        message = None
        if exit_code is not None and bid.status != "Terminated" and self._terminates(bid.fid):
            self._on_ended(bid.fid, exit_code)  # an earlier termination failed: try again
            message = "the command ended; its bid is being terminated"
        exit_code = self._settle(bid, exit_code)
        task = self._build(bid, ordered, exit_code, message)
        if phase and task.status is TaskStatus.RUNNING:
            # The instances run, but the command has not started (an image is pulled).
            task.status, task.message = TaskStatus.PROVISIONING, phase
        if task.cost_paid is None and task.started_at is not None:
            task.cost_paid = self._paid(bid)
        return task

    def finish(self, task_id: str, exit_code: int) -> None:
        """Terminates the bid of a task whose command ended, then records the end.

        The bid ends first, so no listing shows the task finished while it is billed.

        Raises:
            TaskNotFoundError: Unknown task id.
        """
        if self._reserved is not None and self._reserved.owns(task_id):
            self._reserved.get(task_id)  # reads and records the exit code
            return
        bid = None
        if self._terminates(task_id):
            bid = self._bids.get(task_id)
            if bid.status != "Terminated":
                bid, _ = self._terminate_finished(bid)
        if self._records.exit_code(task_id) is None:
            self._record_exit(task_id, exit_code)
        if bid is not None:
            self._settle(bid, exit_code)

    def fail(self, task_id: str, reason: str) -> None:
        """Ends a task whose command cannot start (its setup failed) as ``failed``.

        The reason is recorded (every later view shows it as the task's message) and
        the bid is terminated like a finished one, so no GPU stays billed for a task
        that will never run. Failures to terminate are logged only; the record stands.
        """
        self._records.update(task_id, failure=reason, ended_at=self._clock().isoformat())
        if not self._terminates(task_id):
            return
        try:
            self.cancel(task_id)
        except FlowError as exc:
            logger.warning("could not terminate failed task %s: %s", task_id, exc)

    def cancel(self, task_id: str) -> bool:
        """Terminates the task's bid and revokes its task key; ``False`` when it had ended.

        The logs of a running task are archived first, so they outlive the instance.

        Raises:
            TaskNotFoundError: Unknown task id.
        """
        if self._reserved is not None and self._reserved.owns(task_id):
            return self._reserved.stop(task_id)
        self._archive_before_cancel(task_id)
        cancelled = self._bids.cancel(task_id)
        if self._task_keys is not None and "task_key" in self._records.get(task_id):
            try:
                self._task_keys.settle(task_id)
            except FlowError as exc:
                logger.warning("could not revoke the task key of %s: %s", task_id, exc)
        return cancelled

    def status(self, task_id: str) -> TaskStatus:
        """Returns the task's status (see ``get``)."""
        return self.get(task_id).status

    def list_tasks(self, status: TaskStatus | None = None, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks, newest first, without any SSH.

        Requests: the bid pages for ``limit`` plus one batched instance lookup per
        100 live bids, whatever the number of tasks. Exit codes are the recorded
        ones; the running tasks go to ``watch_running``.
        """
        if limit <= 0:
            return []
        bids = self._bids.list(limit, _BID_FILTER.get(status) if status else None)
        live = [bid.fid for bid in bids if bid.status != "Terminated"]
        by_bid = self._instances.for_bids(live) if live else {}
        tasks, running = [], []
        for bid in bids:
            ordered = in_bid_order(bid.instances, by_bid.get(bid.fid, []))
            exit_code = self._settle(bid, self._records.exit_code(bid.fid))
            task = self._build(bid, ordered, exit_code)
            if task.status is TaskStatus.RUNNING and _all_running(bid, ordered):
                running.append((bid.fid, ordered))
            tasks.append(task)
        if running:
            self._watch_running(running)
        if self._reserved is not None:
            tasks = sorted(
                [*tasks, *self._reserved.listed()], key=lambda t: t.created_at, reverse=True
            )[:limit]
        return [task for task in tasks if status is None or task.status is status]

    def list_active(self, limit: int = 100) -> list[Task]:
        """Returns up to ``limit`` tasks that have not ended."""
        return [task for task in self.list_tasks(None, limit) if not task.is_terminal]

    def instances(self, task_id: str) -> list[Instance]:
        """Returns the task's instances in rank order."""
        if self._reserved is not None and self._reserved.owns(task_id):
            return self._reserved.instances(task_id)
        bid = self._bids.get(task_id)
        ordered = in_bid_order(bid.instances, self._instances.for_bid(bid.fid))
        return [self._instances.to_core(i, task_id=bid.fid) for i in ordered]

    def endpoints(self, task_id: str) -> list[SSHEndpoint]:
        """Returns the SSH endpoints of the task's running instances, rank 0 first."""
        if self._reserved is not None and self._reserved.owns(task_id):
            return self._reserved.endpoints(task_id)
        bid = self._bids.get(task_id)
        return self._instances.endpoints(self._live_instances(bid))

    def _live_instances(self, bid: BidModel) -> list[InstanceModel]:
        if bid.status == "Terminated":
            return []
        return in_bid_order(bid.instances, self._instances.for_bid(bid.fid))

    def _paid(self, bid: BidModel) -> float | None:
        """Returns what the bid was charged; an ended bid's final figure is kept."""
        if self._paid_costs is None:
            return None
        try:
            paid = self._paid_costs.paid(bid.fid)
        except FlowError as exc:
            logger.debug("charges of %s unknown: %s", bid.fid, exc)
            return None
        if paid is not None and bid.status == "Terminated":
            self._records.update(bid.fid, cost_paid=paid)
        return paid

    def _terminates(self, task_id: str) -> bool:
        # A keep-alive task's instances stay up after its command ends.
        return self._auto_terminate and not self._records.get(task_id).get("keep_alive")

    def _settle(self, bid: BidModel, exit_code: int | None) -> int | None:
        """Revokes an ended bid's task key; returns the exit code, recovered if needed."""
        if bid.status != "Terminated" or self._task_keys is None:
            return exit_code
        record = self._records.get(bid.fid)
        if "task_key" not in record and exit_code is None and bid.name:
            return self._exit_code_from_elsewhere(bid)
        if "task_key" not in record or record.get("task_key_settled"):
            return exit_code
        try:
            if exit_code is None:
                exit_code = self._task_keys.exit_code(bid.fid)
                if exit_code is not None:
                    self._record_exit(bid.fid, exit_code)
            self._task_keys.settle(bid.fid)
        except FlowError as exc:
            logger.warning("could not settle the task key of %s: %s", bid.fid, exc)
        return exit_code

    def _exit_code_from_elsewhere(self, bid: BidModel) -> int | None:
        """Reads the exit code of a task started from another FLOW_HOME, via the API."""
        assert self._task_keys is not None
        try:
            exit_code = self._task_keys.exit_code_by_bid_name(bid.name)
        except FlowError as exc:
            logger.debug("exit code of %s unknown: %s", bid.fid, exc)
            return None
        if exit_code is not None:
            self._record_exit(bid.fid, exit_code)
        return exit_code

    def _archive_before_cancel(self, task_id: str) -> None:
        """Keeps the logs of a task that is cancelled while its instances run."""
        bid = self._bids.get(task_id)
        if bid.status != "Allocated" or not bid.instances:
            return
        try:
            self._before_terminate(bid.fid)
        except FlowError as exc:
            logger.warning("could not archive the logs of %s before cancelling: %s", bid.fid, exc)

    def _terminate_finished(self, bid: BidModel) -> tuple[BidModel, str | None]:
        try:
            self._before_terminate(bid.fid)
        except FlowError as exc:
            logger.warning("could not archive the logs of %s: %s", bid.fid, exc)
        try:
            self._bids.cancel(bid.fid)
            return self._bids.get(bid.fid), None
        except FlowError as exc:
            logger.warning("could not terminate finished task %s: %s", bid.fid, exc)
            return bid, f"the command ended but the bid could not be terminated: {exc.message}"

    def _build(
        self,
        bid: BidModel,
        instances: Sequence[InstanceModel],
        exit_code: int | None,
        message: str | None = None,
    ) -> Task:
        record = self._records.get(bid.fid)
        command = record.get("command") if isinstance(record.get("command"), str) else None
        task = self._tasks.build_task(bid, instances, exit_code=exit_code, command=command)
        failure = record.get("failure")
        if isinstance(failure, str) and exit_code is None:
            task.status, task.message = TaskStatus.FAILED, failure
        self._keep_times(task, record)
        if isinstance(record.get("name"), str):
            # The bid's name carries a random suffix; show the name the user gave.
            task.name = record["name"]
            task.metadata["bid_name"] = bid.name
        if isinstance(record.get("image"), str):
            task.metadata["image"] = record["image"]
        paid = record.get("cost_paid")
        if isinstance(paid, int | float) and not isinstance(paid, bool):
            task.cost_paid = float(paid)
        extra = self._extra(bid.fid)
        if extra:
            task.metadata.update(extra)
        if message:
            task.message = message
        elif not task.is_terminal and not task.message and isinstance(extra.get("upload"), dict):
            # Instances run (and bill) while code goes up: the header says which step.
            task.message = provision_step(extra["upload"])
        return task

    def _record_exit(self, task_id: str, exit_code: int) -> None:
        self._records.update(task_id, exit_code=exit_code, ended_at=self._clock().isoformat())

    def _keep_times(self, task: Task, record: dict[str, Any]) -> None:
        # A terminated bid lists no instances, so its start is known only if kept.
        if task.started_at is not None and "started_at" not in record:
            self._records.update(task.task_id, started_at=task.started_at.isoformat())
        if task.is_terminal and task.started_at is None:
            task.started_at = recorded_time(record, "started_at")
        if task.is_terminal and task.completed_at is None:
            task.completed_at = recorded_time(record, "ended_at")


def _all_running(bid: BidModel, instances: Sequence[InstanceModel]) -> bool:
    return (
        bid.status == "Allocated"
        and len(instances) >= bid.instance_quantity
        and all(i.status == "STATUS_RUNNING" for i in instances)
    )
