"""Reservations behind ``/v2/reservation``: capacity held for a window at a fixed price.

A reservation is ``Pending`` until its window starts, then ``Active``: its
``instance_quantity`` instances are created and boot like a bid's (sshd, startup
script). ``Paused`` stops them (capacity and price stay held); when the window ends
it is ``Ended`` and the instances terminate; giving back every instance early
(terminate-instances with ``reduce_capacity``) makes it ``Canceled``. Each
(instance type, region) can reserve up to its auction's capacity; reserved
instances come before spot bids, which share what is left (a reservation that
starts preempts the cheapest bids that no longer fit). The price of
one instance-hour is fixed when the reservation is placed (the reserved price of
``/v2/pricing/current`` at that moment); the reservation costs that price x
instances x hours of its window, and an extension buys the added hours at the price
of the moment it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from flow_notebook.sandbox.catalog import REGIONS, find_instance_type, reserved_price_cents
from flow_notebook.sandbox.errors import ApiError, Conflict, InvalidField, NotFound, Unsupported
from flow_notebook.sandbox.images import DEFAULT_IMAGE_VERSION, find_image_version
from flow_notebook.sandbox.instances import LaunchSpec
from flow_notebook.sandbox.lifecycle import InstanceRunner
from flow_notebook.sandbox.market import Market
from flow_notebook.sandbox.paging import owned, query_page
from flow_notebook.sandbox.state import (
    Grant,
    Instance,
    Project,
    Reservation,
    Store,
    User,
    new_fid,
    utcnow,
)

HORIZON = timedelta(days=90)
"""How far ahead capacity can be reserved (also the latest extension)."""
START_GRACE = timedelta(minutes=5)
"""A start this far in the past is taken as "now" (a client's clock and its request lag)."""
HOLDING = ("Pending", "Active", "Paused")
"""Statuses whose window holds capacity."""
STATUS_ORDER = {"Pending": 0, "Active": 1, "Paused": 2, "Canceled": 3, "Ended": 4}


class InsufficientCapacity(ApiError):
    """Not enough reservable capacity in the asked window (400)."""

    status = 400


def cost_cents(unit_cents: int, quantity: int, start: datetime, end: datetime) -> int:
    """Returns what ``quantity`` instances cost from ``start`` to ``end`` at ``unit_cents``/h."""
    seconds = max((end - start).total_seconds(), 0.0)
    return round(unit_cents * quantity * seconds / 3600)


class ReservationService:
    """Quotes, places, lists, changes and ends reservations; runs their instances.

    Args:
        store: The records.
        market: Source of each (type, region) capacity and price.
        runner: Boots and stops instances.
        spec_factory: Builds an instance's ``LaunchSpec`` from its reservation and record.
        check_project: Returns a user's project by fid or name (raises ``NotFound``).
        check_references: Raises ``InvalidField`` for unknown keys or volumes of a spec.
        clock: Current time (UTC), swappable in tests.
    """

    def __init__(
        self,
        store: Store,
        market: Market,
        runner: InstanceRunner,
        spec_factory: Callable[[Reservation, Instance], LaunchSpec],
        check_project: Callable[[User, str], Project],
        check_references: Callable[[Project, dict[str, Any]], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._market = market
        self._runner = runner
        self._spec_factory = spec_factory
        self._project = check_project
        self._check_references = check_references
        self._clock = clock

    # Quotes and capacity.

    def unit_cents(self, instance_type: str, region: str) -> int:
        """Returns today's reserved price (cents per instance-hour) of a type in a region.

        Raises:
            InvalidField: Unknown type or region.
        """
        itype, region = self._shape(instance_type, region, "query")
        return reserved_price_cents(self._market.auctions[(itype, region)].price_cents)

    def free(self, instance_type: str, region: str, start: datetime, end: datetime) -> int:
        """Returns how many instances can still be reserved for the whole of [start, end)."""
        with self._store.lock:
            capacity = self._market.auctions[(instance_type, region)].capacity
            held = self._held(instance_type, region)
            points = {start} | {t for r in held for t in (r.start_time, r.end_time)}
            worst = 0
            for point in points:
                if start <= point < end:
                    used = sum(
                        r.instance_quantity for r in held if r.start_time <= point < r.end_time
                    )
                    worst = max(worst, used)
            return max(capacity - worst, 0)

    def slots(
        self, instance_type: str, region: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, int]]:
        """Returns [start, end) cut where the free quantity changes, with each piece's free count.

        Raises:
            InvalidField: Unknown type or region.
        """
        itype, region = self._shape(instance_type, region, "query")
        with self._store.lock:
            held = self._held(itype, region)
            cuts = sorted(
                {start, end}
                | {t for r in held for t in (r.start_time, r.end_time) if start < t < end}
            )
            return [(a, b, self.free(itype, region, a, b)) for a, b in pairwise(cuts)]

    def _held(self, instance_type: str, region: str) -> list[Reservation]:
        return [
            r
            for r in self._store.reservations.values()
            if r.status in HOLDING and (r.instance_type, r.region) == (instance_type, region)
        ]

    # Reservations.

    def create(self, user: User, body: dict[str, Any]) -> Reservation:
        """Places a reservation for the window ``start_time``..``end_time``.

        Raises:
            NotFound: Unknown project.
            InvalidField: Unknown type, region, key or volume; a window that is empty, in
                the past or beyond the horizon; a quantity below 1.
            InsufficientCapacity: The window does not have the capacity.
        """
        with self._store.lock:
            project = self._project(user, body["project"])
            itype, region = self._shape(body["instance_type"], body["region"], "body")
            start, end = self.window(body["start_time"], body["end_time"])
            quantity = body["instance_quantity"]
            if quantity < 1:
                raise InvalidField(("body", "instance_quantity"), "Must be at least 1")
            spec = dict(body["launch_specification"])
            self._check_references(project, spec)
            self._check_capacity(itype, region, start, end, quantity)
            unit = self.unit_cents(itype, region)
            now = self._clock()
            reservation = Reservation(
                fid=new_fid("res"),
                name=body["name"],
                project=project.fid,
                created_by=user.fid,
                created_at=now,
                instance_type=itype,
                region=region,
                start_time=start,
                end_time=end,
                instance_quantity=quantity,
                unit_cents=unit,
                launch_specification=spec,
                seq=self._store.next_seq(),
            )
            reservation.grants.append(Grant(new_fid("grant"), start, end, quantity, unit))
            reservation.record("Placed", user_id=user.fid)
            reservation.record("Terms Set", user_id=user.fid, unit_price_cents=unit)
            self._store.reservations[reservation.fid] = reservation
            self.tick()
            return reservation

    def window(self, start_text: Any, end_text: Any) -> tuple[datetime, datetime]:
        """Returns the parsed window; a start up to ``START_GRACE`` ago becomes now.

        Raises:
            InvalidField: Unparsable times, end not after start, a start in the past, or a
                window beyond ``HORIZON``.
        """
        start = parse_time(start_text, ("body", "start_time"))
        end = parse_time(end_text, ("body", "end_time"))
        now = self._clock()
        if start < now - START_GRACE:
            raise InvalidField(
                ("body", "start_time"), f"Start time {start:%Y-%m-%dT%H:%M:%SZ} is in the past"
            )
        start = max(start, now)
        if end <= start:
            raise InvalidField(("body", "end_time"), "End time must be after the start time")
        if end > now + HORIZON:
            raise InvalidField(
                ("body", "end_time"), f"End time is more than {HORIZON.days} days ahead"
            )
        return start, end

    def get(self, user: User, fid: str) -> Reservation:
        """Returns reservation ``fid`` if it belongs to one of the user's projects.

        Raises:
            NotFound: Otherwise.
        """
        return owned(self._store.reservations, fid, user.projects, "Reservation")

    def list_page(self, user: User, query: dict[str, Any]) -> tuple[list[Reservation], str | None]:
        """Returns one page of a project's reservations matching ``query``.

        Raises:
            NotFound: Unknown project.
            InvalidField: A cursor this sandbox did not hand out.
        """
        with self._store.lock:
            self.tick()
            project = self._project(user, query["project"])
            wanted = {k: query.get(k) for k in ("instance_type", "region", "status")}
            found = [
                r
                for r in self._store.reservations.values()
                if r.project == project.fid
                and all(v is None or getattr(r, k) == v for k, v in wanted.items())
            ]
        by_status = query.get("sort_by") == "status"
        sort_key = (lambda r: STATUS_ORDER[r.status]) if by_status else (lambda r: r.seq)
        return query_page(found, sort_key=sort_key, query=query)

    def update(self, user: User, fid: str, body: dict[str, Any]) -> Reservation:
        """Pauses or resumes a reservation's instances, or changes its volumes.

        Raises:
            NotFound: Unknown reservation.
            InvalidField: Pausing one that is not active, or an unknown volume.
        """
        with self._store.lock:
            reservation = self.get(user, fid)
            if body.get("volumes") is not None:
                spec = dict(reservation.launch_specification, volumes=list(body["volumes"]))
                self._check_references(self._store.projects[reservation.project], spec)
                if reservation.status in ("Active", "Paused"):
                    self._detach_volumes(reservation)
                reservation.launch_specification = spec
                if reservation.status in ("Active", "Paused"):
                    self._attach_volumes(reservation)
            paused = body.get("paused")
            if paused is True and reservation.status != "Paused":
                if reservation.status != "Active":
                    raise InvalidField(
                        ("body", "paused"),
                        f"Only an active reservation pauses; it is {reservation.status}",
                    )
                reservation.status = "Paused"
                reservation.record("Paused", user_id=user.fid)
                for instance in self._instances(reservation, live=True):
                    self._runner.halt(instance.fid, "STATUS_PAUSED")
            elif paused is False and reservation.status == "Paused":
                reservation.status = "Active"
                reservation.record("Resumed", user_id=user.fid)
                for instance in self._instances(reservation, live=True):
                    self._boot(reservation, instance)
            self.tick()
            return reservation

    def extension_end(self, user: User, fid: str) -> tuple[datetime, bool]:
        """Returns the latest end the reservation can be extended to, and whether it can.

        Raises:
            NotFound: Unknown reservation.
        """
        with self._store.lock:
            reservation = self.get(user, fid)
            if reservation.status not in HOLDING:
                return reservation.end_time, False
            latest = self._latest_extension(reservation)
            return latest, latest > reservation.end_time

    def extend(self, user: User, fid: str, body: dict[str, Any]) -> Reservation:
        """Moves the end of the window later; the added hours are bought at today's price.

        Raises:
            NotFound: Unknown reservation.
            InvalidField: An end not after the current one, or a reservation that ended.
            InsufficientCapacity: The added hours do not have the capacity.
        """
        with self._store.lock:
            reservation = self.get(user, fid)
            end = parse_time(body["end_time"], ("body", "end_time"))
            if reservation.status not in HOLDING:
                raise InvalidField(
                    ("path", "reservation_fid"), f"Reservation {fid} is {reservation.status}"
                )
            if end <= reservation.end_time:
                raise InvalidField(
                    ("body", "end_time"), "New end time must be after the current end"
                )
            if end > self._latest_extension(reservation):
                raise InsufficientCapacity(
                    f"Reservation {fid} can be extended to "
                    f"{self._latest_extension(reservation):%Y-%m-%dT%H:%M:%SZ} at most"
                )
            unit = self.unit_cents(reservation.instance_type, reservation.region)
            grant = Grant(
                new_fid("grant"), reservation.end_time, end, reservation.instance_quantity, unit
            )
            reservation.grants.append(grant)
            reservation.end_time = end
            reservation.record("Terms Changed", user_id=user.fid, unit_price_cents=unit)
            return reservation

    def _latest_extension(self, reservation: Reservation) -> datetime:
        """Returns how far the window can grow before another reservation needs the capacity."""
        capacity = self._market.auctions[(reservation.instance_type, reservation.region)].capacity
        limit = self._clock() + HORIZON
        others = [
            r
            for r in self._held(reservation.instance_type, reservation.region)
            if r is not reservation
        ]
        for point in sorted({r.start_time for r in others if r.start_time >= reservation.end_time}):
            used = sum(r.instance_quantity for r in others if r.start_time <= point < r.end_time)
            if used + reservation.instance_quantity > capacity:
                return point
        return limit

    def terminate_instances(self, user: User, fid: str, instances: list[str]) -> list[str]:
        """Ends the named instances of the reservation and gives their capacity back.

        The reservation is ``Canceled`` when no instance is left. Returns the fids ended.

        Raises:
            NotFound: Unknown reservation, or an instance that is not one of its own.
        """
        with self._store.lock:
            reservation = self.get(user, fid)
            own = set(reservation.instances)
            for instance_fid in instances:
                if instance_fid not in own:
                    raise NotFound(f"Instance {instance_fid} not found in reservation {fid}")
            ended = []
            for instance_fid in instances:
                instance = self._store.instances[instance_fid]
                if instance.status not in ("STATUS_TERMINATED",):
                    self._runner.halt(instance_fid, "STATUS_TERMINATED")
                    reservation.instance_quantity -= 1
                    ended.append(instance_fid)
            if reservation.instance_quantity <= 0 and reservation.status in HOLDING:
                reservation.instance_quantity = 0
                self._finish(reservation, "Canceled", user.fid)
            return ended

    # Instances of reservations.

    def set_instance_running(self, instance: Instance, running: bool) -> str:
        """Starts or pauses one reserved instance; returns its status afterwards.

        An instance whose reservation is not active, or that is already in the asked
        state, is left as it is.
        """
        with self._store.lock:
            reservation = self._store.reservations.get(instance.reservation or "")
            if reservation is None or reservation.status != "Active":
                return instance.status
            if running and instance.status == "STATUS_PAUSED":
                self._boot(reservation, instance, "STATUS_CONFIRMED")
            elif not running and instance.status in (
                "STATUS_STARTING",
                "STATUS_RUNNING",
                "STATUS_NEW",
            ):
                self._runner.halt(instance.fid, "STATUS_STOPPING", then="STATUS_PAUSED")
            return instance.status

    def refresh_boot_disk(self, user: User, fid: str, image_version: str | None) -> Instance:
        """Recreates the disk of a paused reserved instance (from ``image_version`` if named).

        Raises:
            NotFound: Unknown instance.
            Unsupported: A spot instance.
            InvalidField: An unknown image version.
            Conflict: The instance is not paused.
        """
        with self._store.lock:
            instance = self._store.instances.get(fid)
            if instance is None or instance.project not in user.projects:
                raise NotFound(f"Instance {fid} not found")
            if instance.reservation is None:
                raise Unsupported("Only reserved instances support refreshing the boot disk")
            if image_version is not None and find_image_version(image_version) is None:
                raise InvalidField(("body", "image_version"), f"Unknown image {image_version}")
            if instance.status != "STATUS_PAUSED":
                raise Conflict(f"Instance {fid} is {instance.status}; pause it first")
        self._runner.erase(fid)
        with self._store.lock:
            instance.image_version = (
                image_version or instance.image_version or DEFAULT_IMAGE_VERSION
            )
            return instance

    def tick(self) -> None:
        """Starts reservations whose window began and ends those whose window is over."""
        with self._store.lock:
            now = self._clock()
            for reservation in self._store.reservations.values():
                if reservation.status == "Pending" and reservation.start_time <= now:
                    self._activate(reservation)
                if reservation.status in ("Active", "Paused") and reservation.end_time <= now:
                    self._finish(reservation, "Ended", None)

    def _activate(self, reservation: Reservation) -> None:
        reservation.status = "Active"
        reservation.record("Active")
        for index in range(reservation.instance_quantity):
            instance = Instance(
                fid=new_fid("inst"),
                name=f"{reservation.name}-{index}",
                project=reservation.project,
                created_at=self._clock(),
                created_by=reservation.created_by,
                instance_type=reservation.instance_type,
                region=reservation.region,
                bid=None,
                reservation=reservation.fid,
                seq=self._store.next_seq(),
            )
            self._store.instances[instance.fid] = instance
            reservation.instances.append(instance.fid)
        self._attach_volumes(reservation)
        for instance in self._instances(reservation):
            self._boot(reservation, instance)

    def _finish(self, reservation: Reservation, status: str, by: str | None) -> None:
        reservation.status = status
        reservation.deactivated_at = self._clock()
        reservation.record(status, user_id=by)
        for instance in self._instances(reservation, live=True):
            self._runner.halt(instance.fid, "STATUS_TERMINATED")
        self._detach_volumes(reservation)

    def _attach_volumes(self, reservation: Reservation) -> None:
        """Lists the reservation on its volumes, mounted on each of its instances."""
        for volume_fid in reservation.launch_specification.get("volumes", []):
            volume = self._store.volumes.get(volume_fid)
            if volume is None:
                continue
            if reservation.fid not in volume.reservations:
                volume.reservations.append(reservation.fid)
            for fid in reservation.instances:
                volume.attachments[fid] = f"/mnt/volumes/{volume.fid}"

    def _detach_volumes(self, reservation: Reservation) -> None:
        for volume in self._store.volumes.values():
            if reservation.fid in volume.reservations:
                volume.reservations.remove(reservation.fid)
            for fid in reservation.instances:
                volume.attachments.pop(fid, None)

    def _boot(
        self, reservation: Reservation, instance: Instance, status: str = "STATUS_NEW"
    ) -> None:
        self._runner.boot(
            instance.fid, lambda: self._spec_factory(reservation, instance), status=status
        )

    def _instances(self, reservation: Reservation, live: bool = False) -> list[Instance]:
        found = [
            self._store.instances[f] for f in reservation.instances if f in self._store.instances
        ]
        if live:
            found = [i for i in found if i.status != "STATUS_TERMINATED"]
        return found

    def _shape(self, instance_type: str, region: str, where: str) -> tuple[str, str]:
        itype = find_instance_type(instance_type)
        if itype is None:
            raise InvalidField((where, "instance_type"), f"Unknown instance type {instance_type}")
        if region not in REGIONS or (itype.fid, region) not in self._market.auctions:
            raise InvalidField((where, "region"), f"Unknown region {region}")
        return itype.fid, region

    def _check_capacity(
        self, instance_type: str, region: str, start: datetime, end: datetime, quantity: int
    ) -> None:
        free = self.free(instance_type, region, start, end)
        if quantity > free:
            raise InsufficientCapacity(
                f"Not enough capacity: {free} {instance_type} instances free in {region} "
                f"for the whole window, {quantity} asked"
            )


def parse_time(value: Any, loc: tuple[str, ...]) -> datetime:
    """Returns an aware datetime from an ISO 8601 string (or a datetime).

    Raises:
        InvalidField: When it is not an ISO 8601 time with a time zone.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidField(loc, "Not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise InvalidField(loc, "Time needs a time zone")
    return parsed
