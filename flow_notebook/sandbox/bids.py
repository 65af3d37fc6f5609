"""Bid and instance operations behind ``/v2/spot/bids`` and ``/v2/instances``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flow_notebook.sandbox.catalog import (
    INSTANCE_TYPES,
    REGIONS,
    find_instance_type,
    format_price,
    parse_price,
)
from flow_notebook.sandbox.errors import InvalidField, NotFound, QuotaExceeded
from flow_notebook.sandbox.market import ACTIVE, Market
from flow_notebook.sandbox.paging import owned, query_page, query_page_in_creation_order
from flow_notebook.sandbox.state import Bid, Instance, Project, Store, User, new_fid, utcnow

LAUNCH_DEFAULTS: dict[str, Any] = {
    "startup_script": None,
    "kubernetes_cluster": None,
    "image_version": None,
    "memory_gb": None,
}
"""What a ``LaunchSpecificationModel`` field left out means (answers list every field)."""
STATUS_ORDER = {"Open": 0, "Allocated": 1, "Preempting": 2, "Paused": 3, "Terminated": 4}


class BidService:
    """Places, lists, changes and cancels bids; lists instances.

    Args:
        store: The records.
        market: Allocation and preemption rules.
    """

    def __init__(self, store: Store, market: Market) -> None:
        self._store = store
        self._market = market

    def project(self, user: User, project: str) -> Project:
        """Returns the project ``project`` of ``user``.

        Raises:
            NotFound: When the user has no such project.
        """
        found = self._store.project_for(user, project)
        if found is None:
            raise NotFound(f"Project {project} not found")
        return found

    def create(self, user: User, request: dict[str, Any]) -> Bid:
        """Places a bid; it allocates at once when price and capacity allow.

        Args:
            user: Who places it.
            request: A ``CreateBidRequest`` body the spec validation accepted.

        Raises:
            NotFound: Unknown project.
            InvalidField: Unknown type, region, key or volume; malformed price or quantity.
            QuotaExceeded: The project's instance quota for the type would be exceeded.
        """
        with self._store.lock:
            project = self.project(user, request["project"])
            itype = find_instance_type(request["instance_type"])
            if itype is None:
                raise InvalidField(("body", "instance_type"), "Unknown instance type")
            region = request["region"]
            if region not in REGIONS:
                raise InvalidField(("body", "region"), f"Unknown region {region}")
            if (itype.fid, region) not in self._market.auctions:
                raise InvalidField(("body", "region"), f"{itype.name} is not offered in {region}")
            cents = _price(request["limit_price"], ("body", "limit_price"))
            quantity = request["instance_quantity"]
            if quantity < 1:
                raise InvalidField(("body", "instance_quantity"), "Must be at least 1")
            spec = {**LAUNCH_DEFAULTS, **request["launch_specification"]}
            self.check_references(project, spec)
            self._check_quota(project, itype.fid, quantity)
            bid = Bid(
                fid=new_fid("bid"),
                name=request["name"],
                project=project.fid,
                created_by=user.fid,
                created_at=utcnow(),
                limit_cents=cents,
                instance_quantity=quantity,
                instance_type=itype.fid,
                region=region,
                launch_specification=spec,
                seq=self._store.next_seq(),
            )
            bid.record("Placed", limit_price=format_price(cents), user_id=user.fid)
            self._store.bids[bid.fid] = bid
            self._market.tick()
            return bid

    def get(self, user: User, fid: str) -> Bid:
        """Returns bid ``fid`` if it belongs to one of the user's projects.

        Raises:
            NotFound: Otherwise.
        """
        return owned(self._store.bids, fid, user.projects, "Bid")

    def list_page(self, user: User, query: dict[str, Any]) -> tuple[list[Bid], str | None]:
        """Returns one page of the user's bids matching ``query`` (the GET parameters).

        Raises:
            NotFound: Unknown project.
            InvalidField: A cursor this sandbox did not hand out.
        """
        with self._store.lock:
            projects = set(user.projects)
            if query.get("project"):
                projects = {self.project(user, query["project"]).fid}
            wanted = {
                "instance_type": query.get("instance_type"),
                "region": query.get("region"),
                "status": query.get("status"),
                "name": query.get("name"),
            }
            filters = {k: v for k, v in wanted.items() if v is not None}

            def keep(bid: Bid) -> bool:
                return bid.project in projects and all(
                    getattr(bid, k) == v for k, v in filters.items()
                )

            if query.get("sort_by") != "status":
                # Bids are stored in creation order: page without sorting them all.
                stored = list(self._store.bids.values())
                return query_page_in_creation_order(stored, keep=keep, query=query)
            bids = [b for b in self._store.bids.values() if keep(b)]
        return query_page(bids, sort_key=lambda b: STATUS_ORDER[b.status], query=query)

    def update(self, user: User, fid: str, request: dict[str, Any]) -> Bid:
        """Re-prices, pauses/resumes, or changes the volumes or memory of a bid.

        Each change is recorded in the bid's history.

        Args:
            user: Who changes it.
            fid: The bid.
            request: An ``UpdateBidRequest`` body; fields absent or null stay as they are.

        Raises:
            NotFound: Unknown bid.
            InvalidField: Malformed price or unknown volume.
        """
        with self._store.lock:
            bid = self.get(user, fid)
            if request.get("limit_price") is not None:
                cents = _price(request["limit_price"], ("body", "limit_price"))
                if cents != bid.limit_cents:
                    bid.limit_cents = cents
                    bid.record(
                        "Limit Price Changed", limit_price=format_price(cents), user_id=user.fid
                    )
            if request.get("volumes") is not None:
                self._change_volumes(user, bid, list(request["volumes"]))
            memory_gb = request.get("memory_gb")
            if memory_gb is not None and memory_gb != bid.memory_gb:
                bid.memory_gb = memory_gb
                bid.record("Memory Adjusted", memory_gb=memory_gb, user_id=user.fid)
            if request.get("paused") is True:
                self._market.pause(bid, by=user.fid)
            elif request.get("paused") is False:
                self._market.resume(bid, by=user.fid)
            self._market.tick()
            return bid

    def cancel(self, user: User, fid: str) -> None:
        """Terminates a bid and its instances (idempotent).

        Raises:
            NotFound: Unknown bid.
        """
        self._market.terminate(self.get(user, fid), by=user.fid)

    def instance(self, user: User, fid: str) -> Instance:
        """Returns instance ``fid`` if it belongs to one of the user's projects.

        Raises:
            NotFound: Otherwise.
        """
        return owned(self._store.instances, fid, user.projects, "Instance")

    def instances(self, user: User, query: dict[str, Any]) -> tuple[list[Instance], str | None]:
        """Returns one page of a project's instances matching ``query``.

        Raises:
            NotFound: Unknown project.
            InvalidField: A cursor this sandbox did not hand out.
        """
        with self._store.lock:
            project = self.project(user, query["project"])
            statuses = set(query.get("status_in") or [])
            bid_fids = set(query.get("bid_fid_in") or [])
            reservation_fids = set(query.get("reservation_fid_in") or [])
            order_types = set(query.get("order_type_in") or [])
            found = [
                i
                for i in self._candidate_instances(bid_fids)
                if i.project == project.fid
                and (not statuses or i.status in statuses)
                and (not bid_fids or i.bid in bid_fids)
                and (not reservation_fids or i.reservation in reservation_fids)
                and (not order_types or _order_type(i) in order_types)
                and query.get("instance_type") in (None, i.instance_type)
                and query.get("region") in (None, i.region)
            ]
        sort_by = query.get("sort_by") or "created_at"
        keys = {
            "created_at": lambda i: i.seq,
            "instance_status": lambda i: i.status,
            "instance_type_fid": lambda i: i.instance_type,
        }
        return query_page(found, sort_key=keys[sort_by], query=query)

    def _candidate_instances(self, bid_fids: set[str]) -> list[Instance]:
        # A bid lists its instances: with bid_fid_in, look only at those, not at all.
        if not bid_fids:
            return list(self._store.instances.values())
        store = self._store
        return [
            store.instances[fid]
            for bid_fid in bid_fids
            if bid_fid in store.bids
            for fid in store.bids[bid_fid].instances
            if fid in store.instances
        ]

    def seed(self, project: Project, user: User, count: int, status: str) -> int:
        """Adds ``count`` historical bids (one instance each, no processes); returns count."""
        with self._store.lock:
            start = utcnow() - timedelta(seconds=count)
            for n in range(count):
                created = start + timedelta(seconds=n)
                bid = Bid(
                    fid=new_fid("bid"),
                    name=f"seed-{n}",
                    project=project.fid,
                    created_by=user.fid,
                    created_at=created,
                    limit_cents=1,
                    instance_quantity=1,
                    instance_type=INSTANCE_TYPES[0].fid,
                    region=REGIONS[0],
                    launch_specification={"volumes": [], "ssh_keys": []},
                    seq=self._store.next_seq(),
                    status=status,
                    deactivated_at=created if status == "Terminated" else None,
                )
                bid.record("Placed", at=created, limit_price=format_price(1), user_id=user.fid)
                if status != "Open":
                    bid.record(status, at=created)
                inst_status = {"Terminated": "STATUS_TERMINATED", "Paused": "STATUS_PAUSED"}
                instance = Instance(
                    fid=new_fid("inst"),
                    name=f"seed-{n}-0",
                    project=project.fid,
                    created_at=created,
                    created_by=user.fid,
                    instance_type=bid.instance_type,
                    region=bid.region,
                    bid=bid.fid,
                    seq=self._store.next_seq(),
                    status=inst_status.get(status, "STATUS_NEW"),
                    end_time=created if status == "Terminated" else None,
                )
                if status != "Open":
                    bid.instances.append(instance.fid)
                    self._store.instances[instance.fid] = instance
                self._store.bids[bid.fid] = bid
        return count

    def _change_volumes(self, user: User, bid: Bid, volumes: list[str]) -> None:
        old = list(bid.launch_specification.get("volumes", []))
        spec = dict(bid.launch_specification, volumes=volumes)
        self.check_references(self._store.projects[bid.project], spec)
        bid.launch_specification = spec
        for fid in [v for v in volumes if v not in old]:
            bid.record("Volumes Attached", attached=fid, user_id=user.fid)
        for fid in [v for v in old if v not in volumes]:
            bid.record("Volumes Removed", removed=fid, user_id=user.fid)

    def check_references(self, project: Project, spec: dict[str, Any]) -> None:
        """Checks that every SSH key and volume a launch specification names is the project's.

        Raises:
            InvalidField: For the first unknown key or volume.
        """
        for key_fid in spec.get("ssh_keys", []):
            key = self._store.ssh_keys.get(key_fid)
            if key is None or key.project != project.fid:
                raise InvalidField(
                    ("body", "launch_specification", "ssh_keys"), f"Unknown SSH key {key_fid}"
                )
        for volume_fid in spec.get("volumes", []):
            volume = self._store.volumes.get(volume_fid)
            if volume is None or volume.project != project.fid or volume.deleted_at:
                raise InvalidField(
                    ("body", "launch_specification", "volumes"), f"Unknown volume {volume_fid}"
                )

    def _check_quota(self, project: Project, itype: str, quantity: int) -> None:
        limit = project.quotas.get(itype)
        used = sum(
            b.instance_quantity
            for b in self._store.bids.values()
            if b.project == project.fid and b.instance_type == itype and b.status in ACTIVE
        )
        if limit is not None and used + quantity > limit:
            raise QuotaExceeded(
                f"Quota exceeded: {used} of {limit} {itype} instances in use, {quantity} asked"
            )


def _order_type(instance: Instance) -> str:
    return "Reservation" if instance.reservation else "Bid"


def _price(text: str, loc: tuple[str, ...]) -> int:
    cents = parse_price(text)
    if cents is None:
        raise InvalidField(loc, "Price must look like $25.60")
    return cents
