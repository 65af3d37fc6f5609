"""InstanceService: many bids per request, rank order, SSH endpoints."""

from __future__ import annotations

from flow_notebook.providers.mithril.domain.instances import InstanceService, in_bid_order

INSTANCES = "/v2/instances"


def test_instances_of_many_bids_come_in_batches_not_one_request_per_bid(fake):
    bids = [fake.add_bid(instances=2) for _ in range(120)]
    service = InstanceService(fake.client(), "proj_test", batch_size=50)
    found = service.for_bids(b["fid"] for b in bids)
    assert fake.count("GET", INSTANCES) == 3  # 50 + 50 + 20 bids, 100 instances a page
    assert all(len(found[b["fid"]]) == 2 for b in bids)
    first = [r for r in fake.requests if r.method == "GET"][0]
    assert len(first.params["bid_fid_in"].split(",")) == 50


def test_bids_without_instances_map_to_empty_lists_and_no_request_repeats_an_id(fake):
    service = InstanceService(fake.client(), "proj_test")
    open_bid = fake.add_bid(status="Open")
    found = service.for_bids([open_bid["fid"], open_bid["fid"]])
    assert found == {open_bid["fid"]: []}
    assert fake.count("GET", INSTANCES) == 1


def test_endpoint_parses_the_destination_with_the_default_user_and_skips_unreachable(fake):
    bid = fake.add_bid(instances=2)
    fake.add_instance(bid, 2, "STATUS_STARTING")
    service = InstanceService(fake.client(), "proj_test", default_ssh_user="ubuntu")
    ordered = in_bid_order(bid["instances"], service.for_bid(bid["fid"]))
    endpoints = service.endpoints(ordered)
    assert [(e.host, e.port, e.user) for e in endpoints] == [
        ("10.0.0.1", 220, "ubuntu"),
        ("10.0.0.2", 221, "ubuntu"),
    ]
    assert endpoints[0].instance_id == bid["instances"][0]


def test_known_endpoint_answers_from_the_last_fetch_without_a_request(fake):
    bid = fake.add_bid()
    service = InstanceService(fake.client(), "proj_test")
    service.for_bid(bid["fid"])
    fake.reset_counts()
    [endpoint] = service.known_endpoint(bid["instances"][0])
    assert endpoint.port == 220
    assert service.known_endpoint("inst_unknown") == []
    assert fake.requests == []


def test_in_bid_order_sorts_by_position_in_the_bid(fake):
    bid = fake.add_bid(instances=3)
    service = InstanceService(fake.client(), "proj_test")
    shuffled = list(reversed(service.for_bid(bid["fid"])))
    assert [i.fid for i in in_bid_order(bid["instances"], shuffled)] == bid["instances"]


def test_to_core_carries_the_display_name_and_ssh_fields(fake):
    bid = fake.add_bid()
    service = InstanceService(fake.client(), "proj_test", display_name=lambda fid: "1xa100")
    core = service.to_core(service.for_bid(bid["fid"])[0])
    assert (core.instance_type, core.task_id, core.ssh_port) == ("1xa100", bid["fid"], 220)
