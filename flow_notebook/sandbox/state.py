"""In-memory records of the sandbox: users, projects, keys, volumes, bids, instances.

Every record is a plain dataclass. ``Store`` holds them behind one re-entrant lock,
which callers take (``with store.lock:``) around any read-modify-write; the HTTP
handlers and the market tick run on different threads.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def utcnow() -> datetime:
    """Returns the current time in UTC."""
    return datetime.now(timezone.utc)


def new_fid(prefix: str) -> str:
    """Returns a fresh id like ``bid_3kf9a0c1d2e4``."""
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass
class User:
    """An account; ``api_key`` is what it sends as the Bearer token."""

    fid: str
    email: str
    api_key: str = field(repr=False)  # a secret: never in a repr or log line
    projects: list[str] = field(default_factory=list)
    role: str = "admin"


@dataclass
class Project:
    """A project; ``quotas`` maps an instance type fid (or ``"storage"``) to its limit."""

    fid: str
    name: str
    created_at: datetime
    quotas: dict[str, int]


@dataclass
class SshKey:
    """A registered public key."""

    fid: str
    name: str
    project: str
    public_key: str
    created_at: datetime
    required: bool = False


@dataclass
class Volume:
    """A volume: a directory under the sandbox root that outlives bids."""

    fid: str
    name: str
    region: str
    created_at: datetime
    capacity_gb: int
    project: str
    interface: str
    path: Path
    deleted_at: datetime | None = None
    bids: list[str] = field(default_factory=list)
    reservations: list[str] = field(default_factory=list)
    attachments: dict[str, str] = field(default_factory=dict)


@dataclass
class Instance:
    """One instance of a bid."""

    fid: str
    name: str
    project: str
    created_at: datetime
    created_by: str
    instance_type: str
    region: str
    bid: str | None
    seq: int
    status: str = "STATUS_NEW"
    ssh_destination: str | None = None
    private_ip: str | None = None
    end_time: datetime | None = None
    reservation: str | None = None
    image_version: str | None = None
    status_history: list[tuple[datetime, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.status_history:
            self.status_history.append((self.created_at, self.status))

    def __setattr__(self, name: str, value: Any) -> None:
        # Every status change is recorded where it happens, for /v2/instances/status/history.
        if name == "status" and "status_history" in self.__dict__ and self.status != value:
            self.status_history.append((utcnow(), value))
        super().__setattr__(name, value)


@dataclass
class BidEvent:
    """One entry of a bid's history (``BidHistoryEventModel``)."""

    timestamp: datetime
    event_type: str
    limit_price: str | None = None
    user_id: str | None = None
    memory_gb: int | None = None
    attached: str | None = None
    removed: str | None = None


@dataclass(kw_only=True)
class Order:
    """What a bid and a reservation share: who placed it, for which instances, and its state."""

    fid: str
    name: str
    project: str
    created_by: str
    created_at: datetime
    instance_quantity: int
    instance_type: str
    region: str
    launch_specification: dict[str, Any]
    seq: int
    status: str
    deactivated_at: datetime | None = None
    instances: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Bid(Order):
    """A spot bid; ``limit_cents`` is its limit price in cents."""

    limit_cents: int
    status: str = "Open"
    preempt_at: float | None = None
    memory_gb: int | None = None
    history: list[BidEvent] = field(default_factory=list)

    def record(self, event_type: str, at: datetime | None = None, **fields: Any) -> None:
        """Appends a ``BidEvent`` stamped ``at`` (default now); ``fields`` are its others."""
        self.history.append(BidEvent(at or utcnow(), event_type, **fields))


@dataclass
class ReservationEvent:
    """One entry of a reservation's history (``ReservationHistoryEventModel``)."""

    timestamp: datetime
    event_type: str
    user_id: str | None = None
    unit_price_cents: int | None = None


@dataclass
class Grant:
    """A stretch of reserved capacity paid for (the window at creation, then each extension)."""

    fid: str
    starts_at: datetime
    ends_at: datetime
    quantity: int
    unit_cents: int


@dataclass(kw_only=True)
class Reservation(Order):
    """Capacity held for a window at a price fixed when it was placed.

    ``unit_cents`` is the price of one instance-hour; the reservation costs
    ``unit_cents`` x ``instance_quantity`` x the window's hours (its ``grants``).
    """

    start_time: datetime
    end_time: datetime
    unit_cents: int
    status: str = "Pending"
    grants: list[Grant] = field(default_factory=list)
    history: list[ReservationEvent] = field(default_factory=list)

    def record(self, event_type: str, **fields: Any) -> None:
        """Appends a ``ReservationEvent`` stamped now; ``fields`` are its others."""
        self.history.append(ReservationEvent(utcnow(), event_type, **fields))


@dataclass
class LifecycleScript:
    """A stored script; ``token`` makes its unauthenticated ``content_url`` unguessable."""

    fid: str
    name: str
    description: str
    content: str = field(repr=False)
    project: str
    scope: str
    created_at: datetime
    created_by: str
    last_modified_at: datetime
    last_modified_by: str
    token: str = field(repr=False)
    seq: int = 0


@dataclass
class KubernetesCluster:
    """A cluster record; the sandbox runs no Kubernetes, so it stays ``Pending``."""

    fid: str
    name: str
    project: str
    region: str
    instance_type: str
    created_at: datetime
    ssh_keys: list[str]
    k8s_version: str
    user_fid: str
    image_version: str | None = None
    status: str = "Pending"
    deleted_at: datetime | None = None


class Store:
    """All records, keyed by fid, in creation order.

    Attributes:
        lock: Taken around every read-modify-write of the records.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.ssh_keys: dict[str, SshKey] = {}
        self.volumes: dict[str, Volume] = {}
        self.bids: dict[str, Bid] = {}
        self.instances: dict[str, Instance] = {}
        self.reservations: dict[str, Reservation] = {}
        self.lifecycle_scripts: dict[str, LifecycleScript] = {}
        self.kubernetes_clusters: dict[str, KubernetesCluster] = {}
        self.registries: dict[str, str] = {}
        """Private image registries: host -> SHA-256 of ``user:password``."""
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        """Returns a number larger than every earlier one (creation order)."""
        return next(self._seq)

    def user_by_key(self, api_key: str) -> User | None:
        """Returns the user whose API key is ``api_key``, or ``None``."""
        for user in self.users.values():
            if secrets.compare_digest(user.api_key, api_key):
                return user
        return None

    def project_for(self, user: User, project: str) -> Project | None:
        """Returns the project ``project`` (fid or name) if ``user`` may use it."""
        for fid in user.projects:
            candidate = self.projects[fid]
            if project in (candidate.fid, candidate.name):
                return candidate
        return None

    def bid_instances(self, bid: Bid) -> list[Instance]:
        """Returns the instance records of ``bid``."""
        return [self.instances[fid] for fid in bid.instances if fid in self.instances]
