"""Provisioner: waits for instances, then deferred script, rank files and code, in that order."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from flow_notebook.core.code_tree import iter_code_files
from flow_notebook.core.errors import TaskStateError
from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.domain.bids import BidService
from flow_notebook.providers.mithril.domain.code_upload import CodeUploadService, RsyncStrategy
from flow_notebook.providers.mithril.domain.instances import InstanceService
from flow_notebook.providers.mithril.domain.provisioning import Provisioner, ProvisionJob
from flow_notebook.providers.mithril.domain.records import MemoryRecordStore, TaskRecords
from flow_notebook.providers.mithril.domain.task_queries import ExitCodeReader, TaskQueries
from flow_notebook.providers.mithril.domain.tasks import TaskService

RANK = "FLOW_NODE_RANK={}\nFLOW_NUM_NODES=2\nFLOW_MAIN_IP=10.1.0.1\n"


class FakeInstanceRemote:
    """Records writes per instance; the log directory becomes writable after ``ready_after``."""

    def __init__(self, ready_after: int = 0) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.checks = 0
        self.ready_after = ready_after

    def execute_command(self, task_id: str, command: str, timeout: int | None = None) -> str:
        self.checks += 1
        return "ok\n" if self.checks > self.ready_after else ""

    @contextmanager
    def files(self, task_id: str):
        events = self.events

        class Files:
            def write_bytes(self, remote: str, data: bytes, *, mode: int | None = None) -> None:
                events.append((task_id, remote, data.decode()))

        yield Files()


@dataclass
class Stats:
    strategy: str = "rsync"
    bytes_sent: int = 10


class FakeCodeSync:
    def __init__(self, events: list) -> None:
        self.events = events

    def sync(self, task_id, root, progress=None, cancel=None):
        self.events.append((task_id, "code", str(root)))
        if progress:
            progress(1, 1, 10, 10)
        return Stats()


def _provisioner(fake, remote, workdirs: list[str] | None = None, **kwargs) -> Provisioner:
    client = fake.client()
    seen = workdirs if workdirs is not None else []

    def code_sync(workdir: str) -> FakeCodeSync:
        seen.append(workdir)
        return FakeCodeSync(remote.events)

    options = {"poll_interval": 0.01, "timeout": 5.0, **kwargs}
    return Provisioner(
        InstanceService(client, "proj_test"),
        BidService(client, "proj_test").get,
        remote,
        code_sync,
        **options,
    )


def test_job_without_after_boot_work_starts_no_worker(fake):
    assert _provisioner(fake, FakeInstanceRemote()).start(ProvisionJob("bid_1")) is None


def test_two_instance_job_uploads_script_then_ranks_then_code(fake, tmp_path):
    bid = fake.add_bid(instances=2)
    remote = FakeInstanceRemote(ready_after=3)
    workdirs: list[str] = []
    provisioner = _provisioner(fake, remote, workdirs)
    job = ProvisionJob(bid["fid"], 2, deferred_script="echo body", code_root=tmp_path)
    provisioner.start(job)
    status = provisioner.wait(bid["fid"], timeout=5)
    assert status.phase == "ready", status
    first, second = bid["instances"]
    assert remote.events == [
        (first, "/var/log/flow/deferred_script.sh", "echo body"),
        (first, "/var/log/flow/deferred_ready", ""),
        (second, "/var/log/flow/deferred_script.sh", "echo body"),
        (second, "/var/log/flow/deferred_ready", ""),
        (first, "/var/log/flow/rank.env", RANK.format(0)),
        (second, "/var/log/flow/rank.env", RANK.format(1)),
        (first, "code", str(tmp_path)),
        (second, "code", str(tmp_path)),
    ]  # fmt: skip
    assert workdirs == ["/workspace", "/workspace"]
    assert [u["instance"] for u in status.upload] == [first, second]
    assert (status.files_done, status.bytes_total) == (1, 10)


def test_worker_waits_for_an_open_bid_to_get_running_instances(fake):
    bid = fake.add_bid(status="Open", instances=0)
    remote = FakeInstanceRemote()
    provisioner = _provisioner(fake, remote)
    provisioner.start(ProvisionJob(bid["fid"], 1, deferred_script="x"))
    time.sleep(0.1)
    assert provisioner.status(bid["fid"]).phase == "waiting_for_instances"
    bid["status"] = "Allocated"
    fake.add_instance(bid, 0, "STATUS_RUNNING")
    assert provisioner.wait(bid["fid"], timeout=5).phase == "ready"


def test_worker_stops_when_the_bid_is_terminated(fake):
    bid = fake.add_bid(status="Open", instances=0)
    provisioner = _provisioner(fake, FakeInstanceRemote())
    provisioner.start(ProvisionJob(bid["fid"], 2))
    bid["status"] = "Terminated"
    assert provisioner.wait(bid["fid"], timeout=5).phase == "stopped"


def test_failed_instance_fails_the_job_with_one_line(fake):
    bid = fake.add_bid(instance_status="STATUS_ERROR")
    provisioner = _provisioner(fake, FakeInstanceRemote())
    provisioner.start(ProvisionJob(bid["fid"], 2))
    status = provisioner.wait(bid["fid"], timeout=5)
    assert status.phase == "failed" and "failed to start" in status.message


def test_close_stops_waiting_workers_promptly(fake):
    bid = fake.add_bid(status="Open", instances=0)
    provisioner = _provisioner(fake, FakeInstanceRemote(), poll_interval=30.0)
    provisioner.start(ProvisionJob(bid["fid"], 2))
    started = time.monotonic()
    provisioner.close()
    assert time.monotonic() - started < 2
    assert provisioner.status(bid["fid"]).phase == "stopped"


def test_sync_code_needs_a_running_instance(fake):
    bid = fake.add_bid(status="Open", instances=0)
    with pytest.raises(TaskStateError, match="no running instance"):
        _provisioner(fake, FakeInstanceRemote()).sync_code(bid["fid"], Path("."))


def test_sync_code_uploads_to_every_running_instance(fake, tmp_path):
    bid = fake.add_bid(instances=2)
    remote = FakeInstanceRemote()
    results = _provisioner(fake, remote).sync_code(bid["fid"], tmp_path, "/work")
    assert [r["instance"] for r in results] == bid["instances"]
    assert results[0]["strategy"] == "rsync"


def test_a_code_file_deleted_mid_upload_fails_the_task_with_the_file_in_one_line(fake, tmp_path):
    bid = fake.add_bid()
    remote = FakeInstanceRemote()
    (tmp_path / "kept.py").write_text("a = 1\n")
    (tmp_path / "gone.py").write_text("b = 2\n")

    def select_then_delete(root: Path):
        selected = list(iter_code_files(root))
        (root / "gone.py").unlink()  # deleted after selection, while the upload runs
        return iter(selected)

    def code_sync(workdir: str) -> CodeUploadService:
        return CodeUploadService([RsyncStrategy(remote)], remote, select=select_then_delete)

    client = fake.client()
    bids, instances = BidService(client, "proj_test"), InstanceService(client, "proj_test")
    records = TaskRecords(MemoryRecordStore())
    queries = TaskQueries(bids, instances, TaskService(), records, ExitCodeReader(remote))
    provisioner = Provisioner(
        instances, bids.get, remote, code_sync, poll_interval=0.01, timeout=5.0,
        on_failed=queries.fail,
    )  # fmt: skip
    provisioner.start(ProvisionJob(bid["fid"], 1, code_root=tmp_path))
    status = provisioner.wait(bid["fid"], timeout=5)
    assert status.phase == "failed"
    assert f"{tmp_path / 'gone.py'}: No such file or directory" in status.message
    assert "\n" not in status.message

    task = queries.get(bid["fid"])  # the task ends failed, and its bid (no GPU billed)
    assert (task.status, task.message) == (TaskStatus.FAILED, status.message)
    assert fake.bids[bid["fid"]]["status"] == "Terminated"
