"""BidService: unique names, one bid per call even when answers are lost, paging, pause/cancel."""

from __future__ import annotations

import pytest

from flow_notebook.core.errors import (
    ProviderUnavailableError,
    TaskNotFoundError,
    TaskStateError,
)
from flow_notebook.providers.mithril.domain.bids import BidService

BIDS = "/v2/spot/bids"


def _service(fake, **kwargs) -> BidService:
    options = {"reconcile_attempts": 2, "reconcile_delay": 0.0, "sleep": lambda s: None}
    return BidService(fake.client(), "proj_test", **{**options, **kwargs})


def _request(service: BidService, name: str = "train-abc"):
    return service.build_request(
        name=name,
        region="r1",
        instance_type_fid="it_a100x1",
        limit_price=2.5,
        quantity=1,
        startup_script="#!/bin/bash\necho hi\n",
        ssh_key_ids=["sshkey_1"],
        volume_ids=["vol_1"],
    )


def test_unique_name_keeps_the_task_name_and_adds_a_random_suffix(fake):
    service = BidService(fake.client(), "proj_test")
    first, second = service.unique_name("train run"), service.unique_name("train run")
    assert first.startswith("train-run-") and second.startswith("train-run-")
    assert first != second


def test_build_request_formats_the_price_and_the_launch_specification(fake):
    request = _request(_service(fake))
    body = request.to_json()
    assert body["limit_price"] == "$2.50"
    assert body["project"] == "proj_test"
    assert body["launch_specification"]["ssh_keys"] == ["sshkey_1"]
    assert body["launch_specification"]["volumes"] == ["vol_1"]


def test_place_sends_one_post_when_the_api_answers(fake):
    service = _service(fake)
    bid = service.place(_request(service))
    assert bid.name == "train-abc"
    assert fake.count("POST", BIDS) == 1
    assert len(fake.bids) == 1


def test_lost_answer_after_the_server_created_the_bid_never_makes_a_second_bid(fake):
    service = _service(fake)
    fake.lose_next_post = "after_create"
    bid = service.place(_request(service))
    assert fake.count("POST", BIDS) == 1
    assert list(fake.bids) == [bid.fid]


def test_request_lost_before_the_server_saw_it_is_sent_once_more(fake):
    service = _service(fake)
    fake.lose_next_post = "before_create"
    bid = service.place(_request(service))
    assert fake.count("POST", BIDS) == 2
    assert list(fake.bids) == [bid.fid]
    assert fake.count("GET", BIDS) == 2  # both lookups said absent before the re-send


def test_two_lost_sends_raise_and_leave_no_bid(fake):
    def always_lose(request):
        fake.lose_next_post = "before_create"
        return original(request)

    original, fake.handle = fake.handle, always_lose
    service = _service(fake)
    with pytest.raises(ProviderUnavailableError, match="could not be placed"):
        service.place(_request(service))
    assert sum(1 for r in fake.requests if r.method == "POST") == 2
    assert fake.bids == {}


def test_failed_lookup_after_a_lost_answer_reports_an_unknown_outcome_without_resending(fake):
    service = _service(fake)
    fake.lose_next_post = "after_create"
    fake.fail_lookups = True
    with pytest.raises(ProviderUnavailableError, match="may or may not") as caught:
        service.place(_request(service))
    assert "%flow list" in str(caught.value)
    assert fake.count("POST", BIDS) == 1


def test_list_follows_cursors_until_the_limit(fake):
    for _ in range(250):
        fake.add_bid(status="Terminated", instances=0)
    service = _service(fake)
    fake.reset_counts()
    found = service.list(230)
    assert len(found) == 230
    assert len({bid.fid for bid in found}) == 230
    assert fake.count("GET", BIDS) == 3
    assert [r.params["limit"] for r in fake.requests] == ["100", "100", "30"]


def test_list_passes_the_status_filter(fake):
    fake.add_bid(status="Open")
    fake.add_bid(status="Allocated")
    assert [b.status for b in _service(fake).list(10, "Open")] == ["Open"]


def test_cancel_is_idempotent(fake):
    bid = fake.add_bid()
    service = _service(fake)
    assert service.cancel(bid["fid"]) is True
    assert service.cancel(bid["fid"]) is False
    assert fake.count("DELETE", f"{BIDS}/{bid['fid']}") == 1


def test_get_of_an_unknown_bid_is_task_not_found(fake):
    with pytest.raises(TaskNotFoundError):
        _service(fake).get("bid_404")


def test_pause_and_resume_are_idempotent_and_patch_only_when_needed(fake):
    bid = fake.add_bid()
    service = _service(fake)
    assert service.set_paused(bid["fid"], True) is True
    assert service.set_paused(bid["fid"], True) is False
    assert service.set_paused(bid["fid"], False) is True
    assert service.set_paused(bid["fid"], False) is False
    assert fake.count("PATCH", f"{BIDS}/{bid['fid']}") == 2


def test_pausing_an_ended_task_is_a_state_error(fake):
    bid = fake.add_bid(status="Terminated")
    with pytest.raises(TaskStateError):
        _service(fake).set_paused(bid["fid"], True)
