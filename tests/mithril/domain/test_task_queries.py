"""TaskQueries: exit codes end tasks (and their bids), lists cost a constant number of requests."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flow_notebook.core.errors import RemoteOperationError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.instances import InstanceService
from flow_notebook.providers.mithril.domain.records import MemoryRecordStore, TaskRecords
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader, TaskQueries
from flow_notebook.providers.mithril.domain.tasks import TaskService


class FakeInstances:
    """Answers ``cat exit_code`` per instance id; counts every command."""

    def __init__(self) -> None:
        self.exit_codes: dict[str, str] = {}
        self.commands: list[str] = []
        self.broken = False

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        self.commands.append(task_id)
        if self.broken:
            raise RemoteOperationError("connection refused")
        return self.exit_codes.get(task_id, "")

    def files(self, task_id: str):  # pragma: no cover - not used by these tests
        raise NotImplementedError


@pytest.fixture
def remote() -> FakeInstances:
    return FakeInstances()


@pytest.fixture
def archived() -> list[str]:
    return []


@pytest.fixture
def handed() -> list[tuple[str, int]]:
    """What ``get`` handed on as ended (the provider's finish watcher takes it)."""
    return []


@pytest.fixture
def queries(fake, remote, archived, handed) -> TaskQueries:
    client = fake.client()
    records = TaskRecords(MemoryRecordStore())
    return TaskQueries(
        BidService(client, "proj_test"),
        InstanceService(client, "proj_test"),
        TaskService(),
        records,
        ExitCodeReader(remote),
        before_terminate=archived.append,
        on_ended=lambda task_id, code: handed.append((task_id, code)),
    )


def _finish_handed(queries: TaskQueries, handed: list[tuple[str, int]]) -> None:
    """Does what the finish watcher does with what ``get`` handed on."""
    while handed:
        queries.finish(*handed.pop(0))


def test_running_task_without_exit_code_stays_running_and_keeps_its_bid(fake, queries, remote):
    bid = fake.add_bid()
    task = queries.get(bid["fid"])
    assert task.status is TaskStatus.RUNNING
    assert remote.commands == bid["instances"]
    assert fake.bids[bid["fid"]]["status"] == "Allocated"


def test_a_read_ends_nothing_it_hands_the_ended_command_on(fake, queries, remote, archived, handed):
    bid = fake.add_bid()
    remote.exit_codes[bid["instances"][0]] = "0\n"
    fake.reset_counts()
    task = queries.get(bid["fid"])
    assert task.status is TaskStatus.RUNNING  # not shown ended while the bid is billed
    assert handed == [(bid["fid"], 0)]
    assert archived == [] and fake.bids[bid["fid"]]["status"] == "Allocated"
    assert [r.method for r in fake.requests] == ["GET", "GET"]  # the bid, its instances


def test_the_finish_archives_logs_terminates_the_bid_then_shows_the_task_ended(
    fake, queries, remote, archived, handed
):
    bid = fake.add_bid()
    remote.exit_codes[bid["instances"][0]] = "0\n"
    queries.get(bid["fid"])
    _finish_handed(queries, handed)
    assert archived == [bid["fid"]]
    assert fake.bids[bid["fid"]]["status"] == "Terminated"
    task = queries.get(bid["fid"])
    assert (task.status, task.exit_code) == (TaskStatus.COMPLETED, 0)
    remote.commands.clear()
    again = queries.get(bid["fid"])  # terminated now: the recorded code still tells
    assert (again.status, again.exit_code) == (TaskStatus.COMPLETED, 0)
    assert remote.commands == []


def test_finished_task_keeps_its_runtime_after_the_bid_is_terminated(fake, queries, remote, handed):
    bid = fake.add_bid()
    remote.exit_codes[bid["instances"][0]] = "0\n"
    queries.get(bid["fid"])
    _finish_handed(queries, handed)
    first = queries.get(bid["fid"])
    assert first.runtime_seconds() is not None
    again = queries.get(bid["fid"])  # a terminated bid lists no instances
    listed = next(t for t in queries.list_tasks() if t.task_id == bid["fid"])
    for task in (again, listed):
        assert (task.started_at, task.completed_at) == (first.started_at, first.completed_at)
        assert task.runtime_seconds() == first.runtime_seconds()


def test_finished_task_whose_bid_could_not_be_terminated_stops_its_clock(fake, remote):
    client = fake.client()
    ended = datetime(2024, 1, 1, 0, 5, tzinfo=timezone.utc)
    queries: TaskQueries = TaskQueries(
        BidService(client, "proj_test"),
        InstanceService(client, "proj_test"),
        TaskService(),
        TaskRecords(MemoryRecordStore()),
        ExitCodeReader(remote),
        auto_terminate=False,
        clock=lambda: ended,
        on_ended=lambda task_id, code: queries.finish(task_id, code),
    )
    bid = fake.add_bid()
    remote.exit_codes[bid["instances"][0]] = "3"
    queries.get(bid["fid"])  # hands the end on; the finish records it
    task = queries.get(bid["fid"])
    assert (task.status, task.completed_at) == (TaskStatus.FAILED, ended)
    assert task.runtime_seconds() == 300.0  # instances were created at 00:00


def test_cancelled_task_seen_running_before_keeps_its_start(fake, queries):
    bid = fake.add_bid()
    started = queries.list_tasks()[0].started_at
    fake.bids[bid["fid"]]["status"] = "Terminated"
    fake.bids[bid["fid"]]["deactivated_at"] = "2024-01-01T00:01:00+00:00"
    task = queries.get(bid["fid"])
    assert (task.status, task.started_at) == (TaskStatus.CANCELLED, started)
    assert task.runtime_seconds() == 60.0


def test_multi_instance_task_ends_only_when_every_instance_has_a_code(
    fake, queries, remote, handed
):
    bid = fake.add_bid(instances=2)
    first, second = bid["instances"]
    remote.exit_codes[first] = "0"
    assert queries.get(bid["fid"]).status is TaskStatus.RUNNING
    assert handed == []
    remote.exit_codes[second] = "7"
    queries.get(bid["fid"])
    _finish_handed(queries, handed)
    task = queries.get(bid["fid"])
    assert (task.status, task.exit_code) == (TaskStatus.FAILED, 7)


def test_ssh_failure_while_reading_the_exit_code_does_not_fail_get(fake, queries, remote):
    bid = fake.add_bid()
    remote.broken = True
    assert queries.get(bid["fid"]).status is TaskStatus.RUNNING


def test_exit_code_is_not_read_while_instances_still_start(fake, queries, remote):
    bid = fake.add_bid(instance_status="STATUS_STARTING")
    assert queries.get(bid["fid"]).status is TaskStatus.PROVISIONING
    assert remote.commands == []


@pytest.mark.parametrize("count", [3, 40])
def test_list_costs_the_same_requests_for_few_or_many_tasks_and_never_uses_ssh(
    fake, queries, remote, count
):
    for n in range(count):
        fake.add_bid(status="Allocated" if n % 2 else "Terminated", instances=1)
    fake.reset_counts()
    tasks = queries.list_tasks(limit=100)
    assert len(tasks) == count
    assert len(fake.requests) == 2  # one page of bids, one batched instance lookup
    assert remote.commands == []


def test_list_hands_its_running_tasks_to_the_watcher_without_reading_anything(fake, remote):
    client = fake.client()
    watched: list[list[tuple[str, list[str]]]] = []
    queries = TaskQueries(
        BidService(client, "proj_test"),
        InstanceService(client, "proj_test"),
        TaskService(),
        TaskRecords(MemoryRecordStore()),
        ExitCodeReader(remote),
        watch_running=lambda running: watched.append(
            [(fid, [i.fid for i in instances]) for fid, instances in running]
        ),
    )
    running = fake.add_bid(instances=2)
    fake.add_bid(instance_status="STATUS_STARTING")
    fake.add_bid(status="Open")
    queries.list_tasks()
    assert watched == [[(running["fid"], running["instances"])]]
    assert remote.commands == []


def test_finish_records_the_code_and_terminates_so_the_next_list_shows_it_ended(
    fake, queries, remote, archived
):
    bid = fake.add_bid()
    assert queries.list_tasks()[0].status is TaskStatus.RUNNING  # what the watcher is fed from
    queries.finish(bid["fid"], 0)
    assert archived == [bid["fid"]]
    assert fake.bids[bid["fid"]]["status"] == "Terminated"
    fake.reset_counts()
    (task,) = queries.list_tasks()
    assert (task.status, task.exit_code) == (TaskStatus.COMPLETED, 0)
    assert task.runtime_seconds() is not None
    assert len(fake.requests) == 1  # no live bid left: one page of bids, no instances
    assert remote.commands == []


def test_finish_of_a_task_already_terminated_keeps_the_first_code(fake, queries):
    bid = fake.add_bid()
    queries.finish(bid["fid"], 0)
    fake.reset_counts()
    queries.finish(bid["fid"], 9)
    assert queries.get(bid["fid"]).exit_code == 0
    assert [r.method for r in fake.requests].count("DELETE") == 0


def test_list_filters_by_status(fake, queries):
    fake.add_bid(status="Open")
    fake.add_bid(status="Allocated")
    fake.add_bid(status="Terminated")
    assert [t.status for t in queries.list_tasks(TaskStatus.PENDING)] == [TaskStatus.PENDING]
    assert [t.status for t in queries.list_tasks(TaskStatus.RUNNING)] == [TaskStatus.RUNNING]
    assert len(queries.list_active()) == 2


def test_recorded_name_and_command_are_shown_instead_of_the_bid_name(fake, queries):
    bid = fake.add_bid(name="train-1a2b3c4d")
    queries._records.update(bid["fid"], name="train", command="python train.py")
    task = queries.get(bid["fid"])
    assert (task.name, task.command) == ("train", "python train.py")
    assert task.metadata["bid_name"] == "train-1a2b3c4d"


def test_endpoints_and_instances_come_in_rank_order(fake, queries):
    bid = fake.add_bid(instances=2)
    assert [e.instance_id for e in queries.endpoints(bid["fid"])] == bid["instances"]
    assert [i.instance_id for i in queries.instances(bid["fid"])] == bid["instances"]


def _queries_with_upload(fake, remote, upload: dict) -> TaskQueries:
    client = fake.client()
    queries: TaskQueries = TaskQueries(
        BidService(client, "proj_test"),
        InstanceService(client, "proj_test"),
        TaskService(),
        TaskRecords(MemoryRecordStore()),
        ExitCodeReader(remote),
        extra_metadata=lambda task_id: {"upload": upload},
        on_ended=lambda task_id, code: queries.finish(task_id, code),
    )
    return queries


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ({"phase": "connecting"}, "connecting to the instances"),
        (
            {"phase": "uploading_code", "files_done": 3, "files_total": 10},
            "uploading code: 3 of 10 files",
        ),
        ({"phase": "failed", "message": "rsync exited 12"}, "setting up the instances failed"),
        ({"phase": "ready", "finished": True}, None),
    ],
)
def test_a_running_task_says_which_setup_step_its_instances_are_in(fake, remote, upload, message):
    bid = fake.add_bid()
    task = _queries_with_upload(fake, remote, upload).get(bid["fid"])
    assert task.status is TaskStatus.RUNNING
    if message is None:
        assert task.message is None
    else:
        assert task.message is not None and task.message.startswith(message)


def test_an_ended_task_keeps_no_setup_step(fake, remote):
    bid = fake.add_bid()
    remote.exit_codes[bid["instances"][0]] = "0\n"
    queries = _queries_with_upload(fake, remote, {"phase": "uploading_code"})
    queries.get(bid["fid"])  # hands the end on; the finish records it
    task = queries.get(bid["fid"])
    assert task.status is TaskStatus.COMPLETED and task.message is None
