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


class FakeTime:
    """A clock that only moves when slept on; ``on_sleep`` runs at every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = lambda: None

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        self.on_sleep()


def _service(fake, time: FakeTime | None = None, **kwargs) -> BidService:
    time = time or FakeTime()
    options = {"reconcile_timeout": 10.0, "reconcile_delay": 2.0}
    return BidService(
        fake.client(), "proj_test", sleep=time.sleep, clock=lambda: time.now,
        **{**options, **kwargs},
    )  # fmt: skip


def _request(service: BidService, name: str = "train-abc"):
    return service.build_request(
        name=name,
        region="r1",
        instance_type_fid="it_RrgkIZz6c9BZu5gi",
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


def test_a_post_acted_on_after_the_client_gave_up_is_found_and_never_sent_again(fake):
    time = FakeTime()
    service = _service(fake, time, reconcile_timeout=90.0)
    request = _request(service)
    fake.lose_next_post = "before_create"

    def server_acts_late() -> None:
        if time.sleeps == 20:  # 40 s after the client's timeout
            fake.add_bid(status="Open", name=request.name, region="r1")

    time.on_sleep = server_acts_late
    bid = service.place(request)
    assert bid.name == request.name
    assert fake.count("POST", BIDS) == 1
    assert len(fake.bids) == 1


def test_a_lost_answer_with_no_bid_by_the_deadline_is_one_line_naming_it_not_a_second_post(fake):
    time = FakeTime()
    service = _service(fake, time)
    fake.lose_next_post = "before_create"
    with pytest.raises(ProviderUnavailableError, match="may or may not have been placed") as caught:
        service.place(_request(service))
    message = str(caught.value)
    assert "train-abc" in message and "not sent again" in message and "\n" not in message
    assert fake.count("POST", BIDS) == 1
    assert fake.bids == {}
    assert time.now <= 10.0  # bounded by reconcile_timeout
    assert fake.count("GET", BIDS) == 6  # looked up at 0, 2, 4, 6, 8 and 10 s


def test_a_post_that_never_left_is_not_placed_and_not_looked_up(fake):
    fake.handle, original = (lambda r: _never_sent(fake, original, r)), fake.handle
    service = _service(fake)
    with pytest.raises(ProviderUnavailableError, match="bid train-abc was not placed"):
        service.place(_request(service))
    assert fake.bids == {}
    assert fake.count("GET", BIDS) == 0


def _never_sent(fake, original, request):
    fake.lose_next_post = "never_sent"
    return original(request)


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
