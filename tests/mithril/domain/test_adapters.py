from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flow_notebook.core.errors import ProviderResponseError
from flow_notebook.providers.mithril.adapters import (
    SshEndpoint,
    auction_to_available_instance,
    instance_to_core,
    instance_type_display_name,
    me_to_user,
    parse_ssh_destination,
    project_to_dict,
    teammate_to_user,
    volume_to_core,
)
from flow_notebook.providers.mithril.api.dto import (
    AuctionModel,
    InstanceModel,
    InstanceTypeModel,
    MeResponse,
    ProjectModel,
    TeammateResponse,
    VolumeModel,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _itype(*, fid="it_h100x8", name="h100.80gb.sxm", gpus=8, gpu_type="H100"):
    return InstanceTypeModel(
        fid=fid,
        name=name,
        num_cpus=192,
        cpu_type="Intel",
        ram_gb=1800,
        num_gpus=gpus,
        gpu_type=gpu_type,
        gpu_memory_gb=80,
        gpu_socket="SXM5",
        local_storage_gb=7800,
        network_type="InfiniBand",
        ib_count=8,
        bridge_count=4,
    )


def _instance(**overrides):
    values = dict(
        fid="inst_1",
        name="task-0",
        project="proj_1",
        created_at=T0,
        created_by="user_1",
        instance_type="it_h100x8",
        region="us-central1-a",
        bid="bid_1",
        ssh_destination="1.2.3.4:2222",
        private_ip="10.0.0.2",
        status="STATUS_RUNNING",
    )
    values.update(overrides)
    return InstanceModel(**values)


@pytest.mark.parametrize(
    ("gpus", "gpu_type", "expected"),
    [(8, "H100", "8xh100"), (1, "A100", "1xa100"), (2, "RTX 4090", "2xrtx-4090"), (0, "", "cpu.x")],
)
def test_instance_type_display_name_counts_gpus(gpus, gpu_type, expected):
    assert (
        instance_type_display_name(_itype(name="cpu.x", gpus=gpus, gpu_type=gpu_type)) == expected
    )


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("1.2.3.4", SshEndpoint("1.2.3.4", 22, "ubuntu")),
        ("1.2.3.4:2222", SshEndpoint("1.2.3.4", 2222, "ubuntu")),
        ("localhost:40022", SshEndpoint("localhost", 40022, "ubuntu")),
        ("root@host.example:2201", SshEndpoint("host.example", 2201, "root")),
        ("[::1]:2022", SshEndpoint("::1", 2022, "ubuntu")),
        ("[fe80::1]", SshEndpoint("fe80::1", 22, "ubuntu")),
        ("fe80::1", SshEndpoint("fe80::1", 22, "ubuntu")),
    ],
)
def test_parse_ssh_destination_reads_user_host_and_port(destination, expected):
    assert parse_ssh_destination(destination) == expected


@pytest.mark.parametrize(
    "destination", [None, "", "  ", "host:port", "host:0", "host:70000", ":22"]
)
def test_parse_ssh_destination_rejects_unusable_values(destination):
    assert parse_ssh_destination(destination) is None


def test_auction_becomes_offer_with_catalogue_hardware():
    auction = AuctionModel(
        fid="auc_1",
        instance_type="it_h100x8",
        region="us-central1-a",
        capacity=3,
        last_instance_price="$25.60",
        adjustable_memory=False,
    )
    offer = auction_to_available_instance(auction, _itype())
    assert offer.allocation_id == "auc_1"
    assert offer.instance_type == "8xh100"
    assert offer.price_per_hour == 25.60
    assert (offer.gpu_type, offer.gpu_count, offer.cpu_cores, offer.memory_gb) == (
        "h100",
        8,
        192,
        1800,
    )
    assert offer.available_quantity == 3 and offer.status == "available"
    assert offer.internode_interconnect == "InfiniBand"


def test_auction_without_catalogue_entry_shows_type_id_and_bad_price_is_a_response_error():
    auction = AuctionModel(
        fid="auc_2",
        instance_type="it_x",
        region="r",
        capacity=0,
        last_instance_price="$1.00",
        adjustable_memory=True,
    )
    offer = auction_to_available_instance(auction)
    assert offer.instance_type == "it_x" and offer.status == "unavailable"
    broken = auction.model_copy(update={"last_instance_price": "free"})
    with pytest.raises(ProviderResponseError, match="auc_2"):
        auction_to_available_instance(broken)


def test_instance_converts_with_ssh_endpoint():
    core = instance_to_core(_instance(), instance_type_name="8xh100")
    assert core.instance_id == "inst_1" and core.task_id == "bid_1"
    assert (core.ssh_host, core.ssh_port, core.ssh_user) == ("1.2.3.4", 2222, "ubuntu")
    assert core.instance_type == "8xh100"
    assert core.private_ip == "10.0.0.2"
    assert core.status == "STATUS_RUNNING"


def test_instance_without_destination_has_no_ssh_fields():
    core = instance_to_core(_instance(ssh_destination=None, status="STATUS_NEW"), task_id="t")
    assert core.task_id == "t"
    assert (core.ssh_host, core.ssh_port, core.ssh_user) == (None, None, None)


def test_volume_converts_interface_and_attachments():
    volume = VolumeModel(
        fid="vol_1",
        name="data",
        region="us-central1-a",
        created_at=T0,
        deleted_at=None,
        capacity_gb=100,
        project="proj_1",
        interface="File",
        bids=["bid_1"],
        reservations=[],
        attachments={"inst_1": "/dev/vdb", "bid_1": "x"},
    )
    core = volume_to_core(volume)
    assert (core.volume_id, core.name, core.size_gb, core.interface) == (
        "vol_1",
        "data",
        100,
        "file",
    )
    assert core.attached_to == ["bid_1", "inst_1"]


def test_account_models_convert_to_user_and_dict():
    me = MeResponse(id="1", fid="user_1", email="a@b.c", organization_id="org")
    assert me_to_user(me).username == "a@b.c"
    named = TeammateResponse(id="2", fid="user_2", user_name="bo", project_ids=[])
    assert teammate_to_user(named).username == "bo"
    assert teammate_to_user(TeammateResponse(id="3", fid="user_3", project_ids=[])).username == (
        "user_3"
    )
    project = ProjectModel(fid="proj_1", name="research", created_at=T0)
    assert project_to_dict(project) == {
        "id": "proj_1",
        "name": "research",
        "created_at": "2024-01-01T00:00:00+00:00",
    }
