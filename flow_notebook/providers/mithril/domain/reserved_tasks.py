"""Tasks on a reservation's instances: no bid, nothing more billed, instances left up.

A reservation's instances already run (they booted when its window started), so a
task on them is started over SSH: the same runner script a bid boots with is sent to
each instance and run as root, after the markers and logs of an earlier run there are
cleared; then the secrets, the rank file and the code follow as after a bid's boot.
The task's id is ``rtask_<hex>``; what it ran on is kept in the task records. Its
status is read from the instances: an exit code ends it, and instances that stopped
running (the reservation ended, or its instances were given back) end it cancelled.
Stopping it kills its process group; the instances stay, as the window is paid for.
One task at a time runs on a reservation's instance (the runtime paths are fixed).
"""

from __future__ import annotations

import logging
import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flow_notebook.core.errors import (
    FlowError,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)
from flow_notebook.core.models import Instance, Task, TaskConfig, TaskStatus, utcnow
from flow_notebook.providers.mithril.api.dto import InstanceModel, ReservationModel
from flow_notebook.providers.mithril.domain.code_sync import IInstanceSync
from flow_notebook.providers.mithril.domain.code_upload import EmbeddedStrategy
from flow_notebook.providers.mithril.domain.instances import InstanceService, in_bid_order
from flow_notebook.providers.mithril.domain.provisioning import (
    ICodeSync,
    IInstanceRemote,
    stats_dict,
)
from flow_notebook.providers.mithril.domain.records import TaskRecords, recorded_time
from flow_notebook.providers.mithril.domain.reservations import ReservationService
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader
from flow_notebook.providers.mithril.remote.endpoint import SSHEndpoint
from flow_notebook.providers.mithril.runtime import paths
from flow_notebook.providers.mithril.runtime.layout import RuntimeLayout, render_rank_file
from flow_notebook.providers.mithril.runtime.startup_builder import (
    StartupScriptBuilder,
    render_secrets,
)

logger = logging.getLogger(__name__)

PREFIX = "rtask_"
INDEX = "reservation-tasks"
"""Record of the task ids started on each reservation (reservation id -> task ids)."""
_RUNNING = "STATUS_RUNNING"


@dataclass(frozen=True)
class ReservedTaskParts:
    """The collaborators of ``ReservedTasks``.

    Attributes:
        reservations: Reservation lookups.
        instances: Instance lookups (by reservation) and SSH endpoints.
        remote: Commands and files on one instance.
        builder: Builds the runner script.
        embedder: Packs small code trees into the script.
        code_sync: Returns the code uploader of a working directory.
        records: Task records (what a task ran on, its exit code).
        exit_codes: Reads exit codes over SSH.
        layout: Instance paths.
        archive: Keeps a task's logs once it ends (its instances outlive it).
    """

    reservations: ReservationService
    instances: InstanceService
    remote: IInstanceRemote
    builder: StartupScriptBuilder
    embedder: EmbeddedStrategy
    code_sync: Callable[[str], ICodeSync]
    records: TaskRecords
    exit_codes: ExitCodeReader
    layout: RuntimeLayout
    archive: Callable[[str], None] = lambda task_id: None


class ReservedTasks:
    """Starts, reads and stops tasks on reservations.

    Args:
        parts: The collaborators.
        clock: Current time (UTC).
        ready_timeout: Seconds to wait for the runner to make its directories writable.
        boot_timeout: Seconds to wait for the instances of a window that just started.
    """

    def __init__(
        self,
        parts: ReservedTaskParts,
        *,
        clock: Callable[[], datetime] = utcnow,
        ready_timeout: float = 60.0,
        boot_timeout: float = 300.0,
    ) -> None:
        self._p = parts
        self._clock = clock
        self._ready_timeout = ready_timeout
        self._boot_timeout = boot_timeout

    @staticmethod
    def owns(task_id: str) -> bool:
        """Whether ``task_id`` names a task on a reservation."""
        return task_id.startswith(PREFIX)

    def submit(self, config: TaskConfig) -> Task:
        """Starts ``config`` on its reservation's instances and returns the task (running).

        Raises:
            NotFoundError: Unknown reservation.
            TaskStateError: The window has not started (the message gives its start),
                the reservation is not active, or a task of this notebook still runs on it.
            ValidationError: More instances asked for than it holds, or volumes asked for.
        """
        reservation_id = config.reservation_id or ""
        model = self._p.reservations.model(reservation_id)
        self._check_usable(model, config)
        ordered = self._running_instances(model, config.num_instances)
        self._check_free(model.fid)
        task_id = f"{PREFIX}{secrets.token_hex(6)}"
        self._p.records.update(
            task_id,
            reservation=model.fid,
            instances=[i.fid for i in ordered],
            command=config.command_line(),
            name=config.name,
            working_dir=config.working_dir,
            created_at=self._clock().isoformat(),
            started_at=self._clock().isoformat(),
            instance_type=self._p.reservations.display_name(model.instance_type),
            region=model.region,
        )
        try:
            self._start(task_id, config, ordered)
        except BaseException:
            # A start that fails half way (or is interrupted) leaves nothing running.
            self._kill(ordered)
            self._p.records.update(task_id, cancelled=True, ended_at=_now(self._clock))
            raise
        return self.get(task_id)

    def get(self, task_id: str) -> Task:
        """Returns the task, reading its exit code over SSH while it runs.

        Raises:
            TaskNotFoundError: No task on a reservation has this id (here).
        """
        record = self._record(task_id)
        exit_code = self._p.records.exit_code(task_id)
        live = [] if _ended(record) else self._live(record)
        if not _ended(record):
            if len(live) < len(record["instances"]):
                self._p.records.update(task_id, cancelled=True, ended_at=_now(self._clock))
            else:
                exit_code = self._p.exit_codes.read(live)
                if exit_code is not None:
                    self._finish(task_id, exit_code)
            record = self._p.records.get(task_id)
        return self._build(task_id, record, exit_code, live)

    def stop(self, task_id: str) -> bool:
        """Ends the task's processes; ``False`` when it had ended. The instances stay.

        Raises:
            TaskNotFoundError: Unknown task.
        """
        task = self.get(task_id)
        if task.is_terminal:
            return False
        self._kill(self._live(self._record(task_id)))
        self._p.records.update(task_id, cancelled=True, ended_at=_now(self._clock))
        return True

    def listed(self) -> list[Task]:
        """Returns the tasks started on reservations from here, from the records only."""
        index = self._p.records.get(INDEX)
        ids = [task_id for ids in index.values() for task_id in ids]
        records = [(task_id, self._p.records.get(task_id)) for task_id in ids]
        return [
            self._build(task_id, record, self._p.records.exit_code(task_id), [])
            for task_id, record in records
            if "reservation" in record
        ]

    def sync_code(
        self, task_id: str, root: Path, working_dir: str = paths.WORKSPACE
    ) -> list[dict[str, Any]]:
        """Uploads ``root`` to every instance of the running task (only what changed).

        Raises:
            TaskNotFoundError: Unknown task.
            TaskStateError: The task has ended.
        """
        if self.get(task_id).is_terminal:
            raise TaskStateError(
                f"task {task_id} has ended; code syncs only to a running task",
                suggestion="start a new task to run new code",
            )
        sync = self._p.code_sync(working_dir)
        live = self._live(self._record(task_id))
        return [{"instance": i.fid, **stats_dict(sync.sync(i.fid, Path(root)))} for i in live]

    def instances(self, task_id: str) -> list[Instance]:
        """Returns the task's instances in rank order."""
        record = self._record(task_id)
        found = self._p.instances.for_reservation(record["reservation"])
        mine = [i for i in in_bid_order(record["instances"], found) if i.fid in record["instances"]]
        return [self._p.instances.to_core(i, task_id=task_id) for i in mine]

    def endpoints(self, task_id: str) -> list[SSHEndpoint]:
        """Returns the SSH endpoints of the task's running instances, rank 0 first."""
        record = self._record(task_id)
        return self._p.instances.endpoints(self._live(record))

    # --- starting ----------------------------------------------------------------------

    def _check_usable(self, model: ReservationModel, config: TaskConfig) -> None:
        rid = model.fid
        if model.status == "Pending":
            raise TaskStateError(
                f"reservation {rid} starts at {model.start_time:%Y-%m-%d %H:%M} UTC;"
                " a task can run on it from then",
                suggestion="run it then, or without --reservation on spot",
            )
        if model.status != "Active":
            raise TaskStateError(f"reservation {rid} is {model.status.lower()}; nothing runs on it")
        if config.num_instances > model.instance_quantity:
            raise ValidationError(
                f"reservation {rid} holds {model.instance_quantity} instance(s);"
                f" the task asks for {config.num_instances}",
                field="num_instances",
            )
        if config.volumes:
            raise ValidationError(
                "volumes cannot be added to a reservation's task; the reservation's own"
                " volumes are mounted where it mounts them",
                field="volumes",
            )

    def _running_instances(self, model: ReservationModel, wanted: int) -> list[InstanceModel]:
        """Returns the reservation's running instances, waiting (bounded) while they boot."""
        deadline = time.monotonic() + self._boot_timeout
        while True:
            found = in_bid_order(model.instances, self._p.instances.for_reservation(model.fid))
            running = [i for i in found if self._p.instances.endpoint(i) is not None]
            if len(running) >= wanted:
                return running[:wanted]
            if time.monotonic() > deadline:
                raise TaskStateError(
                    f"reservation {model.fid} has {len(running)} running instance(s) of the"
                    f" {wanted} the task needs",
                    suggestion="try again in a minute",
                )
            time.sleep(0.5)

    def _check_free(self, reservation_id: str) -> None:
        for task_id in self._p.records.get(INDEX).get(reservation_id, []):
            if not self.get(task_id).is_terminal:
                raise TaskStateError(
                    f"task {task_id} still runs on reservation {reservation_id}",
                    suggestion=f"wait for it or %flow cancel {task_id}",
                )

    def _start(self, task_id: str, config: TaskConfig, ordered: Sequence[InstanceModel]) -> None:
        index = self._p.records.get(INDEX)
        mine = [*index.get(config.reservation_id or "", []), task_id]
        self._p.records.update(INDEX, **{config.reservation_id or "": mine})
        code, upload_root = self._p.embedder.plan(config)
        script = self._p.builder.build(config, volumes=[], code=code)
        lay, q = self._p.layout, shlex.quote
        clear = " ".join(q(p) for p in (lay.stdout_log, lay.stderr_log, lay.exit_code_file))
        for instance in ordered:
            path = f"/tmp/flow-{task_id}.sh"
            with self._p.remote.files(instance.fid) as files:
                files.write_bytes(path, script.encode("utf-8"), mode=0o600)
            # As root, as a bid's startup script runs; the earlier run's output goes first.
            command = f"sudo -n rm -f {clear} && sudo -n bash {q(path)}; rm -f {q(path)}"
            self._p.remote.execute_command(instance.fid, command, timeout=60)
        self._after_start(config, ordered, upload_root)

    def _after_start(
        self, config: TaskConfig, ordered: Sequence[InstanceModel], upload_root: Path | None
    ) -> None:
        lay = self._p.layout
        for instance in ordered:
            self._wait_writable(instance.fid, lay.log_dir)
        for rank, instance in enumerate(ordered):
            with self._p.remote.files(instance.fid) as files:
                if config.secrets:
                    files.write_bytes(
                        lay.secrets_file, render_secrets(config).encode("utf-8"), mode=0o600
                    )
                if len(ordered) > 1:
                    main_ip = ordered[0].private_ip or ""
                    body = render_rank_file(rank, len(ordered), main_ip)
                    files.write_bytes(lay.rank_file, body.encode("ascii"))
        if upload_root is not None:
            for instance in ordered:
                self._wait_writable(instance.fid, lay.at(config.working_dir))
                self._p.code_sync(config.working_dir).sync(instance.fid, upload_root)

    def _wait_writable(self, instance_fid: str, directory: str) -> None:
        deadline = time.monotonic() + self._ready_timeout
        check = f"if [ -w {shlex.quote(directory)} ]; then echo ok; fi"
        while self._p.remote.execute_command(instance_fid, check, timeout=30).strip() != "ok":
            if time.monotonic() > deadline:
                raise TaskStateError(f"{directory} on {instance_fid} did not become writable")
            time.sleep(0.2)

    # --- reading and ending ------------------------------------------------------------

    def _record(self, task_id: str) -> dict[str, Any]:
        record = self._p.records.get(task_id) if self.owns(task_id) else {}
        if "reservation" not in record:
            raise TaskNotFoundError(f"no Mithril task {task_id}")
        return record

    def _live(self, record: dict[str, Any]) -> list[InstanceModel]:
        found = self._p.instances.for_reservation(record["reservation"])
        mine = in_bid_order(record["instances"], found)
        return [i for i in mine if i.fid in record["instances"] and i.status == _RUNNING]

    def _finish(self, task_id: str, exit_code: int) -> None:
        try:
            self._p.archive(task_id)
        except FlowError as exc:
            logger.warning("could not archive the logs of %s: %s", task_id, exc)
        self._p.records.update(task_id, exit_code=exit_code, ended_at=_now(self._clock))

    def _kill(self, instances: Sequence[InstanceModel]) -> None:
        pid_file = shlex.quote(self._p.layout.runner_pid_file)
        command = f'pid=$(cat {pid_file} 2>/dev/null) && sudo -n kill -TERM -- "-$pid"; true'
        for instance in instances:
            try:
                self._p.remote.execute_command(instance.fid, command, timeout=30)
            except FlowError as exc:
                logger.warning("could not stop the task on %s: %s", instance.fid, exc)

    def _build(
        self,
        task_id: str,
        record: dict[str, Any],
        exit_code: int | None,
        live: Sequence[InstanceModel],
    ) -> Task:
        if exit_code is not None:
            status = TaskStatus.COMPLETED if exit_code == 0 else TaskStatus.FAILED
        elif record.get("cancelled"):
            status = TaskStatus.CANCELLED
        else:
            status = TaskStatus.RUNNING
        endpoint = self._p.instances.endpoint(live[0]) if live else None
        return Task(
            task_id=task_id,
            name=str(record.get("name") or task_id),
            status=status,
            provider="mithril",
            instance_type=str(record.get("instance_type") or ""),
            num_instances=len(record["instances"]),
            region=record.get("region"),
            cost_per_hour=0.0,
            created_at=recorded_time(record, "created_at") or self._clock(),
            started_at=recorded_time(record, "started_at"),
            completed_at=recorded_time(record, "ended_at") if status.is_terminal else None,
            exit_code=exit_code,
            ssh_host=endpoint.host if endpoint else None,
            ssh_port=endpoint.port if endpoint else None,
            ssh_user=endpoint.user if endpoint else None,
            instances=list(record["instances"]),
            command=record.get("command"),
            metadata={"reservation_id": record["reservation"], "price_basis": "reservation"},
        )


def _ended(record: dict[str, Any]) -> bool:
    return "exit_code" in record or bool(record.get("cancelled"))


def _now(clock: Callable[[], datetime]) -> str:
    return clock().isoformat()


class TaskSyncRouter:
    """``%flow sync`` targets: tasks on reservations here, bid tasks to ``bids``.

    Args:
        bids: Uploads to a bid task's instances (``Provisioner``).
        reserved: Tasks on reservations.
    """

    def __init__(self, bids: IInstanceSync, reserved: ReservedTasks) -> None:
        self._bids = bids
        self._reserved = reserved

    def sync_code(
        self, task_id: str, root: Path, working_dir: str = paths.WORKSPACE
    ) -> list[dict[str, Any]]:
        """Returns one upload report per instance of the task."""
        target: IInstanceSync = self._reserved if self._reserved.owns(task_id) else self._bids
        return target.sync_code(task_id, root, working_dir)
