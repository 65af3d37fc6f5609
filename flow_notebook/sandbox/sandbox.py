"""The sandbox as one object: records, market, instance runner and services, wired up."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flow_notebook.sandbox.apikeys import ApiKeyService
from flow_notebook.sandbox.bids import BidService
from flow_notebook.sandbox.catalog import INSTANCE_TYPES
from flow_notebook.sandbox.errors import NotFound
from flow_notebook.sandbox.faults import FaultInjector
from flow_notebook.sandbox.instances import Launcher, LaunchSpec
from flow_notebook.sandbox.lifecycle import InstanceRunner
from flow_notebook.sandbox.market import Market
from flow_notebook.sandbox.reservations import ReservationService
from flow_notebook.sandbox.resources import STORAGE_QUOTA, ResourceService
from flow_notebook.sandbox.state import (
    Bid,
    Instance,
    Project,
    Reservation,
    Store,
    User,
    new_fid,
    utcnow,
)

DEFAULT_INSTANCE_QUOTA = 16
DEFAULT_STORAGE_QUOTA_GB = 10_000


@dataclass(frozen=True)
class Account:
    """The credentials the sandbox prints at start."""

    api_key: str
    project: str
    user: str


class Sandbox:
    """Everything the HTTP routes need.

    Args:
        root: State directory (instances and volumes live below it).
        launcher: Starts instance processes (real sshd or virtual).
        unreachable_status: Instance status when the launcher cannot make instances
            reachable.
        seed: Seed of the fault injector's random numbers.
        preempt_delay: Seconds a preempted bid stays ``Preempting``.

    Attributes:
        account: The default user's API key and first project.
        reason_unreachable: Why instances cannot be reached, or ``None``.
    """

    def __init__(
        self,
        root: Path,
        launcher: Launcher,
        *,
        unreachable_status: str = "STATUS_RUNNING",
        reason_unreachable: str | None = None,
        seed: int = 0,
        preempt_delay: float = 0.5,
    ) -> None:
        self.root = root
        self.store = Store()
        self.runner = InstanceRunner(self.store, launcher, unreachable_status)
        self.market = Market(
            self.store, self.runner, self._launch_spec, preempt_delay=preempt_delay
        )
        self.bids = BidService(self.store, self.market)
        self.reservations = ReservationService(
            self.store,
            self.market,
            self.runner,
            self._launch_spec,
            self.bids.project,
            self.bids.check_references,
        )
        self.market.followers.append(self.reservations.tick)
        self.resources = ResourceService(self.store, root / "volumes")
        self.faults = FaultInjector(seed)
        self.api_keys = ApiKeyService()
        self.reason_unreachable = reason_unreachable
        self.account = self._create_accounts()

    def start(self) -> None:
        """Starts the market's background ticker."""
        self.market.start()

    def close(self) -> None:
        """Stops the ticker and every instance (blocks until their processes are gone)."""
        self.market.stop()
        self.runner.shutdown()

    def user(self, api_key: str) -> User | None:
        """Returns the user of ``api_key`` (own key or an active API key), or ``None``."""
        user = self.store.user_by_key(api_key)
        if user is None:
            fid = self.api_keys.user_of(api_key)
            user = self.store.users.get(fid) if fid else None
        return user

    def add_user(
        self,
        email: str,
        project_name: str = "sandbox",
        *,
        role: str = "admin",
        projects: list[str] | None = None,
    ) -> Account:
        """Adds a user of the sandbox's one organization; returns its credentials.

        Args:
            email: The user's email; its local part is the user name.
            project_name: Name of the project made for the user when ``projects`` is empty.
            role: ``"admin"`` (sees every user as a teammate) or ``"member"``.
            projects: Fids of existing projects the user joins instead.

        Raises:
            NotFound: When a project of ``projects`` does not exist.
        """
        with self.store.lock:
            for fid in projects or []:
                if fid not in self.store.projects:
                    raise NotFound(f"Project {fid} not found")
            if not projects:
                quota, storage = DEFAULT_INSTANCE_QUOTA, DEFAULT_STORAGE_QUOTA_GB
                projects = [self._add_project(project_name, quota, storage).fid]
            key = f"fkey_{secrets.token_hex(20)}"
            user = User(new_fid("user"), email, key, list(projects), role)
            self.store.users[user.fid] = user
        return Account(user.api_key, projects[0], user.fid)

    def teammates(self, user: User) -> list[tuple[User, list[str]]]:
        """Returns the users ``user`` may see, each with the project fids it may see.

        An admin sees every user and all their projects; a member sees the users who
        share a project with it (itself included), and only the shared projects.
        """
        with self.store.lock:
            if user.role == "admin":
                return [(u, list(u.projects)) for u in self.store.users.values()]
            found = []
            for other in self.store.users.values():
                shared = [p for p in other.projects if p in user.projects]
                if shared:
                    found.append((other, shared))
            return found

    def _create_accounts(self) -> Account:
        account = self.add_user("dev@sandbox.invalid")
        # A second, small project lets callers test project selection and quotas.
        small = self._add_project("sandbox-small", 2, 100)
        self.store.users[account.user].projects.append(small.fid)
        return account

    def _add_project(self, name: str, quota: int, storage_gb: int) -> Project:
        quotas = {itype.fid: quota for itype in INSTANCE_TYPES}
        quotas[STORAGE_QUOTA] = storage_gb
        project = Project(new_fid("proj"), name, utcnow(), quotas)
        with self.store.lock:
            self.store.projects[project.fid] = project
        return project

    def price_periods(self, instance: Instance) -> list[tuple[datetime, datetime | None, int]]:
        """Returns the instance's price periods: (start, end or ``None`` if open, cents/hour).

        A spot instance pays its auction's price from each change to the next while it
        lives; a reserved one each stretch of its reservation at that stretch's price.
        Caller holds ``store.lock``.
        """
        alive_from, alive_to = instance.created_at, instance.end_time
        changes: list[tuple[datetime, datetime | None, int]]
        if instance.reservation is not None:
            reservation = self.store.reservations[instance.reservation]
            changes = [(g.starts_at, g.ends_at, g.unit_cents) for g in reservation.grants]
        else:
            auction = self.market.auctions.get((instance.instance_type, instance.region))
            history = auction.history if auction else []
            ends = [t for t, _ in history[1:]] + [None]
            changes = [(t, end, cents) for (t, cents), end in zip(history, ends, strict=True)]
        periods: list[tuple[datetime, datetime | None, int]] = []
        for start, end, cents in changes:
            start = max(start, alive_from)
            if alive_to is not None:
                end = alive_to if end is None else min(end, alive_to)
            if end is None or end > start:
                periods.append((start, end, cents))
        return periods

    def _launch_spec(self, order: Bid | Reservation, instance: Instance) -> LaunchSpec:
        """Returns what ``instance`` of a bid or a reservation (its ``order``) boots with."""
        spec = order.launch_specification
        keys = [
            self.store.ssh_keys[k] for k in spec.get("ssh_keys", []) if k in self.store.ssh_keys
        ]
        keys += [
            k
            for k in self.store.ssh_keys.values()
            if k.required and k.project == order.project and k not in keys
        ]
        volumes = [
            (v, self.store.volumes[v].path)
            for v in spec.get("volumes", [])
            if v in self.store.volumes and not self.store.volumes[v].deleted_at
        ]
        env = {
            "MITHRIL_INSTANCE_FID": instance.fid,
            "MITHRIL_INSTANCE_NAME": instance.name,
            "MITHRIL_PROJECT": order.project,
            "MITHRIL_INSTANCE_TYPE": order.instance_type,
            "MITHRIL_REGION": order.region,
        }
        order_variable = (
            "MITHRIL_RESERVATION_FID" if isinstance(order, Reservation) else "MITHRIL_BID_FID"
        )
        env[order_variable] = order.fid
        return LaunchSpec(
            instance.fid,
            env,
            [k.public_key for k in keys],
            spec.get("startup_script"),
            volumes,
            registries=dict(self.store.registries),
        )
