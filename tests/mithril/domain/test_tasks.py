from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import get_args

import pytest

from flow_notebook.core.models import TaskStatus
from flow_notebook.providers.mithril.api.dto import (
    BidDetailedStatus,
    BidModel,
    BidStatus,
    InstanceModel,
    InstanceStatus,
    LaunchSpecificationModel,
)
from flow_notebook.providers.mithril.domain.tasks import TaskService, map_status

S = TaskStatus
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)

# Expected status of a single-instance task with no exit code, for every
# (bid status, instance status) pair of the spec's enums. A new enum value in the
# spec is missing here and fails the test until someone decides its mapping.
ALLOCATED = {
    "STATUS_NEW": S.PROVISIONING,
    "STATUS_CONFIRMED": S.PROVISIONING,
    "STATUS_INITIALIZING": S.PROVISIONING,
    "STATUS_STARTING": S.PROVISIONING,
    "STATUS_RUNNING": S.RUNNING,
    "STATUS_STOPPING": S.PROVISIONING,
    "STATUS_TERMINATED": S.PROVISIONING,
    "STATUS_RELOCATING": S.PROVISIONING,
    "STATUS_PREEMPTING": S.PREEMPTING,
    "STATUS_PREEMPTED": S.PREEMPTING,
    "STATUS_REPLACED": S.PROVISIONING,
    "STATUS_PAUSED": S.PAUSED,
    "STATUS_ERROR": S.FAILED,
}
BID_WIDE = {
    "Open": S.PENDING,
    "Preempting": S.PREEMPTING,
    "Paused": S.PAUSED,
    "Terminated": S.CANCELLED,
    "Relocating": S.PROVISIONING,
}


def _expected(bid_status: str, instance_status: str) -> TaskStatus:
    if instance_status == "STATUS_ERROR":
        return S.FAILED
    if bid_status == "Allocated":
        return ALLOCATED[instance_status]
    return BID_WIDE[bid_status]


def test_status_mapping_covers_every_bid_and_instance_status_of_the_spec():
    bid_statuses = set(get_args(BidStatus)) | set(get_args(BidDetailedStatus))
    assert set(ALLOCATED) == set(get_args(InstanceStatus))
    assert set(BID_WIDE) | {"Allocated"} == bid_statuses
    for bid_status in sorted(bid_statuses):
        assert map_status(bid_status, []) == (
            S.PROVISIONING if bid_status == "Allocated" else BID_WIDE[bid_status]
        )
        for instance_status in get_args(InstanceStatus):
            got = map_status(bid_status, [instance_status])
            assert got == _expected(bid_status, instance_status), (bid_status, instance_status)


@pytest.mark.parametrize("bid_status", sorted(set(get_args(BidDetailedStatus))))
@pytest.mark.parametrize(
    ("exit_code", "expected"), [(0, S.COMPLETED), (1, S.FAILED), (137, S.FAILED)]
)
def test_known_exit_code_decides_completed_or_failed(bid_status, exit_code, expected):
    assert map_status(bid_status, ["STATUS_RUNNING"], exit_code) == expected
    assert map_status(bid_status, ["STATUS_TERMINATED"], exit_code) == expected


def test_multi_instance_task_runs_only_when_every_instance_runs():
    assert map_status("Allocated", ["STATUS_RUNNING", "STATUS_STARTING"]) == S.PROVISIONING
    assert map_status("Allocated", ["STATUS_RUNNING", "STATUS_RUNNING"]) == S.RUNNING
    assert map_status("Allocated", ["STATUS_RUNNING", "STATUS_PREEMPTED"]) == S.PREEMPTING
    assert map_status("Allocated", ["STATUS_RUNNING", "STATUS_ERROR"]) == S.FAILED


def _bid(*, status="Allocated", instances=("inst_0", "inst_1"), limit="$3.00", quantity=2):
    return BidModel(
        fid="bid_1",
        name="train",
        project="proj_1",
        created_by="user_1",
        created_at=T0,
        deactivated_at=T0 + timedelta(hours=2) if status == "Terminated" else None,
        limit_price=limit,
        instance_quantity=quantity,
        instance_type="it_h100x8",
        region="us-central1-a",
        instances=list(instances),
        launch_specification=LaunchSpecificationModel(volumes=[], ssh_keys=["sshkey_1"]),
        status=status,
    )


def _instance(fid, *, status="STATUS_RUNNING", ssh="1.2.3.4:2200", offset=0):
    return InstanceModel(
        fid=fid,
        name=fid,
        project="proj_1",
        created_at=T0 + timedelta(minutes=offset),
        created_by="user_1",
        instance_type="it_h100x8",
        region="us-central1-a",
        bid="bid_1",
        ssh_destination=ssh,
        status=status,
    )


def _service():
    return TaskService(display_name={"it_h100x8": "8xh100"}.get)


def test_task_carries_display_type_cost_ssh_and_metadata():
    instances = [
        _instance("inst_1", ssh="5.6.7.8:22", offset=1),
        _instance("inst_0", ssh="ubuntu@1.2.3.4:2200"),
    ]
    task = _service().build_task(_bid(), instances, command="python train.py")
    assert task.task_id == "bid_1" and task.name == "train" and task.provider == "mithril"
    assert task.status == S.RUNNING
    assert task.instance_type == "8xh100"
    assert task.num_instances == 2
    assert task.cost_per_hour == 6.0  # limit price x quantity
    assert (task.ssh_host, task.ssh_port, task.ssh_user) == ("1.2.3.4", 2200, "ubuntu")
    assert task.instances == ["inst_0", "inst_1"]
    assert task.started_at == T0
    assert task.command == "python train.py"
    assert task.metadata == {
        "bid_fid": "bid_1",
        "project": "proj_1",
        "region": "us-central1-a",
        "instance_type_fid": "it_h100x8",
        "limit_price": "$3.00",
        "limit_per_hour": 6.0,
        "price_basis": "limit",  # no spot price known to this service
    }


def test_current_price_overrides_limit_price_for_cost():
    task = _service().build_task(_bid(), [], current_price=2.5)
    assert task.cost_per_hour == 5.0


def test_an_allocated_bid_pays_the_spot_price_and_keeps_its_limit_apart():
    asked = []

    def spot(fid, region):
        asked.append((fid, region))
        return 2.2

    service = TaskService(display_name=str, spot_price=spot)
    live = service.build_task(_bid(), [])
    assert (live.cost_per_hour, live.metadata["price_basis"]) == (4.4, "spot")
    assert live.metadata["limit_per_hour"] == 6.0
    assert asked == [("it_h100x8", "us-central1-a")]
    ended = service.build_task(_bid(status="Terminated"), [])
    assert (ended.cost_per_hour, ended.metadata["price_basis"]) == (6.0, "limit")
    assert len(asked) == 1


def test_an_unknown_spot_price_falls_back_to_the_limit():
    from flow_notebook.core.errors import FlowError

    def failing(fid, region):
        raise FlowError("availability down")

    task = TaskService(spot_price=failing).build_task(_bid(), [])
    assert (task.cost_per_hour, task.metadata["price_basis"]) == (6.0, "limit")


def test_ssh_comes_from_first_instance_that_has_a_destination():
    instances = [_instance("inst_0", ssh=None, status="STATUS_STARTING"), _instance("inst_1")]
    task = _service().build_task(_bid(), instances)
    assert task.status == S.PROVISIONING
    assert task.started_at is None
    assert (task.ssh_host, task.ssh_port) == ("1.2.3.4", 2200)


def test_pending_bid_has_no_ssh_and_no_start():
    task = _service().build_task(_bid(status="Open", instances=()))
    assert task.status == S.PENDING
    assert task.ssh_host is None and task.started_at is None and task.completed_at is None


def test_terminated_bid_with_exit_code_is_completed_with_end_time():
    task = _service().build_task(
        _bid(status="Terminated"), [_instance("inst_0", status="STATUS_TERMINATED")], exit_code=0
    )
    assert task.status == S.COMPLETED
    assert task.exit_code == 0
    assert task.completed_at == T0 + timedelta(hours=2)


def test_instance_error_fails_the_task_with_a_message():
    task = _service().build_task(_bid(), [_instance("inst_0", status="STATUS_ERROR")])
    assert task.status == S.FAILED
    assert task.message == "instance inst_0 is in STATUS_ERROR"
