"""MountPlanner and VolumeAttacher: resolution, region and sharing checks, creation, rollback."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import NotFoundError, TaskStateError, ValidationError
from flow_notebook.core.models import VolumeSpec
from flow_notebook.providers.mithril.domain.mounts import MountPlanner, VolumeAttacher
from flow_notebook.providers.mithril.domain.volumes import VolumeService


def _volumes(fake) -> VolumeService:
    return VolumeService(fake.client(), "proj_test", lambda: "r1", transfer=None)


def _planner(fake) -> MountPlanner:
    return MountPlanner(_volumes(fake))


def test_volumes_by_id_and_name_resolve_and_pin_the_region(fake):
    data = fake.add_volume("data", region="r2")
    ckpt = fake.add_volume("ckpt", region="r2")
    specs = [VolumeSpec(volume_id=data["fid"]), VolumeSpec(name="ckpt", mount_path="/ckpt")]
    plan = _planner(fake).plan(specs)
    assert plan.region == "r2"
    assert [(v.fid, path) for v, path in plan.existing] == [
        (data["fid"], "/data"),
        (ckpt["fid"], "/ckpt"),
    ]


def test_volume_in_another_region_than_the_task_asks_is_refused_with_both_regions(fake):
    fake.add_volume("data", region="r2")
    with pytest.raises(ValidationError, match="data is in r2.*asks for region r1"):
        _planner(fake).plan([VolumeSpec(name="data")], region="r1")


def test_volumes_in_two_regions_are_refused(fake):
    fake.add_volume("a", region="r1")
    fake.add_volume("b", region="r2")
    specs = [VolumeSpec(name="a"), VolumeSpec(name="b", mount_path="/b")]
    with pytest.raises(ValidationError, match="different regions: r1, r2"):
        _planner(fake).plan(specs)


def test_block_volume_on_a_multi_instance_task_is_refused_and_file_volume_is_fine(fake):
    fake.add_volume("blocky", interface="Block")
    fake.add_volume("shared", interface="File")
    with pytest.raises(ValidationError, match="block volume blocky .* task has 2"):
        _planner(fake).plan([VolumeSpec(name="blocky")], num_instances=2)
    plan = _planner(fake).plan([VolumeSpec(name="shared")], num_instances=2)
    assert plan.existing[0][0].name == "shared"


def test_two_volumes_on_one_mount_path_are_refused(fake):
    fake.add_volume("a")
    fake.add_volume("b")
    with pytest.raises(ValidationError, match="two volumes are mounted at /data"):
        _planner(fake).plan([VolumeSpec(name="a"), VolumeSpec(name="b")])


def test_missing_volume_without_a_size_is_not_found(fake):
    with pytest.raises(NotFoundError, match="no volume 'ghost'"):
        _planner(fake).plan([VolumeSpec(name="ghost")])


def test_new_volume_is_created_in_the_chosen_region_as_file_for_multi_instance(fake):
    planner = _planner(fake)
    plan = planner.plan([VolumeSpec(name="scratch", size_gb=5, mount_path="/scratch")])
    assert plan.new and not fake.volumes  # nothing bought before the region is chosen
    mounts = planner.materialize(plan, "r2", num_instances=2)
    [created] = fake.volumes.values()
    assert (created["region"], created["interface"], created["name"]) == ("r2", "File", "scratch")
    assert [(m.volume_fid, m.mount_path) for m in mounts.mounts] == [(created["fid"], "/scratch")]
    assert mounts.created == [created["fid"]]
    planner.rollback(mounts.created)
    assert fake.volumes == {}


def test_bad_name_for_a_new_volume_fails_before_any_request(fake):
    with pytest.raises(ValidationError, match="volume name 'Bad_Name'"):
        _planner(fake).plan([VolumeSpec(name="Bad_Name", size_gb=5)])
    assert not any(r.method == "POST" for r in fake.requests)


def test_volume_ids_attach_without_a_mount(fake):
    data = fake.add_volume("data")
    planner = _planner(fake)
    mounts = planner.materialize(planner.plan([], [data["fid"]]), "r1")
    assert mounts.volume_ids == [data["fid"]] and mounts.mounts == []


def test_attacher_adds_the_volume_to_the_bid_once(fake):
    data = fake.add_volume("data")
    bid = fake.add_bid()
    client = fake.client()
    attacher = VolumeAttacher(VolumeService(client, "proj_test", lambda: "r1", None), client)
    attacher.attach(data["fid"], bid["fid"])
    attacher.attach(data["fid"], bid["fid"])
    assert bid["launch_specification"]["volumes"] == [data["fid"]]
    assert fake.count("PATCH", f"/v2/spot/bids/{bid['fid']}") == 1


def test_attacher_refuses_ended_tasks_other_regions_and_custom_mount_points(fake):
    here, there = fake.add_volume("here"), fake.add_volume("there", region="r2")
    client = fake.client()
    attacher = VolumeAttacher(VolumeService(client, "proj_test", lambda: "r1", None), client)
    with pytest.raises(TaskStateError):
        attacher.attach(here["fid"], fake.add_bid(status="Terminated")["fid"])
    with pytest.raises(ValidationError, match="r2"):
        attacher.attach(there["fid"], fake.add_bid()["fid"])
    with pytest.raises(ValidationError, match="mnt/volumes"):
        attacher.attach(here["fid"], fake.add_bid()["fid"], "/elsewhere")
