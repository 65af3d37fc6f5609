"""The market rules, driven directly (no HTTP, no processes)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flow_notebook.sandbox.instances import LaunchSpec, VirtualLauncher
from flow_notebook.sandbox.lifecycle import InstanceRunner
from flow_notebook.sandbox.market import Market
from flow_notebook.sandbox.state import Bid, Store

A100 = "it_RrgkIZz6c9BZu5gi"  # a100-80gb.sxm.1x
REGION = "us-central1-a"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    store = Store()
    runner = InstanceRunner(store, VirtualLauncher())
    clock = FakeClock()
    market = Market(
        store,
        runner,
        lambda bid, inst: LaunchSpec(inst.fid, {}, []),
        preempt_delay=1.0,
        clock=clock,
    )
    yield store, market, clock
    runner.shutdown()


def _bid(store: Store, *, cents: int, quantity: int = 1) -> Bid:
    bid = Bid(
        fid=f"bid_{store.next_seq()}",
        name="b",
        project="proj_x",
        created_by="user_x",
        created_at=datetime.now(timezone.utc),
        limit_cents=cents,
        instance_quantity=quantity,
        instance_type=A100,
        region=REGION,
        launch_specification={"volumes": [], "ssh_keys": []},
        seq=store.next_seq(),
    )
    store.bids[bid.fid] = bid
    return bid


def test_bid_at_or_above_spot_price_allocates_with_its_instances(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    bid = _bid(store, cents=auction.price_cents, quantity=2)
    market.tick()
    assert bid.status == "Allocated"
    assert len(bid.instances) == 2


def test_bid_below_spot_price_stays_open(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    bid = _bid(store, cents=auction.price_cents - 1)
    market.tick()
    assert bid.status == "Open"
    assert bid.instances == []


def test_bid_larger_than_free_capacity_waits_until_capacity_frees(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    market.set_capacity(auction, 3)
    first = _bid(store, cents=10_000, quantity=2)
    second = _bid(store, cents=10_000, quantity=2)
    market.tick()
    assert (first.status, second.status) == ("Allocated", "Open")
    market.terminate(first)
    assert second.status == "Allocated"


def test_price_rise_preempts_then_terminates_after_the_delay(world):
    store, market, clock = world
    auction = market.auctions[(A100, REGION)]
    bid = _bid(store, cents=auction.price_cents)
    market.tick()
    market.set_price(auction, auction.price_cents + 1)
    assert bid.status == "Preempting"
    assert store.instances[bid.instances[0]].status == "STATUS_PREEMPTING"
    clock.now += 1.0
    market.tick()
    assert bid.status == "Terminated"
    assert bid.deactivated_at is not None
    assert store.instances[bid.instances[0]].status == "STATUS_TERMINATED"


def test_capacity_cut_preempts_the_cheapest_bid_first(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    cheap = _bid(store, cents=auction.price_cents)
    dear = _bid(store, cents=auction.price_cents * 2)
    market.tick()
    market.set_capacity(auction, 1)
    assert (cheap.status, dear.status) == ("Preempting", "Allocated")


def test_pause_frees_capacity_and_resume_reallocates_the_same_instances(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    market.set_capacity(auction, 1)
    bid = _bid(store, cents=10_000)
    market.tick()
    instances = list(bid.instances)
    market.pause(bid)
    assert bid.status == "Paused"
    assert store.instances[instances[0]].status == "STATUS_PAUSED"
    assert market.used(auction) == 0
    market.resume(bid)
    assert bid.status == "Allocated"
    assert bid.instances == instances


def test_history_records_only_real_status_changes_and_who_asked(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    bid = _bid(store, cents=auction.price_cents)
    market.tick()
    market.pause(bid, by="user_a")
    market.pause(bid, by="user_a")  # already paused: nothing changes
    market.resume(bid, by="user_b")
    market.terminate(bid)
    market.terminate(bid)  # already ended
    assert [(e.event_type, e.user_id) for e in bid.history] == [
        ("Allocated", None),
        ("Paused", "user_a"),
        ("Resumed", "user_b"),
        ("Allocated", None),
        ("Terminated", None),
    ]


def test_terminated_instance_gets_an_end_time_and_a_paused_one_does_not(world):
    store, market, _ = world
    auction = market.auctions[(A100, REGION)]
    bid = _bid(store, cents=auction.price_cents)
    market.tick()
    instance = store.instances[bid.instances[0]]
    market.pause(bid)
    assert instance.end_time is None
    market.resume(bid)
    market.terminate(bid)
    assert instance.end_time is not None
    assert abs((instance.end_time - bid.deactivated_at).total_seconds()) < 1
