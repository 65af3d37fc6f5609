"""The spot market: auctions per (instance type, region), bid allocation and preemption.

A bid is ``Allocated`` while its auction has room for all its instances and its
limit price is at least the spot price; otherwise it stays ``Open``. A price above
an allocated bid's limit (or capacity below what is allocated) preempts it: the
bid is ``Preempting`` for ``preempt_delay`` seconds, then ``Terminated``. Paused
bids hold no capacity. Instances of active (or paused) reservations come first:
spot bids share what they leave (``spot_capacity``), so a reservation that starts
preempts the cheapest bids that no longer fit. ``tick()`` applies these rules;
callers run it after every change and a background ticker runs it periodically.
Every change of a bid's status is recorded in its history (``by`` is the user who
asked, if one did).
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flow_notebook.sandbox.catalog import OFFERS
from flow_notebook.sandbox.instances import LaunchSpec
from flow_notebook.sandbox.lifecycle import InstanceRunner
from flow_notebook.sandbox.state import Bid, Instance, Store, new_fid, utcnow

HOLDING = ("Allocated", "Preempting")
"""Bid statuses that hold capacity."""
ACTIVE = ("Open", "Allocated", "Preempting", "Paused")
"""Bid statuses that count against quotas."""
RESERVED = ("Active", "Paused")
"""Reservation statuses whose instances hold their auction's capacity."""
TICK_SECONDS = 0.1


@dataclass
class Auction:
    """Spot capacity and price of one instance type in one region."""

    instance_type: str
    region: str
    capacity: int
    price_cents: int
    history: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def fid(self) -> str:
        """The auction id, stable for the pair."""
        return f"auc_{self.instance_type.removeprefix('it_')}_{self.region.replace('-', '')}"


class Market:
    """Auctions plus the rules that move bids between statuses.

    Args:
        store: Records of bids and instances.
        runner: Boots and stops instances.
        spec_factory: Builds an instance's ``LaunchSpec`` from its bid and record.
        preempt_delay: Seconds a preempted bid stays ``Preempting``.
        clock: Monotonic clock, swappable in tests.
    """

    def __init__(
        self,
        store: Store,
        runner: InstanceRunner,
        spec_factory: Callable[[Bid, Instance], LaunchSpec],
        *,
        preempt_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._runner = runner
        self._spec_factory = spec_factory
        self._delay = preempt_delay
        self._clock = clock
        self.auctions: dict[tuple[str, str], Auction] = {}
        now = utcnow()
        for fid, regions in OFFERS.items():
            for region, (capacity, price) in regions.items():
                auction = Auction(fid, region, capacity, price, [(now, price)])
                self.auctions[(fid, region)] = auction
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: dict[str, Bid] = {}
        self._bids_seen = 0
        self.followers: list[Callable[[], None]] = []
        """Rules run at the start of each tick (reservations start and end on its clock)."""

    def used(self, auction: Auction, bids: list[Bid] | None = None) -> int:
        """Returns how many instances of ``auction`` allocated bids (of ``bids``) hold."""
        return sum(
            b.instance_quantity
            for b in (self.live_bids() if bids is None else bids)
            if b.status in HOLDING
            and (b.instance_type, b.region) == (auction.instance_type, auction.region)
        )

    def reserved(self) -> Counter[tuple[str, str]]:
        """Returns the instances reservations hold now, per (instance type, region)."""
        held: Counter[tuple[str, str]] = Counter()
        for reservation in self._store.reservations.values():
            if reservation.status in RESERVED:
                held[(reservation.instance_type, reservation.region)] += (
                    reservation.instance_quantity
                )
        return held

    def spot_capacity(self, auction: Auction, reserved: Counter[tuple[str, str]] | None) -> int:
        """Returns the capacity of ``auction`` left to spot bids by ``reserved`` (default: now)."""
        held = (self.reserved() if reserved is None else reserved)[
            (auction.instance_type, auction.region)
        ]
        return max(auction.capacity - held, 0)

    def lowest_allocated(self, auction: Auction) -> int | None:
        """Returns the lowest limit price (cents) among bids allocated in ``auction``."""
        limits = [
            b.limit_cents
            for b in self.live_bids()
            if b.status == "Allocated"
            and (b.instance_type, b.region) == (auction.instance_type, auction.region)
        ]
        return min(limits) if limits else None

    def set_price(self, auction: Auction, cents: int) -> None:
        """Sets the spot price, records it in the history, and re-applies the rules."""
        with self._store.lock:
            auction.price_cents = cents
            auction.history.append((utcnow(), cents))
            self.tick()

    def set_capacity(self, auction: Auction, capacity: int) -> None:
        """Sets the capacity and re-applies the rules (cheapest bids lose first)."""
        with self._store.lock:
            auction.capacity = capacity
            self.tick()

    def preempt(self, bid: Bid) -> None:
        """Starts preempting ``bid`` if it is allocated."""
        with self._store.lock:
            if bid.status == "Allocated":
                bid.status = "Preempting"
                bid.record("Preempted")
                bid.preempt_at = self._clock() + self._delay
                for fid in bid.instances:
                    self._runner.halt(fid, "STATUS_PREEMPTING")

    def terminate(self, bid: Bid, by: str | None = None) -> None:
        """Ends ``bid`` and every instance of it; does nothing if it already ended."""
        with self._store.lock:
            self._end(bid, by)
            self.tick()

    def pause(self, bid: Bid, by: str | None = None) -> None:
        """Pauses ``bid``: its instances stop and its capacity frees."""
        with self._store.lock:
            if bid.status in ("Open", "Allocated"):
                bid.status = "Paused"
                bid.record("Paused", user_id=by)
                for fid in bid.instances:
                    self._runner.halt(fid, "STATUS_PAUSED")
                self.tick()

    def resume(self, bid: Bid, by: str | None = None) -> None:
        """Resumes a paused ``bid``: it is ``Open`` again and allocates when it can."""
        with self._store.lock:
            if bid.status == "Paused":
                bid.status = "Open"
                bid.record("Resumed", user_id=by)
                self.tick()

    def tick(self) -> None:
        """Finishes due preemptions, preempts what no longer fits, allocates what does."""
        with self._store.lock:
            now = self._clock()
            live: dict[tuple[str, str], list[Bid]] = {}
            for bid in self.live_bids():
                if bid.status == "Preempting" and bid.preempt_at is not None:
                    if bid.preempt_at <= now:
                        self._end(bid)
                if bid.status != "Terminated":
                    live.setdefault((bid.instance_type, bid.region), []).append(bid)
            for follower in self.followers:
                follower()
            reserved = self.reserved()
            for key, auction in self.auctions.items():
                capacity = self.spot_capacity(auction, reserved)
                self._preempt_misfits(auction, capacity, live.get(key, []))
                self._allocate(auction, capacity, live.get(key, []))

    def live_bids(self) -> list[Bid]:
        """Returns the bids that have not terminated, oldest first.

        Bids are only ever added to the store, in creation order, and a terminated bid
        never changes again; so the market tracks the live ones instead of scanning
        every bid on each tick (10,000 historical bids cost nothing here).
        """
        with self._store.lock:
            bids = self._store.bids
            added = len(bids) - self._bids_seen
            if added > 0:
                newest = itertools.islice(reversed(bids.values()), added)
                for bid in reversed(list(newest)):
                    self._live[bid.fid] = bid
                self._bids_seen = len(bids)
            for fid in [f for f, b in self._live.items() if b.status == "Terminated"]:
                del self._live[fid]
            return list(self._live.values())

    def start(self) -> None:
        """Starts the background ticker (stopped by ``stop``)."""
        self._thread = threading.Thread(target=self._run, name="sandbox-market", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops the background ticker and waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def _end(self, bid: Bid, by: str | None = None) -> None:
        if bid.status == "Terminated":
            return
        bid.status = "Terminated"
        bid.deactivated_at = utcnow()
        bid.record("Terminated", at=bid.deactivated_at, user_id=by)
        bid.preempt_at = None
        for fid in bid.instances:
            self._runner.halt(fid, "STATUS_TERMINATED")
        self._detach_volumes(bid)

    def _preempt_misfits(self, auction: Auction, capacity: int, bids: list[Bid]) -> None:
        allocated = sorted(
            (b for b in bids if b.status == "Allocated"), key=lambda b: b.limit_cents
        )
        # A bid already preempting is on its way out: counting it would preempt more.
        held = sum(b.instance_quantity for b in allocated)
        for bid in allocated:
            if bid.limit_cents < auction.price_cents or held > capacity:
                held -= bid.instance_quantity
                self.preempt(bid)

    def _allocate(self, auction: Auction, capacity: int, bids: list[Bid]) -> None:
        waiting = [b for b in bids if b.status == "Open"]
        waiting.sort(key=lambda b: (-b.limit_cents, b.seq))
        free = capacity - self.used(auction, bids)
        for bid in waiting:
            if bid.limit_cents >= auction.price_cents and bid.instance_quantity <= free:
                free -= bid.instance_quantity
                self._allocate_bid(bid)

    def _allocate_bid(self, bid: Bid) -> None:
        bid.status = "Allocated"
        bid.record("Allocated")
        if not bid.instances:
            for index in range(bid.instance_quantity):
                self._add_instance(bid, index)
        self._attach_volumes(bid)
        for instance in self._store.bid_instances(bid):
            self._runner.boot(instance.fid, functools.partial(self._spec_factory, bid, instance))

    def _add_instance(self, bid: Bid, index: int) -> None:
        instance = Instance(
            fid=new_fid("inst"),
            name=f"{bid.name}-{index}",
            project=bid.project,
            created_at=utcnow(),
            created_by=bid.created_by,
            instance_type=bid.instance_type,
            region=bid.region,
            bid=bid.fid,
            seq=self._store.next_seq(),
        )
        self._store.instances[instance.fid] = instance
        bid.instances.append(instance.fid)

    def _attach_volumes(self, bid: Bid) -> None:
        for volume_fid in bid.launch_specification.get("volumes", []):
            volume = self._store.volumes.get(volume_fid)
            if volume is None:
                continue
            if bid.fid not in volume.bids:
                volume.bids.append(bid.fid)
            for fid in bid.instances:
                volume.attachments[fid] = f"/mnt/volumes/{volume.fid}"

    def _detach_volumes(self, bid: Bid) -> None:
        for volume in self._store.volumes.values():
            if bid.fid in volume.bids:
                volume.bids.remove(bid.fid)
            for fid in bid.instances:
                volume.attachments.pop(fid, None)
